//go:build !race

package proxy

import (
	"runtime"
	"testing"
	"time"

	"github.com/sluicegw/sluice/store/redisstate/redistest"
)

// TestFleetPipelineZeroAllocs is issue 15 acceptance 6: with fleet limits
// on (API, consumer and quota leased from a real Redis, client IP local),
// a request through the real server allocates nothing. Lease spending is
// local; refills run on the limiter's worker, and AllocsPerRun counts
// their allocations too (it reads the process's malloc count), so this
// also shows that refills are amortized below one allocation per request.
func TestFleetPipelineZeroAllocs(t *testing.T) {
	rs := redistest.Start(t)
	s, st := newFleetPipeline(t, rs.Addr, "fleet")
	c := &clientConn{req: []byte(fleetPipelineRequest)}
	for i := 0; i < 2000; i++ { // leases opened and grown to the key's rate
		serveOne(t, s, c)
	}
	// A first call slower than read_timeout on a loaded machine (the
	// script's first load) opens the breaker until the next probe.
	for i := 0; !st.Conn.Healthy(); i++ {
		if i == 300 {
			t.Fatalf("the breaker stays open: %v", st.Conn.LastError())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := 0; i < 1000; i++ {
		time.Sleep(50 * time.Microsecond)
		serveOne(t, s, c)
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	before := rs.CommandCalls("evalsha", "eval")
	// Paced at about 10 000 requests per second, a busy node's rate for
	// one key: unpaced, this loop (100 000/s on one key) outruns the
	// refills of MaxBatch (1000) tokens on a loaded machine and mostly
	// measures the denial path. A 429 while a refill is in flight is
	// still counted: both answers are on the request path, and most must
	// be admissions.
	var ok, denied int
	allocs := testing.AllocsPerRun(3000, func() {
		time.Sleep(50 * time.Microsecond)
		serveOne(t, s, c)
		switch string(c.status) {
		case "HTTP/1.1 200":
			ok++
		case "HTTP/1.1 429":
			denied++
		default:
			t.Fatalf("status line %q", c.status)
		}
	})
	if ok < 9*(ok+denied)/10 {
		t.Fatalf("%d admitted, %d throttled: the leases did not keep up", ok, denied)
	}
	if !st.Conn.Healthy() {
		t.Logf("the breaker opened during the run (%v): part of the run took the fallback path", st.Conn.LastError())
	}
	refills := rs.CommandCalls("evalsha", "eval") - before
	runtime.ReadMemStats(&m1)
	// AllocsPerRun divides in integers; the exact figure, refill worker
	// included, goes to the log (and BENCHMARKS.md).
	exact := float64(m1.Mallocs-m0.Mallocs) / 3001
	t.Logf("AllocsPerRun %.1f; process-wide %.3f allocations per request, the refill worker's included; %d admitted, %d throttled while a refill was in flight; %d lease refills over 3001 requests",
		allocs, exact, ok, denied, refills)
	if refills == 0 {
		t.Errorf("no lease refill during the run: the fleet path was not exercised")
	}
	if allocs != 0 {
		t.Fatalf("%.1f allocations per request with fleet limits, want 0", allocs)
	}
}
