//go:build !race

package bench

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"
)

// TestRespReaderAllocs: framing an answer allocates nothing.
func TestRespReaderAllocs(t *testing.T) {
	in := []byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello" +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	rd := bytes.NewReader(in)
	rr := newRespReader(rd, respBufSize)
	allocs := testing.AllocsPerRun(200, func() {
		rd.Reset(in)
		rr.r, rr.w = 0, 0
		for range 2 {
			if info, err := rr.read(false); err != nil || info.bodyLen != 5 {
				t.Fatalf("%+v %v", info, err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per two answers", allocs)
	}
}

// TestOpenLoopSteadyStateAllocs checks that the open loop allocates nothing
// per request once its connections are open: the difference in allocations
// between a run of 3000 and one of 1000 requests, over the 2000 extra
// requests, generator and in-process origin together.
func TestOpenLoopSteadyStateAllocs(t *testing.T) {
	o := startTestOrigin(t, 0)
	run := func(n uint64) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		res, err := RunLoad(context.Background(), LoadConfig{
			Addr: o.Addr(), Paths: []string{"/x?size=64"}, Mode: OpenLoop, Rate: 20000, Duration: 5 * time.Second,
			MaxRequests: n, Connections: 4,
		})
		runtime.ReadMemStats(&after)
		if err != nil || res.Completed != n {
			t.Fatalf("completed %d of %d: %v %v", res.Completed, n, err, res.ErrorKinds)
		}
		return after.Mallocs - before.Mallocs
	}
	run(500) // warm the origin's pools
	small, large := run(1000), run(3000)
	perReq := (float64(large) - float64(small)) / 2000
	t.Logf("allocations: %d for 1000 requests, %d for 3000: %.3f per request", small, large, perReq)
	if perReq > 0.05 {
		t.Errorf("%.3f allocations per request in steady state", perReq)
	}
}
