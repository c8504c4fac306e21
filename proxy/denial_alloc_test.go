//go:build !race

package proxy

import (
	"strings"
	"testing"
)

// The zero-allocation rule holds on the denial paths too: errors are what an
// attacker can make the gateway produce at will, so a 401, 403, 404, 405,
// 413 or 429 must cost no more than a success.

const denialConfig = `
[server]
max_body_size = "1KiB"
[[consumers]]
name = "partner"
api_keys = ["denial-key-0123456789abcdef"]
[[backends]]
name = "users"
targets = [{ url = "http://users.internal:8000" }]
[[groups]]
name = "bench"
[groups.cors]
allow_origins = ["https://app.example.com"]
[[groups.apis]]
name = "keyed"
methods = ["GET"]
path = "/keyed"
backend = "users"
[groups.apis.auth]
modes = ["key"]
[[groups.apis]]
name = "denied"
path = "/denied"
backend = "users"
[groups.apis.ip_access]
deny = ["127.0.0.0/8"]
[[groups.apis]]
name = "limited"
path = "/limited"
backend = "users"
[groups.apis.rate_limit]
api = { rate = 1, burst = 1 }
client_ip = { rate = 1, burst = 1 }
headers = true
[[groups.apis]]
name = "post"
methods = ["POST"]
path = "/post"
backend = "users"
`

func TestDenialPathsZeroAllocs(t *testing.T) {
	s, up := newInmemPipeline(t, denialConfig)
	cases := []struct {
		name, req, status string
	}{
		{"401 missing key", "GET /keyed HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\n\r\n", "HTTP/1.1 401"},
		{"401 bad key", "GET /keyed HTTP/1.1\r\nHost: a\r\nX-Api-Key: wrong-key-0123456789abcdef\r\n\r\n", "HTTP/1.1 401"},
		{"403 ip denied", "GET /denied HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\n\r\n", "HTTP/1.1 403"},
		{"404 no route", "GET /nowhere/at/all HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 404"},
		{"405 wrong method", "DELETE /keyed HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 405"},
		{"413 body too large", "POST /post HTTP/1.1\r\nHost: a\r\nContent-Length: 4096\r\n\r\n" + strings.Repeat("x", 4096), "HTTP/1.1 413"},
		{"429 throttled", "GET /limited HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\n\r\n", "HTTP/1.1 429"},
		{"204 preflight", "OPTIONS /keyed HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\nAccess-Control-Request-Method: GET\r\n\r\n", "HTTP/1.1 204"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &clientConn{req: []byte(tc.req)}
			for i := 0; i < 5; i++ { // warm: pools, buckets spent down to denial
				serveOne(t, s, c)
			}
			before := up.requests
			allocs := testing.AllocsPerRun(200, func() { serveOne(t, s, c) })
			if string(c.status) != tc.status {
				t.Fatalf("status line %q, want %q", c.status, tc.status)
			}
			if up.requests != before {
				t.Fatalf("a denied request reached the upstream")
			}
			if allocs != 0 {
				t.Fatalf("%.1f allocations per denied request, want 0", allocs)
			}
		})
	}
}
