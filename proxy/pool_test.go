package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/policy"
	"github.com/sluicegw/sluice/store/ratelimit"
	"github.com/valyala/fasthttp"
)

// scriptedOrigin is a real loopback upstream whose answers are scripted
// bytes: for every request read on a connection, answer returns what to
// write and whether to close the connection afterwards. It is how the
// HTTP/1.1 client in pool.go is tested against upstreams that misbehave.
type scriptedOrigin struct {
	ln       net.Listener
	addr     string
	accepted atomic.Int32
	requests atomic.Int32
	answer   func(req *fasthttp.Request) (raw string, closeAfter bool)
	mu       sync.Mutex
	conns    []net.Conn
}

func startScripted(t testing.TB, answer func(req *fasthttp.Request) (string, bool)) *scriptedOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &scriptedOrigin{ln: ln, addr: ln.Addr().String(), answer: answer}
	go o.serve()
	t.Cleanup(o.close)
	return o
}

func (o *scriptedOrigin) serve() {
	for {
		c, err := o.ln.Accept()
		if err != nil {
			return
		}
		o.accepted.Add(1)
		o.mu.Lock()
		o.conns = append(o.conns, c)
		o.mu.Unlock()
		go o.handle(c)
	}
}

func (o *scriptedOrigin) handle(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	var req fasthttp.Request
	for {
		req.Reset()
		if err := req.Read(br); err != nil {
			return
		}
		o.requests.Add(1)
		raw, closeAfter := o.answer(&req)
		// One write: on loopback the whole script arrives at once, so bytes
		// past an answer are in the gateway's buffer when the answer is.
		if _, err := io.WriteString(c, raw); err != nil || closeAfter {
			return
		}
	}
}

func (o *scriptedOrigin) close() {
	_ = o.ln.Close()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, c := range o.conns {
		_ = c.Close()
	}
}

func testPool(addr string) *targetPool {
	return &targetPool{addr: addr, connectTimeout: time.Second, idleTimeout: time.Minute, maxConns: 4, streamAbove: 64}
}

// poolGet runs one exchange and returns status and the whole body (read
// from the stream when the answer streams).
func poolGet(t *testing.T, p *targetPool, method, path string, fresh bool) (int, string, error) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(path)
	req.Header.SetHost("origin.test")
	if err := p.do(req, resp, time.Now().Add(2*time.Second), fresh); err != nil {
		return 0, "", err
	}
	if resp.IsBodyStream() {
		b, err := io.ReadAll(resp.BodyStream())
		_ = resp.CloseBodyStream()
		return resp.StatusCode(), string(b), err
	}
	return resp.StatusCode(), string(resp.Body()), nil
}

func poolIdle(p *targetPool) (idle, open int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle), p.open
}

const okAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

func TestPoolSkipsInterimAnswers(t *testing.T) {
	o := startScripted(t, func(*fasthttp.Request) (string, bool) {
		return "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" + okAnswer, false
	})
	p := testPool(o.addr)
	for i := 0; i < 2; i++ {
		st, body, err := poolGet(t, p, "GET", "/", false)
		if err != nil || st != 200 || body != "ok" {
			t.Fatalf("exchange %d: %d %q %v", i, st, body, err)
		}
	}
	if n := o.accepted.Load(); n != 1 {
		t.Fatalf("%d connections, want 1 (reused after interim answers)", n)
	}
}

func TestPoolSwitchingProtocolsIsAnError(t *testing.T) {
	o := startScripted(t, func(*fasthttp.Request) (string, bool) {
		return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello", false
	})
	p := testPool(o.addr)
	if _, _, err := poolGet(t, p, "GET", "/", false); err == nil {
		t.Fatal("101 accepted as an answer")
	}
	if idle, open := poolIdle(p); idle != 0 || open != 0 {
		t.Fatalf("after 101: idle %d open %d, want the connection closed", idle, open)
	}
}

func TestPoolChunkedThenReuse(t *testing.T) {
	o := startScripted(t, func(*fasthttp.Request) (string, bool) {
		return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", false
	})
	p := testPool(o.addr)
	for i := 0; i < 3; i++ {
		st, body, err := poolGet(t, p, "GET", "/", false)
		if err != nil || st != 200 || body != "hello world" {
			t.Fatalf("exchange %d: %d %q %v", i, st, body, err)
		}
	}
	if n := o.accepted.Load(); n != 1 {
		t.Fatalf("%d connections, want 1: a chunked body read to its end returns the connection", n)
	}
}

func TestPoolCloseDelimitedBody(t *testing.T) {
	o := startScripted(t, func(*fasthttp.Request) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it, until the close", true
	})
	p := testPool(o.addr)
	st, body, err := poolGet(t, p, "GET", "/", false)
	if err != nil || st != 200 || body != "all of it, until the close" {
		t.Fatalf("%d %q %v", st, body, err)
	}
	if idle, open := poolIdle(p); idle != 0 || open != 0 {
		t.Fatalf("idle %d open %d: a close-delimited body ends its connection", idle, open)
	}
}

// TestPoolAbandonMidBody: the client gives up on a streamed body; the
// connection, left in the middle of it, is closed, not reused.
func TestPoolAbandonMidBody(t *testing.T) {
	big := strings.Repeat("x", 4096)
	o := startScripted(t, func(*fasthttp.Request) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n" + big, false
	})
	p := testPool(o.addr)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("/")
	req.Header.SetHost("origin.test")
	if err := p.do(req, resp, time.Now().Add(2*time.Second), false); err != nil {
		t.Fatal(err)
	}
	if !resp.IsBodyStream() {
		t.Fatal("a body over streamAbove should stream")
	}
	buf := make([]byte, 100)
	if _, err := io.ReadFull(resp.BodyStream(), buf); err != nil {
		t.Fatal(err)
	}
	_ = resp.CloseBodyStream()
	fasthttp.ReleaseRequest(req)
	fasthttp.ReleaseResponse(resp)
	if idle, open := poolIdle(p); idle != 0 || open != 0 {
		t.Fatalf("idle %d open %d after abandoning mid-body, want the connection closed", idle, open)
	}
	if st, body, err := poolGet(t, p, "GET", "/", false); err != nil || st != 200 || body != big {
		t.Fatalf("next exchange: %d %d bytes %v", st, len(body), err)
	}
	if n := o.accepted.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

// TestDefect3ResponseDesync: bytes an upstream sends past a complete answer
// (after a 204 or 304, past a Content-Length body, a body after a HEAD
// answer) must never become the next request's answer.
func TestDefect3ResponseDesync(t *testing.T) {
	for _, tc := range []struct{ name, method, first string }{
		{"after 204", "GET", "HTTP/1.1 204 No Content\r\n\r\nSPLIT!"},
		{"after 304", "GET", "HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\n\r\nSPLIT!"},
		{"past Content-Length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokSPLIT!"},
		{"body after HEAD", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSPLIT!"},
		{"smuggled answer", "GET", "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSPLIT!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := startScripted(t, func(req *fasthttp.Request) (string, bool) {
				if string(req.URI().Path()) == "/first" {
					return tc.first, false
				}
				return okAnswer, false
			})
			p := testPool(o.addr)
			if _, _, err := poolGet(t, p, tc.method, "/first", false); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				st, body, err := poolGet(t, p, "GET", "/next", false)
				if err != nil || st != 200 || body != "ok" {
					t.Fatalf("next request %d got %d %q %v: bytes of the previous answer leaked", i, st, body, err)
				}
			}
		})
	}
}

// TestDefect3ResponseDesyncThroughGateway: the same through the real
// gateway: the next client never receives SPLIT!.
func TestDefect3ResponseDesyncThroughGateway(t *testing.T) {
	o := startScripted(t, func(req *fasthttp.Request) (string, bool) {
		if string(req.URI().Path()) == "/empty" {
			return "HTTP/1.1 204 No Content\r\n\r\nSPLIT!", false
		}
		return okAnswer, false
	})
	g := startGateway(t, scriptedBackendConfig(o.addr, ""))
	for i := 0; i < 5; i++ {
		if st, _, _ := g.do("GET", "/empty", nil, nil); st != 204 {
			t.Fatalf("204 answered %d", st)
		}
		st, _, body := g.do("GET", "/other", nil, nil)
		if st != 200 || string(body) != "ok" || strings.Contains(string(body), "SPLIT") {
			t.Fatalf("the next request got %d %q", st, body)
		}
	}
}

// scriptedBackendConfig is a catch-all API forwarding to addr.
func scriptedBackendConfig(addr, extra string) string {
	return extra + `
[[backends]]
name = "scripted"
targets = [{ url = "http://` + addr + `" }]
[[groups]]
name = "g"
[[groups.apis]]
name = "all"
path = "/{rest:*}"
backend = "scripted"
`
}

// opaqueConn hides the socket from the idle probe, as a TLS connection or
// a test pipe would: only the stale retry can then save a request.
type opaqueConn struct{ net.Conn }

// TestPoolStaleIdleConnection: an upstream closed an idle connection.
// With the probe it is dropped before use; without it, an idempotent request
// fails with an error isStale reports (one retry on a fresh dial is safe),
// a POST does not, and chain.Do's retry turns the GET into a 200.
func TestPoolStaleIdleConnection(t *testing.T) {
	o := startScripted(t, func(*fasthttp.Request) (string, bool) {
		return okAnswer, true // keep-alive answer, then the origin closes anyway
	})
	t.Run("probed", func(t *testing.T) {
		p := testPool(o.addr)
		for i := 0; i < 3; i++ {
			if _, _, err := poolGet(t, p, "POST", "/", false); err != nil {
				t.Fatalf("exchange %d: %v (the closed idle connection was not detected)", i, err)
			}
			time.Sleep(20 * time.Millisecond) // let the FIN arrive
		}
	})
	t.Run("unprobed", func(t *testing.T) {
		p := testPool(o.addr)
		p.dial = func(addr string) (net.Conn, error) {
			c, err := net.Dial("tcp", addr)
			return opaqueConn{c}, err
		}
		if _, _, err := poolGet(t, p, "GET", "/", false); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		_, _, err := poolGet(t, p, "GET", "/", false)
		if !isStale(err) {
			t.Fatalf("GET on a closed idle connection: %v, want a stale error", err)
		}
		if _, _, err := poolGet(t, p, "POST", "/", false); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		if _, _, err := poolGet(t, p, "POST", "/", false); err == nil || isStale(err) {
			t.Fatalf("POST on a closed idle connection: %v, want a plain error (not provably unsent)", err)
		}
		bp := testChain(p)
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("/")
		if _, err := bp.doTimeout(req, resp, 2*time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		if _, err := bp.doTimeout(req, resp, 2*time.Second); err != nil || resp.StatusCode() != 200 {
			t.Fatalf("chain.Do after a stale connection: %d %v, want the fresh-dial retry to answer", resp.StatusCode(), err)
		}
	})
}

// TestPoolFreshNeverReusesIdle: fresh=true dials even with idle connections
// at hand, and makes room at the connection cap.
func TestPoolFreshNeverReusesIdle(t *testing.T) {
	o := startScripted(t, func(*fasthttp.Request) (string, bool) { return okAnswer, false })
	p := testPool(o.addr)
	p.maxConns = 1
	for i := 0; i < 3; i++ {
		if _, _, err := poolGet(t, p, "GET", "/", true); err != nil {
			t.Fatal(err)
		}
	}
	if n := o.accepted.Load(); n != 3 {
		t.Fatalf("%d connections, want 3 fresh dials", n)
	}
	if idle, open := poolIdle(p); idle != 1 || open != 1 {
		t.Fatalf("idle %d open %d, want 1 and 1", idle, open)
	}
}

func TestIsStaleOnlyForStale(t *testing.T) {
	if isStale(nil) || isStale(io.EOF) || isStale(&errDial{io.EOF}) || !isStale(&errStale{io.EOF}) {
		t.Fatal("isStale misclassifies")
	}
	if !errors.Is(&errStale{io.EOF}, io.EOF) {
		t.Fatal("errStale does not unwrap")
	}
}

// TestPoolStreamPauseIsNotIdleTimeout: a streamed answer may pause longer
// than the pool's (short) idle timeout; only the API's timeout cuts it.
func TestPoolStreamPauseIsNotIdleTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var req fasthttp.Request
		if req.Read(bufio.NewReader(c)) != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
		time.Sleep(300 * time.Millisecond) // the pause under test
		_, _ = io.WriteString(c, "6\r\n world\r\n0\r\n\r\n")
	}()
	p := testPool(ln.Addr().String())
	p.idleTimeout = 100 * time.Millisecond
	st, body, err := poolGet(t, p, "GET", "/", false)
	if err != nil || st != 200 || body != "hello world" {
		t.Fatalf("%d %q %v: a pause longer than the idle timeout cut the answer", st, body, err)
	}
}

// testChain is a one-target chain over p, bound as a snapshot would bind it.
func testChain(p *targetPool) *chain {
	u := newUpstreams(nil, ratelimit.Nanotime)
	up, err := u.bind(&policy.Backend{Name: "pool-test", PoolSize: 4, IdleTimeout: time.Minute, ConnectTimeout: time.Second,
		Targets: []policy.TargetSpec{{URL: "http://" + p.addr, Addr: p.addr, Host: "origin.test", Weight: 1}}})
	if err != nil {
		panic("BUG: " + err.Error())
	}
	c := up.(*chain)
	c.pools[0] = p
	return c
}

// doTimeout runs one exchange through the chain with a timeout.
func (c *chain) doTimeout(req *fasthttp.Request, resp *fasthttp.Response, timeout time.Duration) (int, error) {
	x := policy.Exchange{Req: req, Resp: resp, Deadline: time.Now().Add(timeout), Replayable: !req.IsBodyStream(), Target: -1}
	err := c.Do(&x)
	return x.Target, err
}
