package casign

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/store/nonce"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustVerifier(t testing.TB, cfg Config, keys KeyStore) *Verifier {
	t.Helper()
	if keys == nil {
		keys = testKeys()
	}
	v, err := NewVerifier(cfg, keys, nonce.NewLocal(nonce.Config{MaxEntries: 4096, Shards: 4}))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func testKeys() StaticKeys {
	return StaticKeys{
		"app-1": {Consumer: "alice", Secrets: []*Secret{NewSecret([]byte("secret-1"))}},
		// Rotation: old and new secret both valid.
		"app-2": {Consumer: "bob", Secrets: []*Secret{NewSecret([]byte("old-secret")), NewSecret([]byte("new-secret"))}},
	}
}

type reqSpec struct {
	method, uri string
	headers     [][2]string
	body        string
}

// signed builds a client request, signs it with SignFastHTTP and returns it
// as the server parses it off the wire.
func signed(t testing.TB, s reqSpec, key, secret string, opts SignOptions) *fasthttp.Request {
	t.Helper()
	req := &fasthttp.Request{}
	req.Header.SetMethod(s.method)
	req.SetRequestURI("http://api.example.com" + s.uri)
	for _, h := range s.headers {
		req.Header.Set(h[0], h[1])
	}
	if s.body != "" {
		req.SetBodyString(s.body)
	}
	if opts.Time.IsZero() {
		opts.Time = t0
	}
	if err := SignFastHTTP(req, key, secret, opts); err != nil {
		t.Fatal(err)
	}
	return wire(t, req)
}

func verify(v *Verifier, req *fasthttp.Request, now time.Time) (*Credential, error) {
	r := AcquireRequest()
	defer ReleaseRequest(r)
	return v.VerifyFastHTTP(r, req, now.UnixNano())
}

var roundTrips = []struct {
	name string
	spec reqSpec
	opts SignOptions
}{
	{"GET with query", reqSpec{method: "GET", uri: "/v1/users?limit=10&offset=20&sort=name"}, SignOptions{}},
	{"GET with Accept and Date", reqSpec{method: "GET", uri: "/v1/users?x=1", headers: [][2]string{
		{"Accept", "application/json"}, {"Date", "Sun, 01 Mar 2026 12:00:00 GMT"}}}, SignOptions{}},
	{"POST form body", reqSpec{method: "POST", uri: "/v1/orders?src=web", headers: [][2]string{
		{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}}, body: "item=42&qty=3&note=two+words"}, SignOptions{}},
	{"POST JSON with Content-MD5", reqSpec{method: "POST", uri: "/v1/orders", headers: [][2]string{
		{"Content-Type", "application/json"}}, body: `{"item":42,"qty":3}`}, SignOptions{}},
	{"signed custom headers", reqSpec{method: "PUT", uri: "/v1/items/7", headers: [][2]string{
		{"X-Tenant", "acme"}, {"X-Request-Id", "r-1"}, {"X-Ca-Stage", "RELEASE"}}, body: "raw"},
		SignOptions{SignHeaders: []string{"X-Tenant", "x-request-id", "Host"}}},
	{"empty values", reqSpec{method: "GET", uri: "/v1/search?q=&flag&x=1", headers: [][2]string{
		{"X-Empty", ""}}}, SignOptions{SignHeaders: []string{"X-Empty"}}},
	{"unicode", reqSpec{method: "POST", uri: "/v1/%E6%96%87%E4%BB%B6?name=%E6%9D%8E%E9%9B%B7&emoji=%F0%9F%98%80", headers: [][2]string{
		{"Content-Type", "application/x-www-form-urlencoded"}}, body: "city=%E5%8C%97%E4%BA%AC&%C3%A9=1"}, SignOptions{}},
	{"HmacSHA1 enabled", reqSpec{method: "DELETE", uri: "/v1/items/7"}, SignOptions{Algorithm: HmacSHA1}},
}

func TestSignVerifyRoundTrip(t *testing.T) {
	v := mustVerifier(t, Config{AllowHmacSHA1: true}, nil)
	for i, tc := range roundTrips {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.Nonce = "round-trip-" + string(rune('a'+i))
			req := signed(t, tc.spec, "app-1", "secret-1", opts)
			cred, err := verify(v, req, t0.Add(time.Minute))
			if err != nil {
				r := AcquireRequest()
				v.LoadFastHTTP(r, req)
				t.Fatalf("verify: %v\nserver string to sign: %s", err, DebugStringToSign(&r.Input))
			}
			if cred.Consumer != "alice" {
				t.Fatalf("consumer = %q", cred.Consumer)
			}
		})
	}
}

// TestSignedHeadersAreListed checks what Sign puts on the wire.
func TestSignedHeadersAreListed(t *testing.T) {
	req := signed(t, reqSpec{method: "POST", uri: "/p", headers: [][2]string{{"Content-Type", "application/json"}, {"X-Tenant", "t"}},
		body: "hello world"}, "app-1", "secret-1", SignOptions{SignHeaders: []string{"X-Tenant", "Accept"}, Nonce: "n"})
	if got, want := string(req.Header.Peek(HeaderSignatureHeaders)), "x-ca-key,x-ca-nonce,x-ca-signature-method,x-ca-timestamp,x-tenant"; got != want {
		t.Errorf("X-Ca-Signature-Headers = %q, want %q", got, want)
	}
	if got := string(req.Header.Peek("Content-MD5")); got != "XrY7u+Ae7tCTyyK7j1rNww==" {
		t.Errorf("Content-MD5 = %q", got)
	}
	if got := string(req.Header.Peek(HeaderTimestamp)); got != "1772366400000" {
		t.Errorf("X-Ca-Timestamp = %q", got)
	}
	if got := string(req.Header.Peek(HeaderSignatureMethod)); got != "HmacSHA256" {
		t.Errorf("X-Ca-Signature-Method = %q", got)
	}
}

func TestSignErrors(t *testing.T) {
	out := &Outgoing{Method: "GET", URL: "/p"}
	if _, err := Sign(out, "", "s", SignOptions{}); err == nil {
		t.Error("Sign without key succeeded")
	}
	if _, err := Sign(out, "k", "", SignOptions{}); err == nil {
		t.Error("Sign without secret succeeded")
	}
	if _, err := Sign(out, "k", "s", SignOptions{SignHeaders: []string{"X-Absent"}}); err == nil {
		t.Error("Sign with an absent header to sign succeeded")
	}
	if _, err := Sign(out, "k", "s", SignOptions{Algorithm: 9}); err == nil {
		t.Error("Sign with unknown algorithm succeeded")
	}
}

// mutate applies f to a freshly signed request before verification.
func mutate(t *testing.T, spec reqSpec, opts SignOptions, f func(*fasthttp.Request)) *fasthttp.Request {
	req := signed(t, spec, "app-1", "secret-1", opts)
	if f != nil {
		f(req)
	}
	return wire(t, req)
}

var (
	getSpec  = reqSpec{method: "GET", uri: "/v1/users?limit=10&offset=20&sort=name", headers: [][2]string{{"X-Tenant", "acme"}}}
	jsonSpec = reqSpec{method: "POST", uri: "/v1/orders", headers: [][2]string{{"Content-Type", "application/json"}}, body: `{"a":1}`}
	formSpec = reqSpec{method: "POST", uri: "/v1/orders", headers: [][2]string{{"Content-Type", "application/x-www-form-urlencoded"}}, body: "a=1&b=2"}
)

func TestVerifyFailures(t *testing.T) {
	tenant := SignOptions{SignHeaders: []string{"X-Tenant"}}
	cases := []struct {
		name string
		spec reqSpec
		opts SignOptions
		f    func(*fasthttp.Request)
		now  time.Time
		want *Error
	}{
		{"missing key", getSpec, tenant, func(r *fasthttp.Request) { r.Header.Del(HeaderKey) }, t0, ErrMissingKey},
		{"missing signature", getSpec, tenant, func(r *fasthttp.Request) { r.Header.Del(HeaderSignature) }, t0, ErrMissingSignature},
		{"unknown key", getSpec, tenant, func(r *fasthttp.Request) { r.Header.Set(HeaderKey, "nobody") }, t0, ErrUnknownKey},
		{"tampered method", getSpec, tenant, func(r *fasthttp.Request) { r.Header.SetMethod("DELETE") }, t0, ErrBadSignature},
		{"tampered path", getSpec, tenant, func(r *fasthttp.Request) {
			r.SetRequestURI("/v1/admins?limit=10&offset=20&sort=name")
		}, t0, ErrBadSignature},
		{"tampered query", getSpec, tenant, func(r *fasthttp.Request) {
			r.SetRequestURI("/v1/users?limit=1000&offset=20&sort=name")
		}, t0, ErrBadSignature},
		{"added query param", getSpec, tenant, func(r *fasthttp.Request) {
			r.SetRequestURI("/v1/users?limit=10&offset=20&sort=name&admin=1")
		}, t0, ErrBadSignature},
		{"tampered signed header", getSpec, tenant, func(r *fasthttp.Request) { r.Header.Set("X-Tenant", "evil") }, t0, ErrBadSignature},
		{"dropped name from signed list", getSpec, tenant, func(r *fasthttp.Request) {
			r.Header.Set(HeaderSignatureHeaders, "x-ca-key,x-ca-nonce,x-ca-signature-method,x-ca-timestamp")
		}, t0, ErrBadSignature},
		{"tampered signature", getSpec, tenant, func(r *fasthttp.Request) {
			s := []byte(string(r.Header.Peek(HeaderSignature)))
			s[0] ^= 1
			r.Header.SetBytesV(HeaderSignature, s)
		}, t0, ErrBadSignature},
		{"tampered Accept", getSpec, tenant, func(r *fasthttp.Request) { r.Header.Set("Accept", "text/html") }, t0, ErrBadSignature},
		{"tampered JSON body with Content-MD5", jsonSpec, SignOptions{}, func(r *fasthttp.Request) {
			r.SetBodyString(`{"a":2}`)
		}, t0, ErrBodyDigestMismatch},
		{"tampered Content-MD5", jsonSpec, SignOptions{}, func(r *fasthttp.Request) {
			r.Header.Set("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==")
		}, t0, ErrBadSignature},
		{"tampered form body", formSpec, SignOptions{}, func(r *fasthttp.Request) { r.SetBodyString("a=1&b=3") }, t0, ErrBadSignature},
		{"stale timestamp, past", getSpec, tenant, nil, t0.Add(15*time.Minute + time.Millisecond), ErrStaleTimestamp},
		{"stale timestamp, future", getSpec, tenant, nil, t0.Add(-15*time.Minute - time.Millisecond), ErrStaleTimestamp},
		{"invalid timestamp", getSpec, tenant, func(r *fasthttp.Request) { r.Header.Set(HeaderTimestamp, "17e11") }, t0, ErrInvalidTimestamp},
		{"missing timestamp", getSpec, tenant, func(r *fasthttp.Request) { r.Header.Del(HeaderTimestamp) }, t0, ErrMissingTimestamp},
		{"stale Date", reqSpec{method: "GET", uri: "/", headers: [][2]string{{"Date", "Sun, 01 Mar 2026 11:00:00 GMT"}}}, SignOptions{},
			func(r *fasthttp.Request) { r.Header.Del(HeaderTimestamp) }, t0, ErrStaleTimestamp},
		{"invalid Date", reqSpec{method: "GET", uri: "/", headers: [][2]string{{"Date", "Sunday, 01-Mar-26 12:00:00 GMT"}}}, SignOptions{},
			func(r *fasthttp.Request) { r.Header.Del(HeaderTimestamp) }, t0, ErrInvalidTimestamp},
		{"missing nonce", getSpec, tenant, func(r *fasthttp.Request) { r.Header.Del(HeaderNonce) }, t0, ErrMissingNonce},
		{"nonce too long", getSpec, SignOptions{Nonce: strings.Repeat("n", MaxNonceLen+1)}, nil, t0, ErrInvalidNonce},
		{"HmacSHA1 not enabled", getSpec, SignOptions{Algorithm: HmacSHA1}, nil, t0, ErrUnsupportedMethod},
		{"unknown method", getSpec, tenant, func(r *fasthttp.Request) { r.Header.Set(HeaderSignatureMethod, "HmacMD5") }, t0, ErrUnsupportedMethod},
		{"duplicate query key", reqSpec{method: "GET", uri: "/p?a=1&a=2"}, SignOptions{}, nil, t0, ErrDuplicateParameter},
		{"key in query and form", reqSpec{method: "POST", uri: "/p?a=1", headers: [][2]string{{"Content-Type", "application/x-www-form-urlencoded"}},
			body: "a=2"}, SignOptions{}, nil, t0, ErrDuplicateParameter},
		{"too many params", reqSpec{method: "GET", uri: "/p?" + manyParams(DefaultMaxParams+1)}, SignOptions{}, nil, t0, ErrTooManyParameters},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := mustVerifier(t, Config{}, nil)
			req := mutate(t, tc.spec, tc.opts, tc.f)
			_, err := verify(v, req, tc.now)
			if err != tc.want {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Code() != tc.want.Code() {
				t.Fatalf("errors.As / code mismatch: %v", err)
			}
		})
	}
}

func manyParams(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString("p")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteByte(byte('a' + i%26))
		b.WriteString("=1")
	}
	return b.String()
}

// TestVerifyWithinWindow pins the window edges and the Date fallback.
func TestVerifyWithinWindow(t *testing.T) {
	v := mustVerifier(t, Config{Window: time.Minute}, nil)
	for i, now := range []time.Time{t0.Add(time.Minute), t0.Add(-time.Minute)} {
		req := signed(t, getSpec, "app-1", "secret-1", SignOptions{Nonce: "edge-" + string(rune('0'+i))})
		if _, err := verify(v, req, now); err != nil {
			t.Fatalf("at window edge %v: %v", now.Sub(t0), err)
		}
	}
	req := signed(t, getSpec, "app-1", "secret-1", SignOptions{Nonce: "late"})
	if _, err := verify(v, req, t0.Add(time.Minute+time.Millisecond)); err != ErrStaleTimestamp {
		t.Fatalf("past a 1m window: %v", err)
	}
	dated := reqSpec{method: "GET", uri: "/", headers: [][2]string{{"Date", "Sun, 01 Mar 2026 12:00:30 GMT"}}}
	req = signedWithout(t, dated, HeaderTimestamp)
	if _, err := verify(v, req, t0); err != nil {
		t.Fatalf("Date fallback: %v", err)
	}
}

func TestReplayedNonce(t *testing.T) {
	v := mustVerifier(t, Config{}, nil)
	req := signed(t, getSpec, "app-1", "secret-1", SignOptions{Nonce: "once"})
	if _, err := verify(v, req, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := verify(v, req, t0.Add(time.Second)); err != ErrReplayedNonce {
		t.Fatalf("second identical request: %v, want ReplayedNonce", err)
	}
	// The same nonce under another app key is a different nonce.
	req2 := signed(t, getSpec, "app-2", "new-secret", SignOptions{Nonce: "once"})
	if _, err := verify(v, req2, t0); err != nil {
		t.Fatalf("same nonce, other key: %v", err)
	}
}

// TestBadSignatureDoesNotBurnNonce: a forged request must not consume the
// nonce of the genuine one that follows.
func TestBadSignatureDoesNotBurnNonce(t *testing.T) {
	v := mustVerifier(t, Config{}, nil)
	req := signed(t, getSpec, "app-1", "secret-1", SignOptions{Nonce: "precious"})
	forged := wire(t, req)
	forged.Header.Set(HeaderSignature, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	if _, err := verify(v, forged, t0); err != ErrBadSignature {
		t.Fatalf("forged: %v", err)
	}
	if _, err := verify(v, req, t0); err != nil {
		t.Fatalf("genuine after forged: %v", err)
	}
}

func TestSecretRotation(t *testing.T) {
	v := mustVerifier(t, Config{}, nil)
	for i, secret := range []string{"old-secret", "new-secret"} {
		req := signed(t, getSpec, "app-2", secret, SignOptions{Nonce: "rot-" + string(rune('0'+i))})
		cred, err := verify(v, req, t0)
		if err != nil || cred.Consumer != "bob" {
			t.Fatalf("signed with %s: %v", secret, err)
		}
	}
	req := signed(t, getSpec, "app-2", "retired-secret", SignOptions{Nonce: "rot-x"})
	if _, err := verify(v, req, t0); err != ErrBadSignature {
		t.Fatalf("retired secret: %v", err)
	}
}

func TestAllowOptions(t *testing.T) {
	v := mustVerifier(t, Config{AllowDuplicateParams: true}, nil)
	req := signed(t, reqSpec{method: "GET", uri: "/p?a=1&a=2"}, "app-1", "secret-1", SignOptions{Nonce: "dup"})
	if _, err := verify(v, req, t0); err != nil {
		t.Fatalf("AllowDuplicateParams: %v", err)
	}

	keys := testKeys()
	vn, err := NewVerifier(Config{AllowMissingNonce: true}, keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	req = signedWithout(t, getSpec, HeaderNonce)
	if _, err := verify(vn, req, t0); err != nil {
		t.Fatalf("AllowMissingNonce: %v", err)
	}
	if _, err := NewVerifier(Config{}, keys, nil); err == nil {
		t.Fatal("NewVerifier without nonce store and with nonces required succeeded")
	}
	if _, err := NewVerifier(Config{}, nil, nonce.NewLocal(nonce.Config{MaxEntries: 1})); err == nil {
		t.Fatal("NewVerifier without KeyStore succeeded")
	}
}

// signedWithout signs spec by hand with header drop removed from both the
// request and the signed list.
func signedWithout(t *testing.T, spec reqSpec, drop string) *fasthttp.Request {
	t.Helper()
	req := signed(t, spec, "app-1", "secret-1", SignOptions{})
	req.Header.Del(drop)
	var names []string
	for _, n := range strings.Split(string(req.Header.Peek(HeaderSignatureHeaders)), ",") {
		if !strings.EqualFold(n, drop) {
			names = append(names, n)
		}
	}
	req.Header.Set(HeaderSignatureHeaders, strings.Join(names, ","))
	resign(t, req, false)
	return wire(t, req)
}

// resign recomputes X-Ca-Signature of a server-side request with secret-1.
func resign(t *testing.T, req *fasthttp.Request, asListed bool) {
	t.Helper()
	v := mustVerifier(t, Config{}, nil)
	r := AcquireRequest()
	defer ReleaseRequest(r)
	v.LoadFastHTTP(r, req)
	r.HeaderNamesAsListed = asListed
	sts := AppendStringToSign(nil, &r.Input)
	req.Header.Set(HeaderSignature, refMAC(HmacSHA256, "secret-1", string(sts)))
}

func TestUnsignedProtocolHeaders(t *testing.T) {
	v := mustVerifier(t, Config{}, nil)
	for _, name := range []string{HeaderNonce, HeaderTimestamp} {
		req := signed(t, getSpec, "app-1", "secret-1", SignOptions{Nonce: "u-" + name})
		var names []string
		for _, n := range strings.Split(string(req.Header.Peek(HeaderSignatureHeaders)), ",") {
			if !strings.EqualFold(n, name) {
				names = append(names, n)
			}
		}
		req.Header.Set(HeaderSignatureHeaders, strings.Join(names, ","))
		resign(t, req, false) // a valid signature that does not cover name
		if _, err := verify(v, wire(t, req), t0); err != ErrUnsignedHeader {
			t.Fatalf("%s unsigned: %v, want UnsignedHeader", name, err)
		}
	}
}

func TestTooManySignedHeaders(t *testing.T) {
	v := mustVerifier(t, Config{MaxSignedHeaders: 5}, nil)
	req := signed(t, getSpec, "app-1", "secret-1", SignOptions{Nonce: "hdrs"})
	req.Header.Set(HeaderSignatureHeaders, "a,b,c,d,e,f,x-ca-nonce,x-ca-timestamp")
	if _, err := verify(v, req, t0); err != ErrTooManySignedHeaders {
		t.Fatalf("err = %v", err)
	}
}

// TestListedHeaderCase: a first-generation SDK writes "X-Ca-Key:" lines.
func TestListedHeaderCase(t *testing.T) {
	spec := reqSpec{method: "GET", uri: "/p?z=1"}
	build := func(nonce string) *fasthttp.Request {
		req := signed(t, spec, "app-1", "secret-1", SignOptions{Nonce: nonce})
		req.Header.Set(HeaderSignatureHeaders, "X-Ca-Timestamp,X-Ca-Key,X-Ca-Nonce,X-Ca-Signature-Method")
		resign(t, req, true)
		return wire(t, req)
	}
	strict := mustVerifier(t, Config{}, nil)
	if _, err := verify(strict, build("legacy-1"), t0); err != ErrBadSignature {
		t.Fatalf("legacy case, strict verifier: %v", err)
	}
	lenient := mustVerifier(t, Config{AcceptListedHeaderCase: true}, nil)
	if _, err := verify(lenient, build("legacy-2"), t0); err != nil {
		t.Fatalf("legacy case, lenient verifier: %v", err)
	}
	// Colon-separated list, as one Alibaba page shows it, verifies the same.
	req := signed(t, spec, "app-1", "secret-1", SignOptions{Nonce: "colons"})
	req.Header.Set(HeaderSignatureHeaders, "x-ca-key:x-ca-nonce:x-ca-signature-method:x-ca-timestamp")
	if _, err := verify(strict, req, t0); err != nil {
		t.Fatalf("colon-separated list: %v", err)
	}
}

// TestDebugAfterBadSignature: after a mismatch the server string to sign is
// available for X-Ca-Error-Message and names the tampered part.
func TestDebugAfterBadSignature(t *testing.T) {
	v := mustVerifier(t, Config{}, nil)
	req := mutate(t, getSpec, SignOptions{Nonce: "dbg"}, func(r *fasthttp.Request) { r.Header.SetMethod("PATCH") })
	r := AcquireRequest()
	defer ReleaseRequest(r)
	if _, err := v.VerifyFastHTTP(r, req, t0.UnixNano()); err != ErrBadSignature {
		t.Fatalf("err = %v", err)
	}
	got := string(AppendDebugStringToSign([]byte(ErrorMessagePrefix+"`"), &r.Input)) + "`"
	want := ErrorMessagePrefix + "`PATCH#####x-ca-key:app-1#x-ca-nonce:dbg#x-ca-signature-method:HmacSHA256#x-ca-timestamp:1772366400000#/v1/users?limit=10&offset=20&sort=name`"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestErrorCodesDistinct(t *testing.T) {
	all := []*Error{ErrMissingKey, ErrMissingSignature, ErrUnknownKey, ErrBadSignature, ErrUnsupportedMethod,
		ErrMissingTimestamp, ErrInvalidTimestamp, ErrStaleTimestamp, ErrMissingNonce, ErrInvalidNonce,
		ErrReplayedNonce, ErrUnsignedHeader, ErrBodyDigestMismatch, ErrDuplicateParameter,
		ErrTooManyParameters, ErrTooManySignedHeaders}
	seen := map[string]bool{}
	for _, e := range all {
		if seen[e.Code()] || e.Code() == "" || e.Reason() == "" || (e.Status() != 400 && e.Status() != 401) {
			t.Errorf("bad or duplicate error %v", e)
		}
		seen[e.Code()] = true
	}
}

func TestSecretRedacted(t *testing.T) {
	s := NewSecret([]byte("hunter2"))
	for _, str := range []string{s.String(), s.GoString()} {
		if strings.Contains(str, "hunter2") {
			t.Fatal("secret printed")
		}
	}
}
