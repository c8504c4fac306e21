package proxy

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// Acceptance 4: the breaker goes closed -> open -> half-open -> closed, and
// half-open -> open on a failed probe; each transition is counted, in the
// target's counters and on /metrics. The fake clock moves the open time
// along without sleeping.
func TestBreakerClosedOpenHalfOpenClosedWithMetrics(t *testing.T) {
	o := newTestOrigin(t)
	fc := newFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	cfg := `
[[backends]]
name = "one"
targets = [{ url = "{{A}}" }]
[backends.breaker]
failure_ratio = 50
window = "10s"
min_requests = 4
open_time = "5s"
probes = 2
[[groups]]
name = "g"
[[groups.apis]]
name = "r"
path = "/r/{rest:*}"
backend = "one"
`
	g := resilienceGateway(t, cfg, Options{Clock: fc}, o.url())
	tg := g.srv.ups.reg.lookup(o.addr)
	want := func(state int32, open, half, closed uint64) {
		t.Helper()
		if s := tg.br.state.Load(); s != state {
			t.Fatalf("breaker %s, want %s", breakerStateName(s), breakerStateName(state))
		}
		if got := [3]uint64{tg.m.toOpen.Get(), tg.m.toHalfOpen.Get(), tg.m.toClosed.Get()}; got != [3]uint64{open, half, closed} {
			t.Fatalf("transitions to open/half-open/closed %v, want %v", got, [3]uint64{open, half, closed})
		}
		body := string(scrape(t, g))
		for to, n := range map[string]uint64{"open": open, "half_open": half, "closed": closed} {
			line := `sluice_upstream_breaker_transitions_total{target="` + o.addr + `",to="` + to + `"} ` + strconv.FormatUint(n, 10)
			if !strings.Contains(body, line+"\n") {
				t.Fatalf("/metrics lacks %q", line)
			}
		}
	}
	status := func(want int) {
		t.Helper()
		st, body, err := g.get("/r/1", nil)
		if err != nil || st != want {
			t.Fatalf("status %d (%s, %v), want %d", st, body, err, want)
		}
	}
	want(breakerClosed, 0, 0, 0)
	o.status.Store(500)
	for i := 0; i < 3; i++ {
		status(500)
	}
	want(breakerClosed, 0, 0, 0) // 3 of 3 failed, but fewer than min_requests
	status(500)
	want(breakerOpen, 1, 0, 0)
	before := o.requests.Load()
	st, h, body := g.do("GET", "/r/1", nil, nil) // CircuitOpen, at once, nothing sent
	wantError(t, st, h, body, 503, CodeCircuitOpen)
	if o.requests.Load() != before {
		t.Fatal("an open breaker let a request through")
	}
	o.status.Store(200)
	fc.Advance(5 * time.Second)
	status(200) // the first probe
	want(breakerHalfOpen, 1, 1, 0)
	status(200) // the second probe closes it
	want(breakerClosed, 1, 1, 1)

	// Half-open -> open on a failed probe.
	o.status.Store(500)
	for i := 0; i < 4; i++ {
		status(500)
	}
	want(breakerOpen, 2, 1, 1)
	fc.Advance(5 * time.Second)
	status(500) // the probe fails
	want(breakerOpen, 3, 2, 1)
	status(503)
}
