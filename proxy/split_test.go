package proxy

import (
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// splitConfig splits /s over two mock backends 95/5, routes X-Canary: 1,
// cookie canary=yes and ?canary=1 to v2, and /sticky with the same weights
// sticky on the session cookie.
const splitConfig = `
[[backends]]
name = "v1"
[backends.mock]
body = "v1"
[[backends]]
name = "v2"
[backends.mock]
body = "v2"

[[groups]]
name = "g"
[[groups.apis]]
name = "s"
path = "/s"
backend = "v1"
[groups.apis.split]
backends = [{ backend = "v1", weight = 95 }, { backend = "v2", weight = 5 }]
routes = [
  { header = "X-Canary", value = "1", backend = "v2" },
  { cookie = "canary", value = "yes", backend = "v2" },
  { query = "canary", value = "1", backend = "v2" },
]
[[groups.apis]]
name = "sticky"
path = "/sticky"
backend = "v1"
[groups.apis.split]
backends = [{ backend = "v1", weight = 95 }, { backend = "v2", weight = 5 }]
routes = [{ header = "X-Canary", value = "1", backend = "v2" }]
hash_on = "cookie:session"
`

// Acceptance 6: 95/5 over 20 000 requests is within ±1 percentage point.
func TestSplit95To5Within1Point(t *testing.T) {
	g := resilienceGateway(t, splitConfig, Options{})
	var v2, bad atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				st, body, err := g.get("/s", nil)
				switch {
				case err != nil || st != 200:
					bad.Add(1)
				case string(body) == "v2":
					v2.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d failed requests", bad.Load())
	}
	pm := v2.Load() * 1000 / 20000
	t.Logf("v2 got %d of 20000 (%d.%d %%)", v2.Load(), pm/10, pm%10)
	if pm < 40 || pm > 60 {
		t.Fatalf("v2 got %d per mille, want 50 ± 10", pm)
	}
}

// Acceptance 6: header (and cookie, query) routing always wins, over the
// weights and over stickiness.
func TestSplitRoutingAlwaysWins(t *testing.T) {
	g := resilienceGateway(t, splitConfig, Options{})
	for i := 0; i < 300; i++ {
		for _, c := range []struct {
			uri string
			hdr map[string]string
		}{
			{"/s", map[string]string{"X-Canary": "1"}},
			{"/s", map[string]string{"Cookie": "a=b; canary=yes"}},
			{"/s?canary=1", nil},
			{"/sticky", map[string]string{"X-Canary": "1", "Cookie": "session=s" + strconv.Itoa(i)}},
		} {
			if st, body, err := g.get(c.uri, c.hdr); err != nil || st != 200 || string(body) != "v2" {
				t.Fatalf("%s %v: %d %q %v, want v2", c.uri, c.hdr, st, body, err)
			}
		}
	}
	// A value that does not match is weighed like any request.
	v1 := 0
	for i := 0; i < 100; i++ {
		if _, body, _ := g.get("/s", map[string]string{"X-Canary": "0"}); string(body) == "v1" {
			v1++
		}
	}
	if v1 < 90 {
		t.Fatalf("X-Canary: 0 went to v1 %d of 100 times", v1)
	}
}

// Acceptance 6: a sticky split keeps each client on one side, and the
// clients still split about 95/5.
func TestSplitStickyKeepsClientOnOneSide(t *testing.T) {
	g := resilienceGateway(t, splitConfig, Options{})
	onV2 := 0
	const clients = 400
	for c := 0; c < clients; c++ {
		hdr := map[string]string{"Cookie": "session=client-" + strconv.Itoa(c)}
		first := ""
		for i := 0; i < 10; i++ {
			st, body, err := g.get("/sticky", hdr)
			if err != nil || st != 200 {
				t.Fatalf("status %d %v", st, err)
			}
			if first == "" {
				first = string(body)
			} else if string(body) != first {
				t.Fatalf("client %d moved from %s to %s", c, first, body)
			}
		}
		if first == "v2" {
			onV2++
		}
	}
	t.Logf("%d of %d sticky clients on v2", onV2, clients)
	if onV2 == 0 || onV2 > clients*12/100 {
		t.Fatalf("%d of %d clients on v2, want about 5 %%", onV2, clients)
	}
}

// A split over backends with targets: the member's target index is
// shifted onto the split backend's targets, so the access log names the
// target that answered.
func TestSplitOverTargetsLogsTheAnsweringTarget(t *testing.T) {
	a, b, c := newTestOrigin(t), newTestOrigin(t), newTestOrigin(t)
	path := filepath.Join(t.TempDir(), "access.log")
	cfg := "[access_log]\n" + fileSinkTOML("f", path) + `
[[backends]]
name = "stable"
targets = [{ url = "{{A}}" }, { url = "{{B}}" }]
[[backends]]
name = "canary"
targets = [{ url = "{{C}}" }]
[[groups]]
name = "g"
[[groups.apis]]
name = "s"
path = "/s"
backend = "stable"
[groups.apis.split]
backends = [{ backend = "stable", weight = 1 }, { backend = "canary", weight = 1 }]
`
	g := resilienceGateway(t, cfg, Options{}, a.url(), b.url(), c.url())
	var answered []string
	for i := 0; i < 12; i++ {
		st, body, err := g.get("/s", nil)
		if err != nil || st != 200 {
			t.Fatalf("status %d %v", st, err)
		}
		answered = append(answered, string(body))
	}
	shutdownGateway(t, g)
	lines := readLogFile(t, path)
	if len(lines) != len(answered) {
		t.Fatalf("%d records for %d requests", len(lines), len(answered))
	}
	seen := map[string]int{}
	for i, l := range lines {
		if want := `{"origin":"` + strings.TrimPrefix(l.Upstream, "http://") + `"}`; answered[i] != want {
			t.Fatalf("record %d: upstream %q but %s answered", i, l.Upstream, answered[i])
		}
		seen[l.Upstream]++
	}
	if len(seen) != 3 || seen[c.url()] != 6 {
		t.Fatalf("answers per target %v, want all three, the canary half", seen)
	}
}
