package proxy

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// The n-th ejection in a row lasts n x base, at most max; a target that
// stayed in for a whole max ejection time starts over at base.
func TestEjectionTimeGrowsAndStartsOver(t *testing.T) {
	tg := &target{addr: "a:1", m: newTargetMetrics(&target{addr: "ejection-test:1"})}
	base, maxd := int64(30*time.Second), int64(300*time.Second)
	now := int64(0)
	var got []time.Duration
	for i := 0; i < 12; i++ {
		tg.eject(now, base, maxd)
		got = append(got, time.Duration(tg.ejectedUntil.Load()-now))
		now = tg.ejectedUntil.Load() + int64(time.Second) // back, and failing again at once
	}
	want := []time.Duration{30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300, 300}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("ejection times %v, want %v seconds", got, want)
		}
	}
	now += maxd + 1 // in rotation for longer than the longest ejection
	tg.eject(now, base, maxd)
	if d := time.Duration(tg.ejectedUntil.Load() - now); d != 30*time.Second {
		t.Fatalf("ejection after a long healthy run lasted %v, want the base 30s", d)
	}
}

// At most max_ejection_percent of a backend's targets are ejected at once;
// the rest keep serving.
func TestEjectionCappedAtMaxPercent(t *testing.T) {
	o := newTestOrigin(t)
	d1, d2 := refusingAddr(t), refusingAddr(t)
	cfg := `
[[backends]]
name = "three"
targets = [{ url = "{{A}}" }, { url = "http://` + d1 + `" }, { url = "http://` + d2 + `" }]
[[groups]]
name = "g"
[[groups.apis]]
name = "r"
path = "/r/{rest:*}"
backend = "three"
`
	g := resilienceGateway(t, cfg, Options{}, o.url())
	for i := 0; i < 60; i++ {
		if st, body, err := g.get("/r/1", nil); err != nil || st != 200 {
			t.Fatalf("request %d: %d %s %v", i, st, body, err)
		}
	}
	now := g.srv.ups.now()
	ejected := 0
	for _, a := range []string{d1, d2} {
		if !g.srv.ups.reg.lookup(a).available(now) {
			ejected++
		}
	}
	if ejected != 1 {
		t.Fatalf("%d of 3 targets ejected, want 1 (max_ejection_percent 50)", ejected)
	}
}

// Panic mode: when active checks take every target down, all of them serve
// anyway, and the requests are counted.
func TestPanicModeServesWhenNoTargetIsHealthy(t *testing.T) {
	a, b := newTestOrigin(t), newTestOrigin(t)
	a.health.Store(503)
	b.health.Store(503)
	cfg := `
[[backends]]
name = "two"
targets = [{ url = "{{A}}" }, { url = "{{B}}" }]
[backends.health_check]
path = "/health"
interval = "100ms"
fall = 1
[[groups]]
name = "g"
[[groups.apis]]
name = "r"
path = "/r/{rest:*}"
backend = "two"
`
	g := resilienceGateway(t, cfg, Options{}, a.url(), b.url())
	waitFor(t, func() bool {
		ta, tb := g.srv.ups.reg.lookup(a.addr), g.srv.ups.reg.lookup(b.addr)
		return ta.down.Load() && tb.down.Load()
	})
	ch := g.srv.Snapshot().Backends[0].Upstream.(*chain)
	before := ch.m.panics.Get()
	for i := 0; i < 10; i++ {
		if st, body, err := g.get("/r/1", nil); err != nil || st != 200 {
			t.Fatalf("request %d: %d %s %v", i, st, body, err)
		}
	}
	if ch.m.panics.Get()-before != 10 {
		t.Fatalf("%d requests counted in panic mode, want 10", ch.m.panics.Get()-before)
	}
	if a.requests.Load() == 0 || b.requests.Load() == 0 {
		t.Fatal("panic mode did not spread over all targets")
	}
}

// Over max_pending (requests waiting for a new connection) a request fails
// fast with 503 UpstreamOverloaded; it is not counted against the target.
func TestLimitsMaxPendingFailsFast(t *testing.T) {
	hole := blackhole(t)
	cfg := strings.ReplaceAll(`
[[backends]]
name = "one"
targets = [{ url = "http://HOLE" }]
connect_timeout = "1s"
[backends.limits]
max_pending = 1
[[groups]]
name = "g"
[[groups.apis]]
name = "r"
path = "/r/{rest:*}"
backend = "one"
`, "HOLE", hole)
	g := resilienceGateway(t, cfg, Options{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // dials, and hangs in the dial for the connect timeout
		defer wg.Done()
		g.get("/r/1", nil)
	}()
	tg := g.srv.ups.reg.lookup(hole)
	waitFor(t, func() bool { return tg.pending.Load() == 1 })
	start := time.Now()
	st, h, body := g.do("GET", "/r/2", nil, nil)
	wantError(t, st, h, body, 503, CodeUpstreamOverloaded)
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Fatalf("answer after %v, want at once", d)
	}
	wg.Wait()
	if n := tg.consecutiveFailures.Load(); n != 1 {
		t.Fatalf("%d failures counted, want 1 (the timed-out dial, not the refusal)", n)
	}
}
