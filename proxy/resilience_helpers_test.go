package proxy

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// testOrigin is a small loopback origin the resilience tests can kill and
// restart on the same port: kill closes the listener and every open
// connection at once (a crashed process), start listens again.
type testOrigin struct {
	t        testing.TB
	addr     string
	requests atomic.Int64
	status   atomic.Int64 // answer status (default 200)
	health   atomic.Int64 // /health status (default 200)
	delay    atomic.Int64 // ns to wait before answering
	hang     atomic.Bool  // never answer (until killed)

	mu    sync.Mutex
	ln    net.Listener
	srv   *fasthttp.Server
	conns map[net.Conn]bool
	done  chan struct{}
}

func newTestOrigin(t testing.TB) *testOrigin {
	t.Helper()
	o := &testOrigin{t: t}
	o.status.Store(200)
	o.health.Store(200)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.addr = ln.Addr().String()
	o.serve(ln)
	t.Cleanup(o.kill)
	return o
}

func (o *testOrigin) url() string { return "http://" + o.addr }

func (o *testOrigin) serve(ln net.Listener) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ln = ln
	o.conns = map[net.Conn]bool{}
	o.done = make(chan struct{})
	o.srv = &fasthttp.Server{
		Handler: o.handle,
		ConnState: func(c net.Conn, st fasthttp.ConnState) {
			o.mu.Lock()
			defer o.mu.Unlock()
			switch st {
			case fasthttp.StateNew:
				o.conns[c] = true
			case fasthttp.StateClosed, fasthttp.StateHijacked:
				delete(o.conns, c)
			}
		},
	}
	srv, done := o.srv, o.done
	go func() { _ = srv.Serve(ln); close(done) }()
}

func (o *testOrigin) handle(ctx *fasthttp.RequestCtx) {
	if string(ctx.Path()) == "/health" {
		ctx.SetStatusCode(int(o.health.Load()))
		return
	}
	o.requests.Add(1)
	if o.hang.Load() {
		time.Sleep(time.Hour) // ends when the test kills the connection... or never: used with short timeouts
	}
	if d := o.delay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	ctx.SetStatusCode(int(o.status.Load()))
	ctx.SetBodyString(`{"origin":"` + o.addr + `"}`)
}

// kill stops the origin like a crash: no new connections, open ones reset.
func (o *testOrigin) kill() {
	o.mu.Lock()
	ln, conns, done := o.ln, o.conns, o.done
	o.ln = nil
	o.mu.Unlock()
	if ln == nil {
		return
	}
	_ = ln.Close()
	o.mu.Lock()
	for c := range conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, as a dead process's kernel would
		}
		_ = c.Close()
	}
	o.mu.Unlock()
	<-done
}

// restart listens on the same address again.
func (o *testOrigin) restart() {
	o.t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 100; i++ {
		if ln, err = net.Listen("tcp", o.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		o.t.Fatal(err)
	}
	o.serve(ln)
}

// refusingAddr is a loopback address nothing listens on: connects are refused.
func refusingAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	_ = ln.Close()
	return a
}

// resilienceGateway starts a gateway on cfg with {{A}}, {{B}}, ... replaced
// by the given URLs, and stops its health checkers at the end.
func resilienceGateway(t testing.TB, cfg string, opts Options, urls ...string) *gateway {
	t.Helper()
	for i, u := range urls {
		cfg = strings.ReplaceAll(cfg, "{{"+string(rune('A'+i))+"}}", u)
	}
	g := startGatewayWith(t, cfg, opts)
	t.Cleanup(g.srv.ups.stopChecks)
	return g
}

// get sends GET uri and returns the status and body (no fatal on error:
// load tests count them).
func (g *gateway) get(uri string, hdr map[string]string) (int, []byte, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + g.addr + uri)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if err := g.client.Do(req, resp); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode(), append([]byte(nil), resp.Body()...), nil
}

// attemptsTo is the target's attempt counter.
func (g *gateway) attemptsTo(addr string) uint64 {
	if t := g.srv.ups.reg.lookup(addr); t != nil {
		return t.m.attempts.Get()
	}
	return 0
}

func dialTimeout(addr string, d time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, d)
}

func newTestClient(addr string) *fasthttp.HostClient {
	return &fasthttp.HostClient{Addr: addr, MaxConns: 64, ReadTimeout: 10 * time.Second}
}
