package proxy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

const reloadBase = `
[[backends]]
name = "two"
targets = [{ url = "{{A}}" }, { url = "http://{{DEAD}}" }]
[backends.health_check]
path = "/health"
interval = "100ms"
timeout = "100ms"
rise = 2
fall = 2
[[groups]]
name = "g"
[[groups.apis]]
name = "r"
path = "/r/{rest:*}"
backend = "two"
EXTRA
`

// Acceptance 7: health state and ejections survive a reload that changes
// an unrelated API, and reset for a target whose address leaves the config.
func TestHealthAndEjectionSurviveUnrelatedReloadResetWhenAddressLeaves(t *testing.T) {
	o := newTestOrigin(t)
	dead := refusingAddr(t)
	cfg := func(extra string, withDead bool) string {
		c := strings.Replace(reloadBase, "EXTRA", extra, 1)
		c = strings.ReplaceAll(c, "{{DEAD}}", dead)
		if !withDead {
			c = strings.Replace(c, `, { url = "http://`+dead+`" }`, "", 1)
		}
		return strings.ReplaceAll(c, "{{A}}", o.url())
	}
	fc := newFakeClock(time.Now())
	g := resilienceGateway(t, cfg("", true), Options{Clock: fc})
	// Traffic ejects the dead target (5 refused connects in a row) and the
	// checker takes it down (2 failed checks).
	for i := 0; i < 20; i++ {
		if st, _, err := g.get("/r/1", nil); err != nil || st != 200 {
			t.Fatalf("status %d %v", st, err)
		}
	}
	tg := g.srv.ups.reg.lookup(dead)
	waitFor(t, func() bool { return tg.down.Load() })
	until := tg.ejectedUntil.Load()
	if until == 0 {
		t.Fatal("the dead target was not ejected")
	}
	g.srv.ups.mu.Lock()
	checkersBefore := len(g.srv.ups.checks)
	var aChecker *checker
	for k, c := range g.srv.ups.checks {
		if strings.HasPrefix(k, o.addr+"|") {
			aChecker = c
		}
	}
	g.srv.ups.mu.Unlock()

	// An unrelated API is added.
	g.write(cfg(`[[groups.apis]]
name = "other"
path = "/other"
backend = "two"
`, true))
	if _, err := g.rl.Reload(); err != nil {
		t.Fatal(err)
	}
	if g.srv.ups.reg.lookup(dead) != tg || tg.ejectedUntil.Load() != until || !tg.down.Load() {
		t.Fatal("the reload lost the dead target's ejection or health")
	}
	g.srv.ups.mu.Lock()
	same := len(g.srv.ups.checks) == checkersBefore && g.srv.ups.checks[o.addr+"|"+o.addr+"|"+g.srv.Snapshot().Backends[0].Resilience.Check.Key()] == aChecker
	g.srv.ups.mu.Unlock()
	if !same {
		t.Fatal("the reload restarted health checkers whose settings did not change")
	}
	attempts := tg.m.attempts.Get()
	for i := 0; i < 10; i++ {
		if st, _, err := g.get("/r/1", nil); err != nil || st != 200 {
			t.Fatalf("status %d %v", st, err)
		}
	}
	if tg.m.attempts.Get() != attempts {
		t.Fatal("the ejected target got traffic after the reload")
	}

	// The address leaves the config: its state is forgotten...
	g.write(cfg("", false))
	if _, err := g.rl.Reload(); err != nil {
		t.Fatal(err)
	}
	if g.srv.ups.reg.lookup(dead) != nil {
		t.Fatal("a target whose address left the config is still in the registry")
	}
	// ...and it comes back fresh.
	g.write(cfg("", true))
	if _, err := g.rl.Reload(); err != nil {
		t.Fatal(err)
	}
	fresh := g.srv.ups.reg.lookup(dead)
	if fresh == nil || fresh == tg || fresh.ejectedUntil.Load() != 0 || fresh.down.Load() || fresh.ejections.Load() != 0 {
		t.Fatal("a target whose address came back did not start fresh")
	}
}

// Active checks: fall takes a target out, rise brings it back, and the
// checker is not started by compiling (sluice check) but when the
// snapshot is put into service.
func TestActiveChecksRiseFallAndStartOnlyInService(t *testing.T) {
	o := newTestOrigin(t)
	spare := newTestOrigin(t)
	cfg := strings.NewReplacer("{{A}}", o.url(), "http://{{DEAD}}", spare.url(), "EXTRA", "").Replace(reloadBase)
	s := New(Options{})
	t.Cleanup(s.ups.stopChecks)
	p, err := Source{Name: "x.toml", Embedded: []byte(cfg)}.Parse()
	if err != nil {
		t.Fatal(err)
	}
	snap, err := s.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	s.ups.mu.Lock()
	running := len(s.ups.checks)
	s.ups.mu.Unlock()
	if running != 0 {
		t.Fatalf("%d checkers running after a compile alone", running)
	}
	s.Publish(snap)
	tg := s.ups.reg.lookup(o.addr)
	waitFor(t, func() bool { return tg.m.checksOK.Get() >= 2 })
	o.health.Store(503)
	waitFor(t, func() bool { return tg.down.Load() })
	fails := tg.m.checksFail.Get()
	if fails < 2 {
		t.Fatalf("down after %d failed checks, want fall = 2", fails)
	}
	o.health.Store(200)
	waitFor(t, func() bool { return !tg.down.Load() })
	if tg.upSince.Load() == 0 {
		t.Fatal("coming back did not start the slow-start clock")
	}
}

// GET /admin/upstreams lists every backend's targets with their state.
func TestAdminUpstreamsListsTargetState(t *testing.T) {
	o := newTestOrigin(t)
	dead := refusingAddr(t)
	cfg := strings.NewReplacer("{{A}}", o.url(), "{{DEAD}}", dead, "EXTRA", "").Replace(reloadBase)
	g := resilienceGateway(t, cfg, Options{})
	for i := 0; i < 20; i++ {
		g.get("/r/1", nil)
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + g.adminAt + "/admin/upstreams")
	if err := fasthttp.Do(req, resp); err != nil || resp.StatusCode() != 200 {
		t.Fatalf("%v %d", err, resp.StatusCode())
	}
	var list []UpstreamBackend
	if err := json.Unmarshal(resp.Body(), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Backend != "two" || len(list[0].Targets) != 2 {
		t.Fatalf("unexpected listing %s", resp.Body())
	}
	a, d := list[0].Targets[0], list[0].Targets[1]
	if a.State != "healthy" || a.Attempts == 0 || d.Address != dead || d.State == "healthy" || !d.Ejected || d.Breaker != "closed" {
		t.Fatalf("unexpected target states %s", resp.Body())
	}
}
