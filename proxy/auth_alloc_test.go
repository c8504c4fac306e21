//go:build !race

package proxy

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sluicegw/sluice/policy/casign"
)

// The zero-allocation rule of DESIGN.md with authentication in the
// pipeline: an API-key request, and a request whose JWT the verifier has
// already seen (answered from its token cache), through the real server and
// handler over in-memory connections.

const keyAuthConfig = `
[[consumers]]
name = "partner"
api_keys = ["bench-key-0123456789abcdef", "bench-key-2-0123456789abcdef"]
headers = { X-Consumer-Tier = "gold" }
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
[groups.apis.auth]
modes = ["key"]
allowed_consumers = ["partner"]
`

const keyAuthRequest = "GET /users/42?fields=name HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n" +
	"X-Api-Key: bench-key-2-0123456789abcdef\r\nX-Consumer-Name: spoofed\r\n\r\n"

func jwtAuthConfig(tb testing.TB) string {
	authKeys(tb)
	return `
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
[groups.apis.auth]
modes = ["jwt"]
allowed_consumers = ["alice"]
[groups.apis.auth.jwt]
issuer = "https://idp.example"
audiences = ["orders"]
forward_claims = { scope = "X-Scope" }
[[groups.apis.auth.jwt.keys]]
kid = "k1"
alg = "RS256"
pem = '''
` + pemPublic(tb, authRSA1) + `'''
`
}

func jwtAuthRequest(tb testing.TB) string {
	authKeys(tb)
	c := claimsNow("alice")
	c["scope"] = "read"
	tok := signJWT(tb, jwt.SigningMethodRS256, authRSA1, "k1", c)
	return "GET /users/42?fields=name HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n" +
		"Authorization: Bearer " + tok + "\r\n\r\n"
}

// hmacAuthConfig accepts requests without X-Ca-Nonce: the canned request is
// replayed on every run, which a nonce would (rightly) refuse.
const hmacAuthConfig = `
[[consumers]]
name = "partner"
[[consumers.apps]]
app_key = "bench-app"
app_secrets = ["bench-secret-0123456789"]
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
[groups.apis.auth]
modes = ["hmac"]
hmac = { allow_missing_nonce = true }
`

// hmacAuthRequest is signed without a nonce, which casign.Sign cannot do,
// so the string to sign is built from its parts.
func hmacAuthRequest(tb testing.TB) string {
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	in := &casign.Input{
		Method: []byte("GET"), Accept: []byte("*/*"), Path: []byte("/users/42"),
		Headers: []casign.Header{{Name: []byte("x-ca-key"), Value: []byte("bench-app")}, {Name: []byte("x-ca-timestamp"), Value: []byte(ts)}},
		Query:   []casign.Param{{Key: []byte("fields"), Value: []byte("name")}},
	}
	sig := casign.NewSecret([]byte("bench-secret-0123456789")).AppendSignature(nil, casign.HmacSHA256, casign.AppendStringToSign(nil, in))
	return "GET /users/42?fields=name HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n" +
		"X-Ca-Key: bench-app\r\nX-Ca-Timestamp: " + ts + "\r\nX-Ca-Signature-Headers: x-ca-key,x-ca-timestamp\r\n" +
		"X-Ca-Signature: " + string(sig) + "\r\n\r\n"
}

// assertZeroAllocs checks req passes (and that breaking its credential
// gives 401, so authentication is really on the path), then counts.
func assertZeroAllocs(t *testing.T, cfg, req, credential string) {
	t.Helper()
	s, up := newInmemPipeline(t, cfg)
	bad := &clientConn{req: []byte(strings.Replace(req, credential, credential[:len(credential)-2]+"xx", 1))}
	serveOne(t, s, bad)
	if string(bad.status) != "HTTP/1.1 401" || up.requests != 0 {
		t.Fatalf("broken credential: status line %q, upstream saw %d", bad.status, up.requests)
	}
	c := &clientConn{req: []byte(req)}
	for i := 0; i < 10; i++ {
		serveOne(t, s, c)
	}
	if string(c.status) != "HTTP/1.1 200" || up.requests != 10 {
		t.Fatalf("status line %q, upstream saw %d of 10", c.status, up.requests)
	}
	allocs := testing.AllocsPerRun(200, func() { serveOne(t, s, c) })
	if string(c.status) != "HTTP/1.1 200" {
		t.Fatalf("status line %q", c.status)
	}
	if allocs != 0 {
		t.Fatalf("%.1f allocations per request, want 0", allocs)
	}
}

func TestPipelineKeyAuthZeroAllocs(t *testing.T) {
	assertZeroAllocs(t, keyAuthConfig, keyAuthRequest, "bench-key-2-0123456789abcdef")
}

func TestPipelineJWTZeroAllocs(t *testing.T) {
	req := jwtAuthRequest(t)
	sig := req[strings.LastIndexByte(req, '.')+1 : strings.Index(req, "\r\n\r\n")]
	assertZeroAllocs(t, jwtAuthConfig(t), req, sig)
}

func TestPipelineHMACZeroAllocs(t *testing.T) {
	req := hmacAuthRequest(t)
	sig := req[strings.Index(req, "X-Ca-Signature: ")+16 : strings.Index(req, "\r\n\r\n")]
	assertZeroAllocs(t, hmacAuthConfig, req, sig)
}

func benchPipeline(b *testing.B, cfg, req string) {
	s, _ := newInmemPipeline(b, cfg)
	c := &clientConn{req: []byte(req)}
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

func BenchmarkPipelineKeyAuth(b *testing.B) { benchPipeline(b, keyAuthConfig, keyAuthRequest) }

func BenchmarkPipelineJWT(b *testing.B) { benchPipeline(b, jwtAuthConfig(b), jwtAuthRequest(b)) }

func BenchmarkPipelineHMAC(b *testing.B) { benchPipeline(b, hmacAuthConfig, hmacAuthRequest(b)) }
