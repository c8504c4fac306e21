//go:build !race

package proxy

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestPoolExchangeZeroAllocs: an exchange over a reused real TCP connection,
// the idle probe (a non-blocking read on the socket) and the desync check
// included, allocates nothing. The in-memory pipeline tests cannot show
// this: their upstream connection has no socket to probe.
func TestPoolExchangeZeroAllocs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	answer := []byte(okAnswer)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		var pending []byte
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			pending = append(pending[:0], buf[:n]...)
			for k := bytes.Count(pending, []byte("\r\n\r\n")); k > 0; k-- {
				if _, err := c.Write(answer); err != nil {
					return
				}
			}
		}
	}()
	p := testPool(ln.Addr().String())
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("/alloc")
	req.Header.SetHost("origin.test")
	one := func() {
		resp.Reset()
		if err := p.do(req, resp, time.Now().Add(2*time.Second), false); err != nil || resp.StatusCode() != 200 {
			t.Fatalf("%d %v", resp.StatusCode(), err)
		}
	}
	for i := 0; i < 10; i++ {
		one()
	}
	if allocs := testing.AllocsPerRun(200, one); allocs != 0 {
		t.Fatalf("%.1f allocations per pooled exchange, want 0", allocs)
	}
	if _, open := poolIdle(p); open != 1 {
		t.Fatalf("%d connections, want the one reused", open)
	}
}
