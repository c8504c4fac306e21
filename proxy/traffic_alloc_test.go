//go:build !race

package proxy

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/sluicegw/sluice/policy"
)

// fullChainConfig turns on every request step that exists: IP access
// control, CORS, API-key authentication, three rate limits (generous, so the
// benchmark is never throttled), three validated parameters and two
// request-header transforms.
const fullChainConfig = `
[[consumers]]
name = "acme"
api_keys = ["bench-api-key-0123456789abcdef"]

[[backends]]
name = "users"
targets = [{ url = "http://users.internal:8000" }]

[[groups]]
name = "bench"
[groups.ip_access]
allow = ["127.0.0.0/8", "10.0.0.0/8"]
deny = ["127.0.0.2"]
[groups.cors]
allow_origins = ["https://app.example.com"]
expose_headers = ["X-Request-Id"]

[[groups.apis]]
name = "get-user"
methods = ["GET"]
path = "/users/{id}"
backend = "users"
backend_path = "/v1/user?id={id}"
[groups.apis.auth]
modes = ["key"]
[groups.apis.rate_limit]
api = { rate = 1000000, burst = 1000000 }
consumer = { rate = 1000000, burst = 1000000 }
client_ip = { rate = 1000000, burst = 1000000 }
[[groups.apis.params.params]]
name = "limit"
in = "query"
type = "int"
min = 1
max = 100
[[groups.apis.params.params]]
name = "X-Channel"
in = "header"
type = "enum"
values = ["web", "ios", "android"]
[[groups.apis.params.params]]
name = "id"
in = "path"
regex = "[0-9]{1,12}"
[groups.apis.transform.request_headers]
set = { "X-User-Id" = "{path.id}", "X-Consumer" = "{consumer}" }
`

const fullChainRequest = "GET /users/42?limit=10 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench\r\n" +
	"Accept: */*\r\nOrigin: https://app.example.com\r\nX-Api-Key: bench-api-key-0123456789abcdef\r\n" +
	"X-Channel: web\r\n\r\n"

// TestPipelineFullChainZeroAllocs is acceptance point 5: with every traffic
// step on, a proxied request still allocates nothing in steady state.
func TestPipelineFullChainZeroAllocs(t *testing.T) {
	s, up := newInmemPipeline(t, fullChainConfig)
	c := &clientConn{req: []byte(fullChainRequest)}
	for i := 0; i < 10; i++ {
		serveOne(t, s, c)
	}
	before := up.requests
	allocs := testing.AllocsPerRun(200, func() { serveOne(t, s, c) })
	if string(c.status) != "HTTP/1.1 200" {
		t.Fatalf("status line %q: the full chain must pass", c.status)
	}
	if up.requests-before < 200 {
		t.Fatalf("upstream saw %d of 200+ requests", up.requests-before)
	}
	if allocs != 0 {
		t.Fatalf("%.1f allocations per request through the full chain, want 0", allocs)
	}
}

// TestPipelineFullChainDenials keeps the chain honest: the same
// request without its key or with a bad parameter is
// answered by the gateway (the upstream sees nothing).
func TestPipelineFullChainDenials(t *testing.T) {
	s, up := newInmemPipeline(t, fullChainConfig)
	for _, c := range []struct{ req, status string }{
		{"GET /users/42?limit=10 HTTP/1.1\r\nHost: a\r\nX-Channel: web\r\n\r\n", "HTTP/1.1 401"},
		{"GET /users/42?limit=1000 HTTP/1.1\r\nHost: a\r\nX-Api-Key: bench-api-key-0123456789abcdef\r\nX-Channel: web\r\n\r\n", "HTTP/1.1 400"},
		{"GET /users/42?limit=10 HTTP/1.1\r\nHost: a\r\nX-Api-Key: bench-api-key-0123456789abcdef\r\nX-Channel: tv\r\n\r\n", "HTTP/1.1 400"},
		{"GET /users/4x2 HTTP/1.1\r\nHost: a\r\nX-Api-Key: bench-api-key-0123456789abcdef\r\nX-Channel: web\r\n\r\n", "HTTP/1.1 400"},
	} {
		cc := &clientConn{req: []byte(c.req)}
		serveOne(t, s, cc)
		if string(cc.status) != c.status {
			t.Fatalf("%q: status line %q, want %q", c.req, cc.status, c.status)
		}
	}
	if up.requests != 0 {
		t.Fatalf("upstream saw %d denied requests", up.requests)
	}
}

// recordingUpstream keeps what the gateway sent upstream.
type recordingUpstream struct {
	*upstreamConn
	mu   sync.Mutex
	sent []byte
}

func (r *recordingUpstream) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.sent = append(r.sent, p...)
	r.mu.Unlock()
	return r.upstreamConn.Write(p)
}

// recordingClient keeps the whole answer.
type recordingClient struct {
	*clientConn
	got []byte
}

func (c *recordingClient) Write(p []byte) (int, error) {
	c.got = append(c.got, p...)
	return c.clientConn.Write(p)
}

// TestPipelineFullChainRunsEveryStep checks that the zero-allocation chain
// above really does the work: the upstream sees the transformed headers and
// the consumer's identity without the key, and the client gets the CORS and
// RateLimit headers.
func TestPipelineFullChainRunsEveryStep(t *testing.T) {
	up := &recordingUpstream{upstreamConn: &upstreamConn{resp: []byte(cannedResponse)}}
	s := New(Options{Dial: func(string) (net.Conn, error) { return up, nil }})
	p, err := policy.Parse("bench.toml", []byte(fullChainConfig))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(p); err != nil {
		t.Fatal(err)
	}
	s.httpServer()
	c := &recordingClient{clientConn: &clientConn{req: []byte(fullChainRequest)}}
	c.reset()
	if err := s.http.ServeConn(c); err != nil {
		t.Fatal(err)
	}
	sent, got := string(up.sent), string(c.got)
	for _, want := range []string{"GET /v1/user?id=42&limit=10 HTTP/1.1\r\n", "\r\nX-User-Id: 42\r\n",
		"\r\nX-Consumer: acme\r\n", "\r\nX-Consumer-Name: acme\r\n", "\r\nX-Channel: web\r\n"} {
		if !strings.Contains(sent, want) {
			t.Errorf("upstream request lacks %q:\n%s", want, sent)
		}
	}
	if strings.Contains(sent, "bench-api-key") {
		t.Errorf("the API key was forwarded upstream:\n%s", sent)
	}
	for _, want := range []string{"HTTP/1.1 200 OK\r\n", "\r\nAccess-Control-Allow-Origin: https://app.example.com\r\n",
		"\r\nVary: Origin\r\n", "\r\nRatelimit-Limit: 1000000\r\n", "\r\nRatelimit-Remaining: "} {
		if !strings.Contains(got, want) {
			t.Errorf("answer lacks %q:\n%s", want, got)
		}
	}
}

func BenchmarkPipelineFullChain(b *testing.B) {
	s, _ := newInmemPipeline(b, fullChainConfig)
	c := &clientConn{req: []byte(fullChainRequest)}
	serveOne(b, s, c)
	if string(c.status) != "HTTP/1.1 200" {
		b.Fatalf("status line %q", c.status)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		serveOne(b, s, c)
	}
}
