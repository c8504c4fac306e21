//go:build !race

package proxy

import "testing"

// requestLineAllocConfig trusts the in-memory client (127.0.0.1), so the
// X-Forwarded-For walk runs, and templates the client IP upstream.
const requestLineAllocConfig = `
[server]
trusted_proxies = ["127.0.0.0/8"]
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
[groups.apis.transform.request_headers]
set = { "X-Client-Ip" = "{client_ip}" }
`

// TestRequestLineZeroAllocs: the request-line, Host, Via and client-IP work
// of issue 10 (defects 9, 10, 12, 15) allocates nothing, on the forwarded
// path (HTTP/1.0 normalised to 1.1, a client Via list extended, a trusted
// X-Forwarded-For over two fields walked) and on each refusal.
func TestRequestLineZeroAllocs(t *testing.T) {
	cases := []struct{ name, req, status string }{
		{"forwarded HTTP/1.1", "GET /users/42 HTTP/1.1\r\nHost: api.example.com:8080\r\nVia: 1.0 fred, 1.1 sluice-0000000000000000\r\n" +
			"X-Forwarded-For: 203.0.113.9, 198.51.100.7\r\nX-Forwarded-For: 127.0.0.9\r\n\r\n", "HTTP/1.1 200"},
		{"forwarded HTTP/1.0", "GET /users/42 HTTP/1.0\r\nHost: [2001:db8::1]\r\nVia: 1.1 a\r\nVia: 1.1 b\r\n" +
			"X-Forwarded-For: 2001:db8::7\r\n\r\n", "HTTP/1.1 200"},
		{"505 version", "GET /users/42 HTTP/2.0\r\nHost: api.example.com\r\n\r\n", "HTTP/1.1 505"},
		{"400 userinfo", "GET /users/42 HTTP/1.1\r\nHost: good.test@evil.test\r\n\r\n", "HTTP/1.1 400"},
		{"400 bad port", "GET /users/42 HTTP/1.1\r\nHost: a:99999\r\n\r\n", "HTTP/1.1 400"},
		{"Connection fields", "GET /users/42 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-A\r\nConnection: X-B\r\n" +
			"X-A: 1\r\nX-B: 2\r\n\r\n", "HTTP/1.1 200"},
		{"508 loop", "GET /users/42 HTTP/1.1\r\nHost: a\r\nVia: 1.1 x, 1.1 " + string(viaMarker[:]) + "\r\n\r\n", "HTTP/1.1 508"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := newInmemPipeline(t, requestLineAllocConfig)
			conn := &clientConn{req: []byte(c.req)}
			for i := 0; i < 10; i++ {
				serveOne(t, s, conn)
			}
			allocs := testing.AllocsPerRun(200, func() { serveOne(t, s, conn) })
			if string(conn.status) != c.status {
				t.Fatalf("status line %q, want %q", conn.status, c.status)
			}
			if allocs != 0 {
				t.Fatalf("%.1f allocations per request, want 0", allocs)
			}
		})
	}
}
