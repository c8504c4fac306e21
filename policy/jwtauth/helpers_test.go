package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Test keys are generated once per test binary: RSA generation is slow.
var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	rsaKey2  *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	ec384Key *ecdsa.PrivateKey
	edKey    ed25519.PrivateKey
	hsSecret = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
)

func testKeys(tb testing.TB) {
	tb.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if ec384Key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
			panic(err)
		}
		if _, edKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
}

// testNow is the fixed clock of most tests.
const testNow = int64(1_800_000_000)

func baseClaims() jwt.MapClaims {
	return jwt.MapClaims{"sub": "user-1", "iat": testNow - 10, "exp": testNow + 600}
}

// sign produces a token with golang-jwt/jwt/v5, an implementation
// independent of the verifier under test.
func sign(tb testing.TB, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims, extra ...any) []byte {
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
		tb.Fatalf("sign: %v", err)
	}
	return []byte(s)
}

var enc = base64.RawURLEncoding

// signRawHS256 signs arbitrary header and payload JSON text with HMAC-SHA256,
// for tokens jwt/v5 would refuse to produce.
func signRawHS256(header, payload string, secret []byte) []byte {
	in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return []byte(in + "." + enc.EncodeToString(m.Sum(nil)))
}

// signRawHS256Input appends the HMAC-SHA256 signature to a signing input.
func signRawHS256Input(in []byte) []byte {
	m := hmac.New(sha256.New, hsSecret)
	m.Write(in)
	return append(append(append([]byte(nil), in...), '.'), enc.EncodeToString(m.Sum(nil))...)
}

// signRawRS256 signs arbitrary header and payload JSON text with RSA.
func signRawRS256(header, payload string, key *rsa.PrivateKey) []byte {
	in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	d := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	if err != nil {
		panic(err)
	}
	return []byte(in + "." + enc.EncodeToString(sig))
}

func pemOf(tb testing.TB, pub any) string {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func rsaJWK(pub *rsa.PublicKey, kid, alg string) string {
	e := big.NewInt(int64(pub.E)).Bytes()
	s := fmt.Sprintf(`{"kty":"RSA","kid":%q,"use":"sig","n":%q,"e":%q`, kid, enc.EncodeToString(pub.N.Bytes()), enc.EncodeToString(e))
	if alg != "" {
		s += fmt.Sprintf(`,"alg":%q`, alg)
	}
	return s + "}"
}

func ecJWK(tb testing.TB, pub *ecdsa.PublicKey, kid string) string {
	b, err := pub.Bytes()
	if err != nil {
		tb.Fatal(err)
	}
	n := (len(b) - 1) / 2
	return fmt.Sprintf(`{"kty":"EC","kid":%q,"crv":%q,"x":%q,"y":%q}`, kid, pub.Curve.Params().Name,
		enc.EncodeToString(b[1:1+n]), enc.EncodeToString(b[1+n:]))
}

func okpJWK(pub ed25519.PublicKey, kid string) string {
	return fmt.Sprintf(`{"kty":"OKP","kid":%q,"crv":"Ed25519","x":%q}`, kid, enc.EncodeToString(pub))
}

// jwksServer serves a JWKS document that tests can replace, over a real
// loopback socket, counting requests.
type jwksServer struct {
	*httptest.Server
	body  atomic.Pointer[string]
	hits  atomic.Int64
	delay atomic.Int64 // nanoseconds to stall each response
}

func newJWKSServer(tb testing.TB, keys ...string) *jwksServer {
	s := &jwksServer{}
	s.set(keys...)
	mux := http.NewServeMux()
	mux.HandleFunc("/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if d := s.delay.Load(); d > 0 {
			select {
			case <-time.After(time.Duration(d)):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(*s.body.Load()))
	})
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, s.URL, s.URL+"/jwks.json")
	})
	s.Server = httptest.NewServer(mux)
	tb.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(keys ...string) {
	b := `{"keys":[`
	for i, k := range keys {
		if i > 0 {
			b += ","
		}
		b += k
	}
	b += "]}"
	s.body.Store(&b)
}

func (s *jwksServer) url() string { return s.URL + "/jwks.json" }

func mustCompile(tb testing.TB, reg *Registry, cfg Config) *Verifier {
	tb.Helper()
	v, err := reg.Compile(cfg)
	if err != nil {
		tb.Fatalf("Compile: %v", err)
	}
	tb.Cleanup(v.Close)
	return v
}

func expectErr(tb testing.TB, v *Verifier, tok []byte, want error) {
	tb.Helper()
	if _, err := v.Verify(testNow, tok); err != want {
		tb.Fatalf("Verify(%.60s...) = %v, want %v", tok, err, want)
	}
}

func expectOK(tb testing.TB, v *Verifier, tok []byte) *Verified {
	tb.Helper()
	vd, err := v.Verify(testNow, tok)
	if err != nil {
		tb.Fatalf("Verify(%.60s...) = %v, want success", tok, err)
	}
	return vd
}
