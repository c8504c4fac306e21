package proxy

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/sluicegw/sluice/policy"
)

// Acceptance 9: configs/examples/resilience.toml decodes strictly,
// compiles to what the issue says, and serves: its three targets
// (127.0.0.1:18101-18103) are reached through the server's dialer, which
// sends them to loopback test origins, so the test needs none of those
// ports free.
func TestResilienceExampleConfig(t *testing.T) {
	data, err := os.ReadFile("../configs/examples/resilience.toml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse("resilience.toml", data)
	if err != nil {
		t.Fatalf("does not decode strictly: %v", err)
	}
	origins := map[string]*testOrigin{}
	for _, a := range []string{"127.0.0.1:18101", "127.0.0.1:18102", "127.0.0.1:18103"} {
		origins[a] = newTestOrigin(t)
	}
	origins["127.0.0.1:18102"].status.Store(503) // one answers 503: the retries hide it
	s := New(Options{Dial: func(addr string) (net.Conn, error) {
		return net.DialTimeout("tcp", origins[addr].addr, time.Second)
	}})
	t.Cleanup(s.ups.stopChecks)
	snap, err := s.Load(p)
	if err != nil {
		t.Fatalf("does not compile: %v", err)
	}

	// What the issue asks of the file.
	if got := snap.Server.Listen; len(got) != 1 || got[0] != "127.0.0.1:8080" || snap.Server.AdminListen != "127.0.0.1:9901" {
		t.Fatalf("listen %v admin %q", got, snap.Server.AdminListen)
	}
	if len(snap.APIs) == 0 || snap.APIs[0].Path != "/r/{rest:*}" {
		t.Fatal("no API /r/{rest:*}")
	}
	api := snap.APIs[0]
	b := api.Backend
	if len(b.Targets) != 3 || b.Targets[0].Addr != "127.0.0.1:18101" || b.Targets[1].Addr != "127.0.0.1:18102" || b.Targets[2].Addr != "127.0.0.1:18103" {
		t.Fatalf("targets %+v", b.Targets)
	}
	hc := b.Resilience.Check
	if hc == nil || hc.TCP || hc.Path != "/health" || hc.Interval != time.Second || hc.Rise != 2 || hc.Fall != 2 {
		t.Fatalf("health check %+v", hc)
	}
	if b.Resilience.Outlier.ConsecutiveFailures == 0 {
		t.Fatal("passive ejection is off")
	}
	r := api.Retry
	if len(api.Methods) != 1 || api.Methods[0] != "GET" || r == nil || r.Attempts != 3 || !r.OnConnect || !r.OnReset ||
		!r.OnTimeout || !r.OnStatus || r.PerTryTimeout != time.Second || len(r.Statuses) != 3 ||
		!r.RetriesStatus(502) || !r.RetriesStatus(503) || !r.RetriesStatus(504) {
		t.Fatalf("methods %v retry %+v", api.Methods, r)
	}

	// Served: through a real listener (a free port instead of 8080).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	g := &gateway{t: t, srv: s, addr: ln.Addr().String()}
	g.client = newTestClient(g.addr)
	for i := 0; i < 9; i++ {
		if st, body, err := g.get("/r/x", nil); err != nil || st != 200 {
			t.Fatalf("request %d: %d %s %v", i, st, body, err)
		}
	}
}
