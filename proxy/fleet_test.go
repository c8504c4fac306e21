package proxy

import (
	"net"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/policy"
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
