package proxy

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/policy"
)

// clientConn feeds one canned request to the server and discards the answer,
// so the real handler can be driven without sockets or allocations.
type clientConn struct {
	req     []byte
	pos     int
	written int
	status  []byte
}

var clientAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
var serverAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}

func (c *clientConn) reset() { c.pos, c.written = 0, 0 }
func (c *clientConn) Read(p []byte) (int, error) {
	if c.pos >= len(c.req) {
		return 0, io.EOF
	}
	n := copy(p, c.req[c.pos:])
	c.pos += n
	return n, nil
}
func (c *clientConn) Write(p []byte) (int, error) {
	if c.written == 0 && len(p) >= 12 {
		c.status = append(c.status[:0], p[:12]...)
	}
	c.written += len(p)
	return len(p), nil
}
func (c *clientConn) Close() error                     { return nil }
func (c *clientConn) LocalAddr() net.Addr              { return serverAddr }
func (c *clientConn) RemoteAddr() net.Addr             { return clientAddr }
func (c *clientConn) SetDeadline(time.Time) error      { return nil }
func (c *clientConn) SetReadDeadline(time.Time) error  { return nil }
func (c *clientConn) SetWriteDeadline(time.Time) error { return nil }

// upstreamConn is an in-memory upstream: every request written to it is
// answered with the same canned response. It counts requests so tests can
// check that what should not reach the upstream did not.
type upstreamConn struct {
	mu       sync.Mutex
	resp     []byte
	pending  int // bytes of response not yet read
	requests int
}

func (u *upstreamConn) Write(p []byte) (int, error) {
	u.mu.Lock()
	u.requests++
	u.pending += len(u.resp)
	u.mu.Unlock()
	return len(p), nil
}
func (u *upstreamConn) Read(p []byte) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.pending == 0 {
		return 0, io.EOF
	}
	off := (len(u.resp) - u.pending%len(u.resp)) % len(u.resp)
	n := copy(p, u.resp[off:])
	u.pending -= n
	return n, nil
}
func (u *upstreamConn) Close() error                     { return nil }
func (u *upstreamConn) LocalAddr() net.Addr              { return clientAddr }
func (u *upstreamConn) RemoteAddr() net.Addr             { return serverAddr }
func (u *upstreamConn) SetDeadline(time.Time) error      { return nil }
func (u *upstreamConn) SetReadDeadline(time.Time) error  { return nil }
func (u *upstreamConn) SetWriteDeadline(time.Time) error { return nil }

const cannedResponse = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"user\":\"ok 42\"}\n"

// pipelineConfig is the core issue's BenchmarkPipeline API: a path parameter
// rewritten into the upstream path.
const pipelineConfig = `
[[backends]]
name = "users"
targets = [{ url = "http://users.internal:8000" }]
[[groups]]
name = "bench"
[[groups.apis]]
name = "get-user"
methods = ["GET"]
path = "/users/{id}"
backend = "users"
backend_path = "/v1/user?id={id}"
`

// newInmemPipeline compiles cfg into a server whose upstream is an upstreamConn.
func newInmemPipeline(tb testing.TB, cfg string) (*Server, *upstreamConn) {
	tb.Helper()
	up := &upstreamConn{resp: []byte(cannedResponse)}
	s := New(Options{Dial: func(string) (net.Conn, error) { return up, nil }})
	p, err := policy.Parse("bench.toml", []byte(cfg))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.Load(p); err != nil {
		tb.Fatal(err)
	}
	s.httpServer()
	return s, up
}

const pipelineRequest = "GET /users/42?fields=name HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"

// serveOne drives one request through the real fasthttp server and handler.
func serveOne(tb testing.TB, s *Server, c *clientConn) {
	c.reset()
	if err := s.http.ServeConn(c); err != nil {
		tb.Fatal(err)
	}
}

func TestInmemPipelineAnswers(t *testing.T) {
	s, up := newInmemPipeline(t, pipelineConfig)
	c := &clientConn{req: []byte(pipelineRequest)}
	for i := 0; i < 3; i++ {
		serveOne(t, s, c)
		if string(c.status) != "HTTP/1.1 200" {
			t.Fatalf("status line %q", c.status)
		}
	}
	if up.requests != 3 {
		t.Fatalf("upstream saw %d requests, want 3", up.requests)
	}
}

func BenchmarkPipeline(b *testing.B) {
	s, _ := newInmemPipeline(b, pipelineConfig)
	c := &clientConn{req: []byte(pipelineRequest)}
	serveOne(b, s, c)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		serveOne(b, s, c)
	}
}
