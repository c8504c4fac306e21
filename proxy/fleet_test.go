package proxy

import (
	"net"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/policy"
	"github.com/sluicegw/sluice/store/ratelimit"
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
	return newFleetPipelineFrom(tb, fleetPipelineConfig, redisAddr, scope)
}

func newFleetPipelineFrom(tb testing.TB, cfg, redisAddr, scope string) (*Server, *Stores) {
	tb.Helper()
	cfg = strings.NewReplacer("{{REDIS}}", redisAddr, "{{SCOPE}}", scope).Replace(cfg)
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

// countingStore counts the Allow calls that reach a real store.
type countingStore struct {
	ratelimit.Store
	calls int
}

func (c *countingStore) Allow(now int64, reqs []ratelimit.Request) ratelimit.Decision {
	c.calls++
	return c.Store.Allow(now, reqs)
}

// capturingConn is a clientConn that keeps the whole answer.
type capturingConn struct {
	clientConn
	out []byte
}

func (c *capturingConn) Write(p []byte) (int, error) {
	c.out = append(c.out, p...)
	return c.clientConn.Write(p)
}

// newSplitServer serves cfg with scopes sent to fleet per the map, the
// other scopes to a local store; both are ratelimit.Local.
func newSplitServer(t *testing.T, cfg string, fleetScopes ...byte) (*Server, *countingStore, *countingStore) {
	t.Helper()
	mk := func() *countingStore {
		l, err := ratelimit.NewLocal(ratelimit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		return &countingStore{Store: l}
	}
	local, fleet := mk(), mk()
	f := &Fleet{Limits: fleet}
	for _, sc := range fleetScopes {
		f.Scopes[sc] = true
	}
	up := &upstreamConn{resp: []byte(cannedResponse)}
	s := New(Options{Dial: func(string) (net.Conn, error) { return up, nil }, Limits: local, Fleet: f})
	p, err := policy.Parse("split.toml", []byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(p); err != nil {
		t.Fatal(err)
	}
	s.httpServer()
	return s, local, fleet
}

const scopeSplitConfig = `
[[backends]]
name = "users"
targets = [{ url = "http://users.internal:8000" }]
[[groups]]
name = "g"
[[groups.apis]]
name = "a"
path = "/users/{id}"
backend = "users"
[groups.apis.rate_limit]
api = { rate = 0.001, burst = API }
consumer = { rate = 0.001, burst = CONSUMER }
client_ip = { rate = 0.001, burst = IP }
`

func serveCaptured(t *testing.T, s *Server) (status string, body string) {
	c := &capturingConn{clientConn: clientConn{req: []byte(pipelineRequest)}}
	if err := s.http.ServeConn(c); err != nil {
		t.Fatal(err)
	}
	return string(c.status), string(c.out)
}

// TestFleetSplitDeniedScopeIsNamed: when a fleet-scoped limit denies, the
// 429 names that scope although allowLimits reordered the requests (local
// ones first) to split them between the stores.
func TestFleetSplitDeniedScopeIsNamed(t *testing.T) {
	cfg := strings.NewReplacer("API", "100", "CONSUMER", "100", "IP", "1").Replace(scopeSplitConfig)
	// api and client_ip fleet, consumer local: the partition moves
	// consumer in front of api.
	s, local, fleet := newSplitServer(t, cfg, scopeAPI, scopeClientIP)
	if st, _ := serveCaptured(t, s); st != "HTTP/1.1 200" {
		t.Fatalf("first request: %s", st)
	}
	st, body := serveCaptured(t, s)
	if st != "HTTP/1.1 429" || !strings.Contains(body, "rate limit exceeded (client_ip)") {
		t.Fatalf("second request: %s %s, want 429 naming client_ip", st, body)
	}
	if local.calls != 2 || fleet.calls != 2 {
		t.Fatalf("local store called %d times, fleet %d, want 2 and 2", local.calls, fleet.calls)
	}
}

// TestFleetSplitLocalDenialSpendsNoFleetToken: local limits are checked
// first, and a request they refuse never reaches the fleet store.
func TestFleetSplitLocalDenialSpendsNoFleetToken(t *testing.T) {
	cfg := strings.NewReplacer("API", "100", "CONSUMER", "100", "IP", "1").Replace(scopeSplitConfig)
	s, local, fleet := newSplitServer(t, cfg, scopeAPI, scopeConsumer) // client_ip local
	serveCaptured(t, s)
	for range 3 {
		if st, body := serveCaptured(t, s); st != "HTTP/1.1 429" || !strings.Contains(body, "(client_ip)") {
			t.Fatalf("%s %s, want 429 naming client_ip", st, body)
		}
	}
	if local.calls != 4 || fleet.calls != 1 {
		t.Fatalf("local store called %d times, fleet %d, want 4 and 1 (denied locally, fleet untouched)", local.calls, fleet.calls)
	}
	// All scopes local or all fleet: one store, one call per request.
	s, local, fleet = newSplitServer(t, cfg)
	serveCaptured(t, s)
	s2, local2, fleet2 := newSplitServer(t, cfg, scopeAPI, scopeConsumer, scopeClientIP, scopeQuota)
	serveCaptured(t, s2)
	if local.calls != 1 || fleet.calls != 0 || local2.calls != 0 || fleet2.calls != 1 {
		t.Fatalf("single-store calls: local-only %d/%d, fleet-only %d/%d", local.calls, fleet.calls, local2.calls, fleet2.calls)
	}
}
