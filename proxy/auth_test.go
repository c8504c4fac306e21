package proxy

// Authentication through the real gateway: config file, reloader, fasthttp
// listener on loopback and the bench origin's /echo, which reports the
// headers that reached the upstream. The verifiers have their own unit and
// attack tests (policy/casign, policy/jwtauth); these check the wiring:
// status, error code, challenge, what is removed or added before forwarding.

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sluicegw/sluice/bench/origin"
	"github.com/sluicegw/sluice/policy/casign"
	"github.com/valyala/fasthttp"
)

// Test RSA keys, generated once per test binary (generation is slow).
var (
	authKeysOnce sync.Once
	authRSA1     *rsa.PrivateKey
	authRSA2     *rsa.PrivateKey
)

func authKeys(tb testing.TB) {
	tb.Helper()
	authKeysOnce.Do(func() {
		var err error
		if authRSA1, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if authRSA2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
}

func pemPublic(tb testing.TB, k *rsa.PrivateKey) string {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func jwkPublic(k *rsa.PrivateKey, kid string) string {
	b64 := base64.RawURLEncoding
	return fmt.Sprintf(`{"kty":"RSA","kid":%q,"alg":"RS256","use":"sig","n":%q,"e":%q}`, kid,
		b64.EncodeToString(k.PublicKey.N.Bytes()), b64.EncodeToString(big.NewInt(int64(k.PublicKey.E)).Bytes()))
}

// claimsNow are valid claims for the gateway's real clock.
func claimsNow(sub string) jwt.MapClaims {
	now := time.Now().Unix()
	return jwt.MapClaims{"sub": sub, "iss": "https://idp.example", "aud": "orders", "iat": now - 5, "exp": now + 3600}
}

// signJWT signs with golang-jwt/jwt/v5, an implementation independent of
// the verifier; extra are header name/value pairs.
func signJWT(tb testing.TB, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims, extra ...any) string {
	tb.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	for i := 0; i+1 < len(extra); i += 2 {
		tok.Header[extra[i].(string)] = extra[i+1]
	}
	s, err := tok.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// echoOf decodes the origin's /echo answer, failing unless the status is 200.
func echoOf(t *testing.T, st int, body []byte) origin.Echo {
	t.Helper()
	if st != 200 {
		t.Fatalf("status %d, want 200: %s", st, body)
	}
	var e origin.Echo
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not an echo: %v: %s", err, body)
	}
	return e
}

// send sends a prepared request (already signed, maybe tampered) through the
// gateway and returns status, headers and body.
func send(t *testing.T, g *gateway, req *fasthttp.Request) (int, *fasthttp.ResponseHeader, []byte) {
	t.Helper()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := g.client.Do(req, resp); err != nil {
		t.Fatal(err)
	}
	h := &fasthttp.ResponseHeader{}
	resp.Header.CopyTo(h)
	return resp.StatusCode(), h, append([]byte(nil), resp.Body()...)
}

func wantHeader(t *testing.T, e origin.Echo, name, want string) {
	t.Helper()
	if got, ok := e.Headers[name]; !ok || got != want {
		t.Fatalf("upstream %s = %q (present %v), want %q; headers %v", name, got, ok, want, e.Headers)
	}
}

func wantNoHeader(t *testing.T, e origin.Echo, names ...string) {
	t.Helper()
	for _, n := range names {
		if v, ok := e.Headers[n]; ok {
			t.Fatalf("%s reached the upstream: %q", n, v)
		}
	}
}

const authBackend = `
[[backends]]
name = "origin"
targets = [{ url = "{{ORIGIN}}" }]
`

const (
	keyGold   = "gold-key-0123456789abcdef"
	keyGoldV2 = "gold-key-v2-0123456789abcdef" // rotation: a second key of the same consumer
	keyEnv    = "env-key-0123456789abcdefgh"
	keyFile   = "file-key-0123456789abcdefgh"
	keyNoNet  = "nonet-key-0123456789abcdef"
	keyLocal  = "local-key-0123456789abcdef"
)

func TestAuthKey(t *testing.T) {
	t.Setenv("SLUICE_TEST_API_KEY", keyEnv)
	keyPath := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyPath, []byte(keyFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, authBackend+`
[[consumers]]
name = "gold"
api_keys = ["`+keyGold+`", "`+keyGoldV2+`"]
headers = { X-Consumer-Tier = "gold" }
[[consumers]]
name = "from-env"
api_keys = ["env:SLUICE_TEST_API_KEY", "file:`+keyPath+`"]
[[consumers]]
name = "nonet"
api_keys = ["`+keyNoNet+`"]
allowed_cidrs = ["10.0.0.0/8"]
[[consumers]]
name = "local"
api_keys = ["`+keyLocal+`"]
allowed_cidrs = ["127.0.0.0/8", "::1/128"]

[[groups]]
name = "t"
[[groups.apis]]
name = "key"
path = "/key"
backend = "origin"
backend_path = "/echo"
[groups.apis.auth]
modes = ["key"]
key_query = "api_key"
[[groups.apis]]
name = "key-raw-path"
path = "/echo"
backend = "origin"
[groups.apis.auth]
modes = ["key"]
key_query = "api_key"
[[groups.apis]]
name = "key-fwd"
path = "/fwd"
backend = "origin"
backend_path = "/echo"
[groups.apis.auth]
modes = ["key"]
forward_credentials = true
[[groups.apis]]
name = "gold-only"
path = "/gold"
backend = "origin"
backend_path = "/echo"
[groups.apis.auth]
modes = ["key"]
allowed_consumers = ["gold"]
[[groups.apis]]
name = "key-or-anon"
path = "/open"
backend = "origin"
backend_path = "/echo"
[groups.apis.auth]
modes = ["key", "anonymous"]
key_header = "X-Partner-Key"
[[groups.apis]]
name = "no-auth"
path = "/plain"
backend = "origin"
backend_path = "/echo"
`)

	t.Run("missing key", func(t *testing.T) {
		st, h, body := g.do("GET", "/key", nil, nil)
		wantError(t, st, h, body, 401, CodeMissingCredentials)
		if got := string(h.Peek("WWW-Authenticate")); got != "ApiKey" {
			t.Fatalf("WWW-Authenticate %q, want ApiKey", got)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		for _, k := range []string{"nope", keyGold + "x", keyGold[:len(keyGold)-1], strings.ToUpper(keyGold)} {
			st, h, body := g.do("GET", "/key", map[string]string{"X-Api-Key": k}, nil)
			wantError(t, st, h, body, 401, CodeInvalidAPIKey)
			if got := string(h.Peek("WWW-Authenticate")); got != "ApiKey" {
				t.Fatalf("WWW-Authenticate %q, want ApiKey", got)
			}
		}
	})
	t.Run("every key of a consumer works, none is forwarded", func(t *testing.T) {
		for _, k := range []string{keyGold, keyGoldV2} {
			st, _, body := g.do("GET", "/key?x=1", map[string]string{"X-Api-Key": k, "X-Consumer-Name": "admin"}, nil)
			e := echoOf(t, st, body)
			wantHeader(t, e, "X-Consumer-Name", "gold")
			wantHeader(t, e, "X-Consumer-Tier", "gold")
			wantNoHeader(t, e, "X-Api-Key")
			if e.URI != "/echo?x=1" {
				t.Fatalf("upstream URI %q", e.URI)
			}
		}
	})
	t.Run("keys from env and file", func(t *testing.T) {
		for _, k := range []string{keyEnv, keyFile} {
			st, _, body := g.do("GET", "/key", map[string]string{"X-Api-Key": k}, nil)
			wantHeader(t, echoOf(t, st, body), "X-Consumer-Name", "from-env")
		}
	})
	t.Run("key in the query is removed before forwarding", func(t *testing.T) {
		for _, c := range []struct{ uri, want string }{
			{"/key?api_key=" + keyGold, "/echo"},
			{"/key?a=1&api_key=" + keyGold + "&b=2", "/echo?a=1&b=2"},
			{"/echo?api_key=" + keyGold, "/echo"},
			{"/echo?a=1&api_key=" + keyGold, "/echo?a=1"},
		} {
			st, _, body := g.do("GET", c.uri, nil, nil)
			e := echoOf(t, st, body)
			wantHeader(t, e, "X-Consumer-Name", "gold")
			if e.URI != c.want || strings.Contains(string(body), keyGold) {
				t.Fatalf("%s: upstream URI %q, want %q; body %s", c.uri, e.URI, c.want, body)
			}
		}
		st, h, body := g.do("GET", "/key?api_key=wrong-key-0123456789", nil, nil)
		wantError(t, st, h, body, 401, CodeInvalidAPIKey)
	})
	t.Run("forward_credentials keeps the key", func(t *testing.T) {
		st, _, body := g.do("GET", "/fwd", map[string]string{"X-Api-Key": keyGold}, nil)
		e := echoOf(t, st, body)
		wantHeader(t, e, "X-Api-Key", keyGold)
		wantHeader(t, e, "X-Consumer-Name", "gold")
	})
	t.Run("allowed_consumers", func(t *testing.T) {
		st, _, body := g.do("GET", "/gold", map[string]string{"X-Api-Key": keyGoldV2}, nil)
		wantHeader(t, echoOf(t, st, body), "X-Consumer-Name", "gold")
		st, h, body := g.do("GET", "/gold", map[string]string{"X-Api-Key": keyEnv}, nil)
		wantError(t, st, h, body, 403, CodeConsumerNotAllowed)
		if len(h.Peek("WWW-Authenticate")) != 0 {
			t.Fatal("403 must not challenge")
		}
	})
	t.Run("consumer allowed_cidrs", func(t *testing.T) {
		// No trusted proxies: X-Forwarded-For cannot move the client address.
		st, h, body := g.do("GET", "/key", map[string]string{"X-Api-Key": keyNoNet, "X-Forwarded-For": "10.1.2.3"}, nil)
		wantError(t, st, h, body, 403, CodeConsumerIPNotAllowed)
		st, _, body = g.do("GET", "/key", map[string]string{"X-Api-Key": keyLocal}, nil)
		wantHeader(t, echoOf(t, st, body), "X-Consumer-Name", "local")
	})
	t.Run("anonymous last", func(t *testing.T) {
		st, _, body := g.do("GET", "/open", map[string]string{"X-Consumer-Name": "gold", "X-Api-Key": "ignored-here"}, nil)
		e := echoOf(t, st, body)
		wantNoHeader(t, e, "X-Consumer-Name")
		wantHeader(t, e, "X-Api-Key", "ignored-here") // not this API's key header
		st, _, body = g.do("GET", "/open", map[string]string{"X-Partner-Key": keyGold}, nil)
		e = echoOf(t, st, body)
		wantHeader(t, e, "X-Consumer-Name", "gold")
		wantNoHeader(t, e, "X-Partner-Key")
		// A present but wrong credential fails; anonymous is no fallback for it.
		st, h, body := g.do("GET", "/open", map[string]string{"X-Partner-Key": "bad-key-0123456789abc"}, nil)
		wantError(t, st, h, body, 401, CodeInvalidAPIKey)
	})
	t.Run("client X-Consumer-Name never passes", func(t *testing.T) {
		st, _, body := g.do("GET", "/plain", map[string]string{"X-Consumer-Name": "gold"}, nil)
		wantNoHeader(t, echoOf(t, st, body), "X-Consumer-Name")
	})
}

// jwtAPIs is a JWT-protected API set trusting authRSA1 as kid k1.
func jwtAPIs(t *testing.T) string {
	return authBackend + `
[[groups]]
name = "t"
[[groups.apis]]
name = "jwt"
path = "/jwt"
backend = "origin"
backend_path = "/echo"
[groups.apis.auth]
modes = ["jwt"]
[groups.apis.auth.jwt]
issuer = "https://idp.example"
audiences = ["orders"]
forward_claims = { scope = "X-Scope" }
[[groups.apis.auth.jwt.keys]]
kid = "k1"
alg = "RS256"
pem = '''
` + pemPublic(t, authRSA1) + `'''
[[groups.apis]]
name = "jwt-admin"
path = "/admin"
backend = "origin"
backend_path = "/echo"
[groups.apis.auth]
modes = ["jwt"]
allowed_consumers = ["alice"]
forward_credentials = true
[groups.apis.auth.jwt]
issuer = "https://idp.example"
audiences = ["orders"]
required_claims = [{ claim = "scope", contains = ["admin"] }]
[[groups.apis.auth.jwt.keys]]
kid = "k1"
alg = "RS256"
pem = '''
` + pemPublic(t, authRSA1) + `'''
`
}

func TestAuthJWT(t *testing.T) {
	authKeys(t)
	g := startGateway(t, jwtAPIs(t))
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	good := func() jwt.MapClaims { return claimsNow("alice") }
	with := func(mod func(jwt.MapClaims)) jwt.MapClaims { c := good(); mod(c); return c }
	b64 := base64.RawURLEncoding

	t.Run("valid token", func(t *testing.T) {
		c := good()
		c["scope"] = "read write"
		tok := signJWT(t, jwt.SigningMethodRS256, authRSA1, "k1", c)
		for i := 0; i < 2; i++ { // the second answer comes from the token cache
			hdr := bearer(tok)
			hdr["X-Consumer-Name"], hdr["X-Scope"] = "root", "admin"
			st, _, body := g.do("GET", "/jwt", hdr, nil)
			e := echoOf(t, st, body)
			wantHeader(t, e, "X-Consumer-Name", "alice")
			wantHeader(t, e, "X-Scope", "read write")
			wantNoHeader(t, e, "Authorization")
		}
		// A forwarded claim the token lacks is removed, not taken from the client.
		st, _, body := g.do("GET", "/jwt", map[string]string{
			"Authorization": "Bearer " + signJWT(t, jwt.SigningMethodRS256, authRSA1, "k1", good()), "X-Scope": "admin"}, nil)
		wantNoHeader(t, echoOf(t, st, body), "X-Scope")
	})
	t.Run("missing token", func(t *testing.T) {
		for _, hdr := range []map[string]string{nil, {"Authorization": "Basic YTpi"}, {"Authorization": "Bearer "}} {
			st, h, body := g.do("GET", "/jwt", hdr, nil)
			wantError(t, st, h, body, 401, CodeMissingCredentials)
			if got := string(h.Peek("WWW-Authenticate")); got != `Bearer realm="sluice"` {
				t.Fatalf("WWW-Authenticate %q", got)
			}
		}
	})

	valid := signJWT(t, jwt.SigningMethodRS256, authRSA1, "k1", good())
	parts := strings.Split(valid, ".")
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	tampered := parts[0] + "." + b64.EncodeToString([]byte(strings.Replace(string(payload), `"alice"`, `"admin"`, 1))) + "." + parts[2]
	if tampered == valid {
		t.Fatal("tampering changed nothing")
	}
	none := b64.EncodeToString([]byte(`{"alg":"none","kid":"k1"}`)) + "." + parts[1] + "."
	noneSig := b64.EncodeToString([]byte(`{"alg":"none","kid":"k1"}`)) + "." + parts[1] + ".AAAA"
	now := time.Now().Unix()
	attacks := []struct {
		name, tok, code string
	}{
		{"alg none", none, "TokenMalformed"},
		{"alg none with signature", noneSig, "AlgNotAllowed"},
		{"HS256 keyed with the RSA public key", signJWT(t, jwt.SigningMethodHS256, []byte(pemPublic(t, authRSA1)), "k1", good()), "AlgNotAllowed"},
		{"unknown kid", signJWT(t, jwt.SigningMethodRS256, authRSA1, "k9", good()), "UnknownKid"},
		{"another key under kid k1", signJWT(t, jwt.SigningMethodRS256, authRSA2, "k1", good()), "BadSignature"},
		{"expired", signJWT(t, jwt.SigningMethodRS256, authRSA1, "k1", with(func(c jwt.MapClaims) { c["exp"] = now - 120 })), "TokenExpired"},
		{"not yet valid", signJWT(t, jwt.SigningMethodRS256, authRSA1, "k1", with(func(c jwt.MapClaims) { c["nbf"] = now + 120 })), "TokenNotYetValid"},
		{"wrong iss", signJWT(t, jwt.SigningMethodRS256, authRSA1, "k1", with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), "BadIssuer"},
		{"wrong aud", signJWT(t, jwt.SigningMethodRS256, authRSA1, "k1", with(func(c jwt.MapClaims) { c["aud"] = "billing" })), "BadAudience"},
		{"tampered payload", tampered, "BadSignature"},
		{"jku header", signJWT(t, jwt.SigningMethodRS256, authRSA1, "k1", good(), "jku", "http://127.0.0.1:1/jwks"), "ForbiddenHeader"},
		{"x5u header", signJWT(t, jwt.SigningMethodRS256, authRSA1, "k1", good(), "x5u", "http://127.0.0.1:1/cert"), "ForbiddenHeader"},
		{"embedded jwk header", signJWT(t, jwt.SigningMethodRS256, authRSA2, "k1", good(), "jwk", json.RawMessage(jwkPublic(authRSA2, "k1"))), "ForbiddenHeader"},
		{"garbage", "not.a.token", "TokenMalformed"},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			for i := 0; i < 2; i++ { // twice: a refusal is never cached as a success
				st, h, body := g.do("GET", "/jwt", bearer(a.tok), nil)
				wantError(t, st, h, body, 401, a.code)
				want := `Bearer realm="sluice", error="invalid_token", error_description="`
				if got := string(h.Peek("WWW-Authenticate")); !strings.HasPrefix(got, want) {
					t.Fatalf("WWW-Authenticate %q, want prefix %q", got, want)
				}
			}
		})
	}

	t.Run("required claim and allowed consumers: 403", func(t *testing.T) {
		c := good()
		c["scope"] = "read admin"
		st, _, body := g.do("GET", "/admin", bearer(signJWT(t, jwt.SigningMethodRS256, authRSA1, "k1", c)), nil)
		e := echoOf(t, st, body)
		wantHeader(t, e, "X-Consumer-Name", "alice")
		if !strings.HasPrefix(e.Headers["Authorization"], "Bearer ") {
			t.Fatalf("forward_credentials: Authorization %q", e.Headers["Authorization"])
		}

		st, h, body := g.do("GET", "/admin", bearer(signJWT(t, jwt.SigningMethodRS256, authRSA1, "k1", good())), nil)
		wantError(t, st, h, body, 403, "ClaimRequired")
		if got := string(h.Peek("WWW-Authenticate")); !strings.Contains(got, `error="insufficient_scope"`) {
			t.Fatalf("WWW-Authenticate %q", got)
		}

		c = claimsNow("mallory")
		c["scope"] = "admin"
		st, h, body = g.do("GET", "/admin", bearer(signJWT(t, jwt.SigningMethodRS256, authRSA1, "k1", c)), nil)
		wantError(t, st, h, body, 403, CodeConsumerNotAllowed)
	})
}

// jwksEndpoint serves a replaceable JWKS on loopback, counting fetches; down
// makes it answer 500.
type jwksEndpoint struct {
	*httptest.Server
	doc  atomic.Pointer[string]
	down atomic.Bool
	hits atomic.Int64
}

func newJWKSEndpoint(t *testing.T, keys ...string) *jwksEndpoint {
	e := &jwksEndpoint{}
	e.set(keys...)
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		if e.down.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(*e.doc.Load()))
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *jwksEndpoint) set(keys ...string) {
	s := `{"keys":[` + strings.Join(keys, ",") + `]}`
	e.doc.Store(&s)
}

func TestAuthJWKSRotation(t *testing.T) {
	authKeys(t)
	k1, k2 := jwkPublic(authRSA1, "k1"), jwkPublic(authRSA2, "k2")
	ep := newJWKSEndpoint(t, k1)
	const minGap = 300 * time.Millisecond
	g := startGateway(t, authBackend+`
[[groups]]
name = "t"
[[groups.apis]]
name = "jwks"
path = "/jwt"
backend = "origin"
backend_path = "/echo"
[groups.apis.auth]
modes = ["jwt"]
[groups.apis.auth.jwt]
jwks_url = "`+ep.URL+`/jwks"
refresh_interval = "1h"
min_refetch_interval = "300ms"
fetch_timeout = "2s"
`)
	call := func(tok string) (int, string, []byte) {
		st, _, body := g.do("GET", "/jwt", map[string]string{"Authorization": "Bearer " + tok}, nil)
		if st == 200 {
			return st, "", body
		}
		var e errorBody
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("status %d, error body is not JSON: %s", st, body)
		}
		return st, e.Error.Code, body
	}
	// Polls until the token gives want (200 or an error code).
	poll := func(tok, want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			st, code, body := call(tok)
			if (want == "200" && st == 200) || code == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("got %d %s, want %s: %s", st, code, want, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	tok1 := signJWT(t, jwt.SigningMethodRS256, authRSA1, "k1", claimsNow("one"))
	tok2 := signJWT(t, jwt.SigningMethodRS256, authRSA2, "k2", claimsNow("two"))
	tok3 := signJWT(t, jwt.SigningMethodRS256, authRSA2, "k3", claimsNow("three")) // a kid never published

	poll(tok1, "200") // the first request waits for the first fetch
	if st, code, _ := call(tok2); st != 401 || code != "UnknownKid" {
		t.Fatalf("k2 before rotation: %d %s", st, code)
	}

	// Rotation: k2 is published; one early refetch (rate-limited by
	// min_refetch_interval) picks it up.
	ep.set(k1, k2)
	before := ep.hits.Load()
	time.Sleep(minGap)
	poll(tok2, "200")
	if n := ep.hits.Load() - before; n != 1 {
		t.Fatalf("%d fetches to pick up the new key, want 1", n)
	}
	st, _, body := call(tok2)
	wantHeader(t, echoOf(t, st, body), "X-Consumer-Name", "two")
	if st, _, _ := call(tok1); st != 200 {
		t.Fatalf("k1 during rotation: %d", st)
	}

	// k1 is withdrawn. Its token is cached, so it keeps working until a
	// refresh happens; a token with an unknown kid forces one.
	ep.set(k2)
	deadline := time.Now().Add(5 * time.Second)
	for {
		time.Sleep(minGap)
		_, _, _ = call(tok3)
		if _, code, _ := call(tok1); code == "UnknownKid" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("token of a removed key still accepted")
		}
	}
	if st, _, _ := call(tok2); st != 200 {
		t.Fatalf("k2 after k1 was removed: %d", st)
	}

	// The endpoint fails: the last good keys keep working for cached and
	// new tokens alike.
	for i, stop := range []func(){func() { ep.down.Store(true) }, ep.Close} {
		stop()
		before := ep.hits.Load()
		time.Sleep(minGap)
		if _, code, _ := call(tok3); code != "UnknownKid" { // triggers a failing refetch
			t.Fatalf("unknown kid while the endpoint is down: %s", code)
		}
		if i == 0 && ep.hits.Load() == before { // a closed endpoint counts nothing
			t.Fatal("no refetch was attempted")
		}
		if st, _, _ := call(tok2); st != 200 {
			t.Fatalf("cached k2 token while the endpoint is down: %d", st)
		}
		fresh := signJWT(t, jwt.SigningMethodRS256, authRSA2, "k2", claimsNow(fmt.Sprintf("fresh-%d", before)))
		st, _, body := call(fresh)
		wantHeader(t, echoOf(t, st, body), "X-Consumer-Name", fmt.Sprintf("fresh-%d", before))
		if _, code, _ := call(tok1); code != "UnknownKid" {
			t.Fatalf("removed key back while the endpoint is down: %s", code)
		}
	}
}

const (
	appKey       = "app-1"
	appSecretOld = "app-secret-old-0123456789"
	appSecretNew = "app-secret-new-0123456789"
)

func hmacConfig(extra string) string {
	return authBackend + `
[[consumers]]
name = "partner"
headers = { X-Consumer-Tier = "silver" }
[[consumers.apps]]
app_key = "` + appKey + `"
app_secrets = ["` + appSecretOld + `", "env:SLUICE_TEST_APP_SECRET"]

[[groups]]
name = "t"
[[groups.apis]]
name = "hmac"
path = "/h/{p}"
backend = "origin"
backend_path = "/echo"
[groups.apis.auth]
modes = ["hmac"]
hmac = { window = "1m" }
[[groups.apis]]
name = "hmac-debug"
path = "/d/{p}"
backend = "origin"
backend_path = "/echo"
[groups.apis.auth]
modes = ["hmac"]
debug_signature = true
[[groups.apis]]
name = "hmac-fwd"
path = "/f"
backend = "origin"
backend_path = "/echo"
[groups.apis.auth]
modes = ["hmac"]
forward_credentials = true
` + extra
}

// signedReq builds a request to the gateway signed with casign.SignFastHTTP.
// The caller releases it.
func signedReq(t *testing.T, g *gateway, method, uri string, hdr map[string]string, body []byte, secret string, opts casign.SignOptions) *fasthttp.Request {
	t.Helper()
	req := fasthttp.AcquireRequest()
	req.Header.SetMethod(method)
	req.SetRequestURI("http://" + g.addr + uri)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if body != nil {
		req.SetBody(body)
	}
	if err := casign.SignFastHTTP(req, appKey, secret, opts); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestAuthHMAC(t *testing.T) {
	t.Setenv("SLUICE_TEST_APP_SECRET", appSecretNew)
	g := startGateway(t, hmacConfig(""))
	sign := func(method, uri string, hdr map[string]string, body []byte) *fasthttp.Request {
		return signedReq(t, g, method, uri, hdr, body, appSecretNew, casign.SignOptions{SignHeaders: []string{"X-Custom"}})
	}
	custom := map[string]string{"X-Custom": "v1", "X-Unsigned": "u"}

	t.Run("valid, both secrets, credentials removed", func(t *testing.T) {
		for _, secret := range []string{appSecretOld, appSecretNew} {
			req := signedReq(t, g, "GET", "/h/a?b=2&a=1", map[string]string{"X-Consumer-Name": "root"}, nil, secret, casign.SignOptions{})
			st, _, body := send(t, g, req)
			fasthttp.ReleaseRequest(req)
			e := echoOf(t, st, body)
			wantHeader(t, e, "X-Consumer-Name", "partner")
			wantHeader(t, e, "X-Consumer-Tier", "silver")
			wantNoHeader(t, e, "X-Ca-Key", "X-Ca-Signature", "X-Ca-Signature-Headers", "X-Ca-Signature-Method",
				"X-Ca-Timestamp", "X-Ca-Nonce")
			if e.URI != "/echo?b=2&a=1" {
				t.Fatalf("upstream URI %q", e.URI)
			}
		}
	})
	t.Run("forward_credentials keeps the signature headers", func(t *testing.T) {
		req := signedReq(t, g, "GET", "/f", nil, nil, appSecretOld, casign.SignOptions{})
		defer fasthttp.ReleaseRequest(req)
		st, _, body := send(t, g, req)
		e := echoOf(t, st, body)
		wantHeader(t, e, "X-Ca-Key", appKey)
		wantHeader(t, e, "X-Ca-Signature", string(req.Header.Peek("X-Ca-Signature")))
	})
	t.Run("replay", func(t *testing.T) {
		req := sign("POST", "/h/a?x=1", custom, []byte(`{"n":1}`))
		defer fasthttp.ReleaseRequest(req)
		again := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(again)
		req.CopyTo(again)
		st, _, body := send(t, g, req)
		echoOf(t, st, body)
		st, h, body := send(t, g, again)
		wantError(t, st, h, body, 401, "ReplayedNonce")
	})
	t.Run("window", func(t *testing.T) {
		for _, c := range []struct {
			skew time.Duration
			ok   bool
		}{{-30 * time.Second, true}, {30 * time.Second, true}, {-2 * time.Minute, false}, {2 * time.Minute, false}} {
			req := signedReq(t, g, "GET", "/h/a", nil, nil, appSecretNew, casign.SignOptions{Time: time.Now().Add(c.skew)})
			st, h, body := send(t, g, req)
			fasthttp.ReleaseRequest(req)
			if c.ok {
				echoOf(t, st, body)
			} else {
				wantError(t, st, h, body, 401, "StaleTimestamp")
			}
		}
	})
	t.Run("any signed part changed", func(t *testing.T) {
		body := []byte(`{"amount":10}`)
		hdr := map[string]string{"X-Custom": "v1", "X-Unsigned": "u", "Content-Type": "application/json"}
		cases := []struct {
			name   string
			tamper func(r *fasthttp.Request)
			status int
			code   string
		}{
			{"nothing (control)", func(r *fasthttp.Request) {}, 200, ""},
			{"unsigned header (control)", func(r *fasthttp.Request) { r.Header.Set("X-Unsigned", "changed") }, 200, ""},
			{"method", func(r *fasthttp.Request) { r.Header.SetMethod("PUT") }, 401, "BadSignature"},
			{"path", func(r *fasthttp.Request) { r.URI().SetPath("/h/b") }, 401, "BadSignature"},
			{"query value", func(r *fasthttp.Request) { r.URI().QueryArgs().Set("x", "2") }, 401, "BadSignature"},
			{"query added", func(r *fasthttp.Request) { r.URI().QueryArgs().Add("z", "1") }, 401, "BadSignature"},
			{"query removed", func(r *fasthttp.Request) { r.URI().QueryArgs().Del("x") }, 401, "BadSignature"},
			// Only the first value would be signed; the default refuses it
			// (casign: 400, before the signature is checked).
			{"query key repeated", func(r *fasthttp.Request) { r.URI().QueryArgs().Add("x", "3") }, 400, "DuplicateParameter"},
			{"signed header", func(r *fasthttp.Request) { r.Header.Set("X-Custom", "v2") }, 401, "BadSignature"},
			{"signed header removed", func(r *fasthttp.Request) { r.Header.Del("X-Custom") }, 401, "BadSignature"},
			{"content type", func(r *fasthttp.Request) { r.Header.SetContentType("text/plain") }, 401, "BadSignature"},
			{"timestamp", func(r *fasthttp.Request) {
				r.Header.Set("X-Ca-Timestamp", fmt.Sprint(time.Now().UnixMilli()+1))
			}, 401, "BadSignature"},
			{"nonce", func(r *fasthttp.Request) { r.Header.Set("X-Ca-Nonce", "other-nonce") }, 401, "BadSignature"},
			{"body and its Content-MD5", func(r *fasthttp.Request) {
				b := []byte(`{"amount":99}`)
				r.SetBody(b)
				sum := md5.Sum(b)
				r.Header.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
			}, 401, "BadSignature"},
			{"Content-MD5 dropped", func(r *fasthttp.Request) { r.Header.Del("Content-MD5") }, 401, "BadSignature"},
			// The signature covers Content-MD5, which no longer matches the body.
			{"body only", func(r *fasthttp.Request) { r.SetBody([]byte(`{"amount":99}`)) }, 400, "BodyDigestMismatch"},
			{"nonce removed", func(r *fasthttp.Request) { r.Header.Del("X-Ca-Nonce") }, 401, "MissingNonce"},
			{"signature removed", func(r *fasthttp.Request) { r.Header.Del("X-Ca-Signature") }, 401, "MissingSignature"},
			{"unknown app key", func(r *fasthttp.Request) { r.Header.Set("X-Ca-Key", "app-2") }, 401, "UnknownKey"},
			{"HmacSHA1 not enabled", func(r *fasthttp.Request) { r.Header.Set("X-Ca-Signature-Method", "HmacSHA1") }, 400, "UnsupportedMethod"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				req := sign("POST", "/h/a?x=1&y=2", hdr, body)
				defer fasthttp.ReleaseRequest(req)
				c.tamper(req)
				st, h, resp := send(t, g, req)
				if c.status == 200 {
					e := echoOf(t, st, resp)
					wantHeader(t, e, "X-Consumer-Name", "partner")
					return
				}
				wantError(t, st, h, resp, c.status, c.code)
				if len(h.Peek("X-Ca-Error-Message")) != 0 {
					t.Fatal("X-Ca-Error-Message without debug_signature")
				}
			})
		}
	})
	t.Run("form body is signed", func(t *testing.T) {
		hdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		req := signedReq(t, g, "POST", "/h/a", hdr, []byte("amount=10&to=bob"), appSecretNew, casign.SignOptions{})
		defer fasthttp.ReleaseRequest(req)
		if len(req.Header.Peek("Content-MD5")) != 0 {
			t.Fatal("a form body got Content-MD5")
		}
		again := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(again)
		req.CopyTo(again)
		again.SetBody([]byte("amount=99&to=bob"))
		st, h, body := send(t, g, again)
		wantError(t, st, h, body, 401, "BadSignature")
		st, _, body = send(t, g, req) // the refused attempt did not burn the nonce
		if e := echoOf(t, st, body); e.Body != "amount=10&to=bob" {
			t.Fatalf("upstream body %q", e.Body)
		}
	})
	t.Run("debug_signature", func(t *testing.T) {
		out := &casign.Outgoing{Method: "GET", URL: "http://" + g.addr + "/d/x?b=2&a=", Header: http.Header{"X-Custom": {"v"}}}
		s, err := casign.Sign(out, appKey, "wrong-secret-0123456789", casign.SignOptions{SignHeaders: []string{"X-Custom"}})
		if err != nil {
			t.Fatal(err)
		}
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		req.SetRequestURI(out.URL)
		for k, vs := range s.Header {
			req.Header.Set(k, vs[0])
		}
		st, h, body := send(t, g, req)
		wantError(t, st, h, body, 401, "BadSignature")
		want := casign.ErrorMessagePrefix + "`" + strings.ReplaceAll(s.StringToSign, "\n", "#") + "`"
		if got := string(h.Peek("X-Ca-Error-Message")); got != want {
			t.Fatalf("X-Ca-Error-Message\n got %q\nwant %q", got, want)
		}
		if !strings.HasPrefix(want, casign.ErrorMessagePrefix+"`GET####") || !strings.HasSuffix(want, "#/d/x?a&b=2`") {
			t.Fatalf("unexpected string to sign %q", want)
		}

		// Tampered method: the server's view shows it.
		req2 := signedReq(t, g, "GET", "/d/x", nil, nil, appSecretNew, casign.SignOptions{})
		defer fasthttp.ReleaseRequest(req2)
		req2.Header.SetMethod("DELETE")
		st, h, body = send(t, g, req2)
		wantError(t, st, h, body, 401, "BadSignature")
		if got := string(h.Peek("X-Ca-Error-Message")); !strings.HasPrefix(got, casign.ErrorMessagePrefix+"`DELETE#") {
			t.Fatalf("X-Ca-Error-Message %q", got)
		}
		// Only signature mismatches are explained.
		req3 := signedReq(t, g, "GET", "/d/x", nil, nil, appSecretNew, casign.SignOptions{Time: time.Now().Add(-time.Hour)})
		defer fasthttp.ReleaseRequest(req3)
		st, h, body = send(t, g, req3)
		wantError(t, st, h, body, 401, "StaleTimestamp")
		if v := h.Peek("X-Ca-Error-Message"); len(v) != 0 {
			t.Fatalf("X-Ca-Error-Message on a stale request: %q", v)
		}
	})
	t.Run("missing credentials", func(t *testing.T) {
		st, h, body := g.do("GET", "/h/a", nil, nil)
		wantError(t, st, h, body, 401, CodeMissingCredentials)
	})
}

func TestAuthModesInOrder(t *testing.T) {
	authKeys(t)
	t.Setenv("SLUICE_TEST_APP_SECRET", appSecretNew)
	g := startGateway(t, hmacConfig(`
[[groups.apis]]
name = "hmac-then-jwt"
path = "/both"
backend = "origin"
backend_path = "/echo"
[groups.apis.auth]
modes = ["hmac", "jwt"]
[groups.apis.auth.jwt]
issuer = "https://idp.example"
audiences = ["orders"]
[[groups.apis.auth.jwt.keys]]
kid = "k1"
alg = "RS256"
pem = '''
`+pemPublic(t, authRSA1)+`'''
`))
	tok := signJWT(t, jwt.SigningMethodRS256, authRSA1, "k1", claimsNow("bob"))

	// Only a bearer token: hmac finds no X-Ca-Key and passes to jwt.
	st, _, body := g.do("GET", "/both", map[string]string{"Authorization": "Bearer " + tok}, nil)
	e := echoOf(t, st, body)
	wantHeader(t, e, "X-Consumer-Name", "bob")
	wantNoHeader(t, e, "Authorization")

	// A bad signature decides, even with a valid token beside it.
	req := signedReq(t, g, "GET", "/both", map[string]string{"Authorization": "Bearer " + tok}, nil, "wrong-secret-0123456789", casign.SignOptions{})
	st, h, body := send(t, g, req)
	fasthttp.ReleaseRequest(req)
	wantError(t, st, h, body, 401, "BadSignature")

	// A good signature decides, whatever the token says.
	req = signedReq(t, g, "GET", "/both", map[string]string{"Authorization": "Bearer not-a-token"}, nil, appSecretOld, casign.SignOptions{})
	st, _, body = send(t, g, req)
	fasthttp.ReleaseRequest(req)
	wantHeader(t, echoOf(t, st, body), "X-Consumer-Name", "partner")

	// Neither: 401.
	st, h, body = g.do("GET", "/both", nil, nil)
	wantError(t, st, h, body, 401, CodeMissingCredentials)
	st, h, body = g.do("GET", "/both", map[string]string{"Authorization": "Bearer not.a.token"}, nil)
	wantError(t, st, h, body, 401, "TokenMalformed")
}
