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
// the request path allocates nothing. Lease spending is local; refills run
// on the limiter's worker. Go counts allocations per process, so the
// worker's would land in AllocsPerRun too, by how often a loaded machine
// makes it refill: the request path is measured with refills held (leases
// spent, then local denials, both request-path answers), and the worker's
// amortized share is measured apart with refills running, and logged.
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

	// Refills running, paced at about 10 000 requests per second (a busy
	// node's rate for one key): the process-wide figure, worker included.
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	before := rs.CommandCalls("evalsha", "eval")
	var ok, denied int
	const paced = 3000
	for i := 0; i < paced; i++ {
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
	}
	runtime.ReadMemStats(&m1)
	refills := rs.CommandCalls("evalsha", "eval") - before
	t.Logf("refills running: process-wide %.3f allocations per request, the refill worker's included; %d admitted, %d throttled while a refill was in flight; %d lease refills over %d requests",
		float64(m1.Mallocs-m0.Mallocs)/paced, ok, denied, refills, paced)
	if refills == 0 {
		t.Errorf("no lease refill during the run: the fleet path was not exercised")
	}
	if ok < 9*(ok+denied)/10 {
		t.Fatalf("%d admitted, %d throttled: the leases did not keep up", ok, denied)
	}
	if !st.Conn.Healthy() {
		t.Fatalf("the breaker opened during the run (%v): the fleet path was not measured", st.Conn.LastError())
	}

	// Refills held: only the request path allocates, and it must not.
	st.limiter.HoldRefills(true)
	defer st.limiter.HoldRefills(false)
	ok, denied = 0, 0
	allocs := testing.AllocsPerRun(1000, func() {
		serveOne(t, s, c)
		switch string(c.status) {
		case "HTTP/1.1 200":
			ok++
		case "HTTP/1.1 429":
			denied++
		}
	})
	t.Logf("refills held: AllocsPerRun %.1f over %d admitted and %d denied requests", allocs, ok, denied)
	if ok == 0 {
		t.Fatal("no request was admitted from the leases while refills were held")
	}
	if allocs != 0 {
		t.Fatalf("%.1f allocations per request with fleet limits, want 0", allocs)
	}
}
