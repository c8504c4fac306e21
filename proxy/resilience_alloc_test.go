//go:build !race

package proxy

import (
	"strings"
	"testing"
)

// resiliencePipelineConfig is BenchmarkPipeline's API with retries
// configured and the balancing policy POLICY over three targets (all
// answered by the in-memory upstream), breaker and limits on.
const resiliencePipelineConfig = `
[[backends]]
name = "users"
targets = [{ url = "http://users-a.internal:8000" }, { url = "http://users-b.internal:8000", weight = 2 }, { url = "http://users-c.internal:8000" }]
[backends.balance]
POLICY
[backends.breaker]
[backends.limits]
max_concurrent = 100
[[groups]]
name = "bench"
[[groups.apis]]
name = "get-user"
methods = ["GET"]
path = "/users/{id}"
backend = "users"
backend_path = "/v1/user?id={id}"
[groups.apis.retry]
attempts = 3
retry_on = ["connect_failure", "reset", "timeout", "status"]
per_try_timeout = "1s"
`

var resiliencePolicies = []struct{ name, table string }{
	{"round_robin", `policy = "round_robin"`},
	{"least_request", `policy = "least_request"`},
	{"maglev_client_ip", "policy = \"maglev\"\nhash_on = \"client_ip\""},
	{"maglev_path", "policy = \"maglev\"\nhash_on = \"path:id\""},
	{"ring_hash_header", "policy = \"ring_hash\"\nhash_on = \"header:User-Agent\""},
	{"random", `policy = "random"`},
	{"slow_start", "policy = \"round_robin\"\nslow_start = \"30s\""},
}

// Acceptance 8: a proxied request with retries configured (no failure)
// allocates nothing, under every balancing policy.
func TestPipelineResilienceZeroAllocs(t *testing.T) {
	for _, p := range resiliencePolicies {
		t.Run(p.name, func(t *testing.T) {
			s, up := newInmemPipeline(t, strings.Replace(resiliencePipelineConfig, "POLICY", p.table, 1))
			c := &clientConn{req: []byte(pipelineRequest)}
			for i := 0; i < 10; i++ {
				serveOne(t, s, c)
			}
			allocs := testing.AllocsPerRun(200, func() { serveOne(t, s, c) })
			if string(c.status) != "HTTP/1.1 200" {
				t.Fatalf("status line %q", c.status)
			}
			if allocs != 0 {
				t.Fatalf("%.1f allocations per request, want 0", allocs)
			}
			if up.requests < 210 {
				t.Fatalf("upstream saw %d requests", up.requests)
			}
		})
	}
}

// A canary split over two backends allocates nothing either.
func TestPipelineSplitZeroAllocs(t *testing.T) {
	cfg := strings.Replace(resiliencePipelineConfig, "POLICY", `policy = "least_request"`, 1) + `
[groups.apis.split]
backends = [{ backend = "users", weight = 95 }, { backend = "users-v2", weight = 5 }]
routes = [{ header = "X-Canary", value = "1", backend = "users-v2" }]
hash_on = "cookie:session"
[[backends]]
name = "users-v2"
targets = [{ url = "http://users-v2.internal:8000" }]
`
	s, _ := newInmemPipeline(t, cfg)
	c := &clientConn{req: []byte(strings.Replace(pipelineRequest, "Accept: */*\r\n", "Accept: */*\r\nCookie: session=abc\r\n", 1))}
	for i := 0; i < 10; i++ {
		serveOne(t, s, c)
	}
	if allocs := testing.AllocsPerRun(200, func() { serveOne(t, s, c) }); allocs != 0 {
		t.Fatalf("%.1f allocations per request, want 0", allocs)
	}
	if string(c.status) != "HTTP/1.1 200" {
		t.Fatalf("status line %q", c.status)
	}
}

// BenchmarkPipelineResilience is BenchmarkPipeline with retries, breaker
// and limits configured, per balancing policy (acceptance 8).
func BenchmarkPipelineResilience(b *testing.B) {
	for _, p := range resiliencePolicies {
		b.Run(p.name, func(b *testing.B) {
			s, _ := newInmemPipeline(b, strings.Replace(resiliencePipelineConfig, "POLICY", p.table, 1))
			c := &clientConn{req: []byte(pipelineRequest)}
			for i := 0; i < 10; i++ { // every target's pool dials its connection
				serveOne(b, s, c)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				serveOne(b, s, c)
			}
		})
	}
}
