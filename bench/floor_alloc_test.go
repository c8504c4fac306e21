//go:build !race

package bench

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// floorFakeConn is a client connection that sends one request and keeps
// what the server writes: the floor's server reads and answers through it
// with no client-side socket work in the measurement.
type floorFakeConn struct {
	req  []byte
	r    bytes.Reader
	out  bytes.Buffer
	addr net.TCPAddr
}

func (c *floorFakeConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *floorFakeConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *floorFakeConn) Close() error                     { return nil }
func (c *floorFakeConn) LocalAddr() net.Addr              { return &c.addr }
func (c *floorFakeConn) RemoteAddr() net.Addr             { return &c.addr }
func (c *floorFakeConn) SetDeadline(time.Time) error      { return nil }
func (c *floorFakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *floorFakeConn) SetWriteDeadline(time.Time) error { return nil }
func (c *floorFakeConn) reset()                           { c.r.Reset(c.req); c.out.Reset() }
func (c *floorFakeConn) answered(status string) bool {
	return bytes.HasPrefix(c.out.Bytes(), []byte(status))
}
func (c *floorFakeConn) String() string { return c.out.String() }
func newFloorFakeConn(req string) *floorFakeConn {
	return &floorFakeConn{req: []byte(req), addr: net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}}
}

// TestFloorHandlerZeroAllocs proves the floor's per-request path (fasthttp's
// server, the prefix, hop-by-hop and X-Forwarded-For work, the pooled
// upstream exchange over a real loopback socket) allocates nothing in
// steady state, so the floor is a floor for garbage too.
func TestFloorHandlerZeroAllocs(t *testing.T) {
	o := startTestOrigin(t, 0)
	f, err := newFloorProxy(o.Addr(), floorPrefix)
	if err != nil {
		t.Fatal(err)
	}
	defer f.closeIdle()
	for _, tc := range []struct {
		name, req string
		// fasthttp are allocations fasthttp's server makes after the
		// handler returned: with StreamRequestBody (the gateway's setting)
		// it drains what is left of every streamed request body through
		// io.CopyN, whose io.LimitReader escapes (fasthttp v1.77
		// requestStream.discard), even when nothing is left. The gateway
		// pays the same; the handler itself allocates nothing.
		fasthttp float64
	}{
		{"plain", "GET /anon/item?size=1024 HTTP/1.1\r\nHost: bench.test\r\nX-Api-Key: k\r\n\r\n", 0},
		{"hop-by-hop", "GET /anon/item?size=100 HTTP/1.1\r\nHost: bench.test\r\nConnection: close, X-Hop\r\n" +
			"X-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n", 0},
		{"post", "POST /anon/item?size=10 HTTP/1.1\r\nHost: bench.test\r\nContent-Length: 5\r\n\r\nhello", 1},
		{"post-16k", "POST /anon/item?size=10 HTTP/1.1\r\nHost: bench.test\r\nContent-Length: 16384\r\n\r\n" +
			string((&Scenario{BodyBytes: 16384}).Body()), 1},
	} {
		c := newFloorFakeConn(tc.req)
		one := func() {
			c.reset()
			if err := f.srv.ServeConn(c); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}
		for range 100 {
			one()
		}
		if !c.answered("HTTP/1.1 200 OK") {
			t.Fatalf("%s: answer %q", tc.name, c.String())
		}
		before := o.Requests()
		if allocs := testing.AllocsPerRun(500, one); allocs != tc.fasthttp {
			t.Errorf("%s: %.2f allocations per proxied request, want %.0f (fasthttp's own)", tc.name, allocs, tc.fasthttp)
		}
		if n := o.Requests() - before; n != 501 { // AllocsPerRun warms up with one extra call
			t.Errorf("%s: origin served %d requests, want 501", tc.name, n)
		}
	}
}
