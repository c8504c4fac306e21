package jwtauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestHappyPathInlinePEMAndSecret(t *testing.T) {
	testKeys(t)
	rsaPEM := pemOf(t, &rsaKey.PublicKey)
	cases := []struct {
		m   jwt.SigningMethod
		key any
		kc  KeyConfig
	}{
		{jwt.SigningMethodHS256, hsSecret, KeyConfig{Alg: "HS256", Secret: string(hsSecret[:32])}},
		{jwt.SigningMethodHS384, hsSecret, KeyConfig{Alg: "HS384", Secret: string(hsSecret[:48])}},
		{jwt.SigningMethodHS512, hsSecret, KeyConfig{Alg: "HS512", Secret: string(hsSecret)}},
		{jwt.SigningMethodRS256, rsaKey, KeyConfig{Alg: "RS256", PEM: rsaPEM}},
		{jwt.SigningMethodRS384, rsaKey, KeyConfig{Alg: "RS384", PEM: rsaPEM}},
		{jwt.SigningMethodRS512, rsaKey, KeyConfig{Alg: "RS512", PEM: rsaPEM}},
		{jwt.SigningMethodPS256, rsaKey, KeyConfig{Alg: "PS256", PEM: rsaPEM}},
		{jwt.SigningMethodPS384, rsaKey, KeyConfig{Alg: "PS384", PEM: rsaPEM}},
		{jwt.SigningMethodPS512, rsaKey, KeyConfig{Alg: "PS512", PEM: rsaPEM}},
		{jwt.SigningMethodES256, ecKey, KeyConfig{PEM: pemOf(t, &ecKey.PublicKey)}},
		{jwt.SigningMethodES384, ec384Key, KeyConfig{PEM: pemOf(t, &ec384Key.PublicKey)}},
		{jwt.SigningMethodEdDSA, edKey, KeyConfig{PEM: pemOf(t, edKey.Public())}},
	}
	for _, c := range cases {
		t.Run(c.m.Alg(), func(t *testing.T) {
			key := c.key
			if s, ok := key.([]byte); ok {
				key = s[:len(c.kc.Secret)]
			}
			v := mustCompile(t, NewRegistry(), Config{Keys: []KeyConfig{c.kc}, ForwardClaims: map[string]string{"sub": "X-User"}})
			tok := sign(t, c.m, key, "", baseClaims())
			vd := expectOK(t, v, tok)
			if got := string(vd.Claim(v.ClaimIndex("sub"))); got != "user-1" {
				t.Fatalf("sub = %q", got)
			}
			// Uncached once more (fresh verifier), then a flipped
			// signature bit must fail.
			tok[len(tok)-3] ^= 1
			if _, err := v.Verify(testNow, tok); err == nil {
				t.Fatal("tampered signature accepted")
			}
		})
	}
}

func TestHappyPathInlineJWK(t *testing.T) {
	testKeys(t)
	cases := []struct {
		name string
		m    jwt.SigningMethod
		key  any
		kc   KeyConfig
		kid  string
	}{
		{"rsa-alg-in-jwk", jwt.SigningMethodPS256, rsaKey, KeyConfig{JWK: rsaJWK(&rsaKey.PublicKey, "r1", "PS256")}, "r1"},
		{"rsa-alg-in-config", jwt.SigningMethodRS512, rsaKey, KeyConfig{Alg: "RS512", JWK: rsaJWK(&rsaKey.PublicKey, "r1", "")}, "r1"},
		{"ec256", jwt.SigningMethodES256, ecKey, KeyConfig{JWK: ecJWK(t, &ecKey.PublicKey, "e1")}, "e1"},
		{"ec384-kid-override", jwt.SigningMethodES384, ec384Key, KeyConfig{Kid: "cfg", JWK: ecJWK(t, &ec384Key.PublicKey, "e2")}, "cfg"},
		{"okp", jwt.SigningMethodEdDSA, edKey, KeyConfig{JWK: okpJWK(edKey.Public().(ed25519.PublicKey), "o1")}, "o1"},
		{"oct", jwt.SigningMethodHS256, hsSecret, KeyConfig{JWK: fmt.Sprintf(`{"kty":"oct","kid":"h1","alg":"HS256","k":%q}`, enc.EncodeToString(hsSecret))}, "h1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := mustCompile(t, NewRegistry(), Config{Keys: []KeyConfig{c.kc}})
			expectOK(t, v, sign(t, c.m, c.key, c.kid, baseClaims()))
			expectErr(t, v, sign(t, c.m, c.key, "other", baseClaims()), ErrUnknownKid)
		})
	}
}

func TestMultipleInlineKeysByKid(t *testing.T) {
	testKeys(t)
	v := mustCompile(t, NewRegistry(), Config{Keys: []KeyConfig{
		{Kid: "a", Alg: "RS256", PEM: pemOf(t, &rsaKey.PublicKey)},
		{Kid: "b", Alg: "RS256", PEM: pemOf(t, &rsaKey2.PublicKey)},
	}})
	expectOK(t, v, sign(t, jwt.SigningMethodRS256, rsaKey, "a", baseClaims()))
	expectOK(t, v, sign(t, jwt.SigningMethodRS256, rsaKey2, "b", baseClaims()))
	// Right kid, wrong key: the kid selects, the signature decides.
	expectErr(t, v, sign(t, jwt.SigningMethodRS256, rsaKey2, "a", baseClaims()), ErrBadSignature)
	// No kid: tried against both RS256 keys.
	expectOK(t, v, sign(t, jwt.SigningMethodRS256, rsaKey2, "", baseClaims()))
}

func TestJWKS(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, rsaJWK(&rsaKey.PublicKey, "r1", ""), ecJWK(t, &ecKey.PublicKey, "e1"),
		okpJWK(edKey.Public().(ed25519.PublicKey), "o1"), `{"kty":"RSA","use":"enc","kid":"x","n":"AQAB","e":"AQAB"}`,
		fmt.Sprintf(`{"kty":"oct","kid":"h","alg":"HS256","k":%q}`, enc.EncodeToString(hsSecret)))
	reg := NewRegistry()
	v := mustCompile(t, reg, Config{JWKSURL: srv.url(), RSAAlg: "PS384"})
	if !v.RemoteKeys().WaitReady(5 * time.Second) {
		t.Fatalf("keys not loaded: %v", v.RemoteKeys().LastError())
	}
	if n := len(v.RemoteKeys().Keys()); n != 3 {
		t.Fatalf("loaded %d keys, want 3 (enc and oct keys skipped)", n)
	}
	expectOK(t, v, sign(t, jwt.SigningMethodPS384, rsaKey, "r1", baseClaims()))
	expectErr(t, v, sign(t, jwt.SigningMethodRS256, rsaKey, "r1", baseClaims()), ErrAlgNotAllowed)
	expectOK(t, v, sign(t, jwt.SigningMethodES256, ecKey, "e1", baseClaims()))
	expectOK(t, v, sign(t, jwt.SigningMethodEdDSA, edKey, "o1", baseClaims()))
	// A symmetric key published in a JWKS is never used.
	expectErr(t, v, sign(t, jwt.SigningMethodHS256, hsSecret, "h", baseClaims()), ErrUnknownKid)
}

func TestOIDCDiscovery(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, ecJWK(t, &ecKey.PublicKey, "e1"))
	v := mustCompile(t, NewRegistry(), Config{OIDCIssuer: srv.URL, Audiences: []string{"api"}})
	if !v.RemoteKeys().WaitReady(5 * time.Second) {
		t.Fatalf("keys not loaded: %v", v.RemoteKeys().LastError())
	}
	c := baseClaims()
	c["iss"], c["aud"] = srv.URL, []string{"other", "api"}
	expectOK(t, v, sign(t, jwt.SigningMethodES256, ecKey, "e1", c))
	c["iss"] = srv.URL + "/evil"
	expectErr(t, v, sign(t, jwt.SigningMethodES256, ecKey, "e1", c), ErrBadIssuer)
}

func TestOIDCIssuerMismatchLoadsNoKeys(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, ecJWK(t, &ecKey.PublicKey, "e1"))
	// The document names srv.URL as issuer; we configure it with a slash.
	v := mustCompile(t, NewRegistry(), Config{OIDCIssuer: srv.URL + "/", MinRefetchInterval: Duration(time.Hour), RefreshInterval: Duration(time.Hour)})
	if v.RemoteKeys().WaitReady(300 * time.Millisecond) {
		t.Fatal("keys loaded although discovery names another issuer")
	}
	if v.RemoteKeys().LastError() == nil {
		t.Fatal("no fetch error recorded")
	}
	c := baseClaims()
	c["iss"] = srv.URL + "/"
	expectErr(t, v, sign(t, jwt.SigningMethodES256, ecKey, "e1", c), ErrKeysUnavailable)
}

func TestVerifierUsesInlineAndRemote(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, ecJWK(t, &ecKey.PublicKey, "e1"))
	v := mustCompile(t, NewRegistry(), Config{JWKSURL: srv.url(), Keys: []KeyConfig{{Kid: "local", Alg: "RS256", PEM: pemOf(t, &rsaKey.PublicKey)}}})
	v.RemoteKeys().WaitReady(5 * time.Second)
	expectOK(t, v, sign(t, jwt.SigningMethodRS256, rsaKey, "local", baseClaims()))
	expectOK(t, v, sign(t, jwt.SigningMethodES256, ecKey, "e1", baseClaims()))
}

var _ = []any{(*rsa.PublicKey)(nil), (*ecdsa.PublicKey)(nil)}
