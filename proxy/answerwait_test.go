//go:build unix

package proxy

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestAnswerWaitSkipsTheEmptyRead: a request whole in the write buffer is
// sent from inside the wait for its answer, so the answer costs one read(2)
// and none finds the socket empty, even when the upstream takes its time.
// Without the in-wait flush each of these exchanges makes one empty read.
// A request larger than the write buffer goes the old way (flush, then read)
// and still gets its answer; so does one after an upstream pause.
func TestAnswerWaitSkipsTheEmptyRead(t *testing.T) {
	var n atomic.Int64
	o := startScripted(t, func(req *fasthttp.Request) (string, bool) {
		n.Add(1)
		time.Sleep(5 * time.Millisecond) // the answer is surely not there at the first read
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false
	})
	p := testPool(o.addr)
	for i := 0; i < 5; i++ {
		if st, body, err := poolGet(t, p, "GET", "/a", false); err != nil || st != 200 || body != "ok" {
			t.Fatalf("exchange %d: %d %q %v", i, st, body, err)
		}
	}
	p.mu.Lock()
	if len(p.idle) != 1 {
		t.Fatalf("%d idle connections, want the one reused", len(p.idle))
	}
	c := p.idle[0]
	p.mu.Unlock()
	if got := c.ar.eagain; got != 0 {
		t.Errorf("%d empty read(2)s over 5 answers, want 0", got)
	}

	// A request that does not fit the write buffer is flushed while it is
	// written: the answer is then read the usual way.
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod("POST")
	req.SetRequestURI("/big")
	req.Header.SetHost("origin.test")
	req.SetBodyString(strings.Repeat("b", upWriteBufSize+1))
	if err := p.do(req, resp, time.Now().Add(2*time.Second), false); err != nil || resp.StatusCode() != 200 {
		t.Fatalf("large request: %v %d", err, resp.StatusCode())
	}
	if n.Load() != 6 {
		t.Errorf("origin saw %d requests, want 6", n.Load())
	}
}
