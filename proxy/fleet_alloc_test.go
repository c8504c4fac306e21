//go:build !race

package proxy

import (
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/policy"
	"github.com/sluicegw/sluice/store/redisstate/redistest"
)

// fleetPipelineConfig limits the pipeline API on every scope; {{REDIS}}
// and {{SCOPE}} are filled in by newFleetPipeline. client_ip stays local,
// so a request takes both paths of allowLimits (local, then fleet).
const fleetPipelineConfig = `
[state.redis]
addresses = ["{{REDIS}}"]
fleet_size = 3
read_timeout = "20ms"
[state.redis.scopes]
api = "{{SCOPE}}"
consumer = "{{SCOPE}}"
quota = "{{SCOPE}}"
client_ip = "local"
[[consumers]]
name = "fleet-bench"
api_keys = ["fleet-bench-key-0123456789"]
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
auth = { modes = ["key"] }
[groups.apis.rate_limit]
api = { rate = 100000000, burst = 100000000 }
consumer = { rate = 100000000, burst = 100000000 }
client_ip = { rate = 100000000, burst = 100000000 }
quota = { per_day = 1000000000000 }
`

const fleetPipelineRequest = "GET /users/42?fields=name HTTP/1.1\r\nHost: api.example.com\r\nX-Api-Key: fleet-bench-key-0123456789\r\nAccept: */*\r\n\r\n"

// newFleetPipeline is newInmemPipeline with the stores BuildStores makes
// from [state.redis] on a real redis-server; scope is "fleet" or "local"
// for the api, consumer and quota scopes.
func newFleetPipeline(tb testing.TB, redisAddr, scope string) (*Server, *Stores) {
	tb.Helper()
	cfg := strings.NewReplacer("{{REDIS}}", redisAddr, "{{SCOPE}}", scope).Replace(fleetPipelineConfig)
	p, err := policy.Parse("fleet-bench.toml", []byte(cfg))
	if err != nil {
		tb.Fatal(err)
	}
	st, err := BuildStores(p)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	up := &upstreamConn{resp: []byte(cannedResponse)}
	s := New(Options{Dial: func(string) (net.Conn, error) { return up, nil },
		Limits: st.Limits, Nonces: st.Nonces, Fleet: st.Fleet})
	if _, err := s.Load(p); err != nil {
		tb.Fatal(err)
	}
	s.httpServer()
	return s, st
}

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
