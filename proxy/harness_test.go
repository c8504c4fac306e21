package proxy

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/bench/origin"
	"github.com/valyala/fasthttp"
)

// gateway is a real Sluice data plane and admin listener on loopback, with
// its config in a file and the bench origin as its upstream.
type gateway struct {
	t       testing.TB
	srv     *Server
	rl      *Reloader
	admin   *Admin
	addr    string
	adminAt string
	origin  *origin.Server
	cfgPath string
	client  *fasthttp.HostClient
}

// startGateway writes cfg ({{ORIGIN}} replaced by the origin's URL) and serves it.
func startGateway(t testing.TB, cfg string) *gateway {
	t.Helper()
	return startGatewayWith(t, cfg, Options{})
}

// fakeClock is a Clock that moves only when told: tests of buckets and
// quota windows then need no sleeping and no luck with the wall clock.
type fakeClock struct{ now atomic.Int64 }

func newFakeClock(at time.Time) *fakeClock {
	c := &fakeClock{}
	c.now.Store(at.UnixNano())
	return c
}

func (c *fakeClock) Nanotime() int64         { return c.now.Load() }
func (c *fakeClock) Advance(d time.Duration) { c.now.Add(int64(d)) }

// startGatewayWith is startGateway with server options (a fake clock, stores).
func startGatewayWith(t testing.TB, cfg string, opts Options) *gateway {
	t.Helper()
	o, err := origin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	g := &gateway{t: t, origin: o}
	g.cfgPath = filepath.Join(t.TempDir(), "sluice.toml")
	g.write(cfg)
	g.srv = New(opts)
	g.rl = NewReloader(g.srv, Source{Name: g.cfgPath, Path: g.cfgPath})
	if _, err := g.rl.Reload(); err != nil {
		t.Fatalf("config rejected: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = ln.Addr().String()
	go func() { _ = g.srv.Serve(ln) }()
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.adminAt = aln.Addr().String()
	g.admin = NewAdmin(g.srv, g.rl)
	go func() { _ = g.admin.Serve(aln) }()
	g.client = &fasthttp.HostClient{Addr: g.addr, MaxConns: 64, ReadTimeout: 10 * time.Second}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.srv.Shutdown(ctx)
		_ = g.admin.Shutdown()
	})
	waitFor(t, func() bool { return g.srv.Ready() })
	return g
}

func (g *gateway) write(cfg string) {
	g.t.Helper()
	cfg = strings.ReplaceAll(cfg, "{{ORIGIN}}", g.origin.URL())
	tmp := g.cfgPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(cfg), 0o644); err != nil {
		g.t.Fatal(err)
	}
	if err := os.Rename(tmp, g.cfgPath); err != nil {
		g.t.Fatal(err)
	}
}

// do sends one request through the gateway and returns status, headers and body.
func (g *gateway) do(method, uri string, hdr map[string]string, body []byte) (int, *fasthttp.ResponseHeader, []byte) {
	g.t.Helper()
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://" + g.addr + uri)
	for k, v := range hdr {
		if strings.EqualFold(k, "Host") {
			req.Header.SetHost(v)
			req.UseHostHeader = true
			continue
		}
		req.Header.Set(k, v)
	}
	if body != nil {
		req.SetBody(body)
	}
	if err := g.client.Do(req, resp); err != nil {
		g.t.Fatalf("%s %s: %v", method, uri, err)
	}
	h := &fasthttp.ResponseHeader{}
	resp.Header.CopyTo(h)
	return resp.StatusCode(), h, append([]byte(nil), resp.Body()...)
}

// errorBody is the one JSON error shape.
type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

// wantError checks status, JSON shape, code, and X-Request-Id echo.
func wantError(t testing.TB, status int, h *fasthttp.ResponseHeader, body []byte, wantStatus int, wantCode string) errorBody {
	t.Helper()
	var e errorBody
	if status != wantStatus {
		t.Fatalf("status %d, want %d; body %s", status, wantStatus, body)
	}
	if ct := string(h.ContentType()); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, body)
	}
	if e.Error.Code != wantCode {
		t.Fatalf("code %q, want %q (%s)", e.Error.Code, wantCode, body)
	}
	if e.Error.Message == "" {
		t.Fatalf("empty message: %s", body)
	}
	if e.Error.RequestID == "" || string(h.Peek("X-Request-Id")) != e.Error.RequestID {
		t.Fatalf("request_id %q and X-Request-Id %q must match and be set", e.Error.RequestID, h.Peek("X-Request-Id"))
	}
	return e
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawExchange writes raw bytes on a new connection and returns everything
// read until the server closes it (or 2s pass), and whether it closed.
func rawExchange(t testing.TB, addr, raw string) (string, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			var ne net.Error
			closed := !(asNetErr(err, &ne) && ne.Timeout())
			return string(out), closed
		}
	}
}

func asNetErr(err error, ne *net.Error) bool {
	e, ok := err.(net.Error)
	if ok {
		*ne = e
	}
	return ok
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
