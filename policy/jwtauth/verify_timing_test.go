package jwtauth

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func benchVerifier(b *testing.B, cacheSize int) (*Verifier, map[string][]byte) {
	testKeys(b)
	v := mustCompile(b, NewRegistry(), Config{
		Keys: []KeyConfig{
			{Kid: "rs", Alg: "RS256", PEM: pemOf(b, &rsaKey.PublicKey)},
			{Kid: "es", PEM: pemOf(b, &ecKey.PublicKey)},
			{Kid: "ed", PEM: pemOf(b, edKey.Public())},
			{Kid: "hs", Alg: "HS256", Secret: string(hsSecret)},
		},
		Audiences:     []string{"api"},
		ForwardClaims: map[string]string{"sub": "X-User-Id"},
		CacheSize:     cacheSize,
	})
	c := baseClaims()
	c["aud"], c["scope"] = "api", "read write"
	return v, map[string][]byte{
		"RS256": sign(b, jwt.SigningMethodRS256, rsaKey, "rs", c),
		"ES256": sign(b, jwt.SigningMethodES256, ecKey, "es", c),
		"EdDSA": sign(b, jwt.SigningMethodEdDSA, edKey, "ed", c),
		"HS256": sign(b, jwt.SigningMethodHS256, hsSecret, "hs", c),
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	v, toks := benchVerifier(b, 0)
	tok := toks["RS256"]
	expectOK(b, v, tok)
	sub := v.ClaimIndex("sub")
	b.ReportAllocs()
	b.SetBytes(int64(len(tok)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		vd, err := v.Verify(testNow, tok)
		if err != nil || vd.Claim(sub) == nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCachedParallel(b *testing.B) {
	v, toks := benchVerifier(b, 0)
	tok := toks["RS256"]
	expectOK(b, v, tok)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(testNow, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkVerifyUncached(b *testing.B) {
	v, toks := benchVerifier(b, -1)
	for _, alg := range []string{"RS256", "ES256", "EdDSA", "HS256"} {
		b.Run(alg, func(b *testing.B) {
			tok := toks[alg]
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := v.Verify(testNow, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseToken(b *testing.B) {
	_, toks := benchVerifier(b, -1)
	tok := toks["RS256"]
	b.ReportAllocs()
	var t token
	for i := 0; i < b.N; i++ {
		if err := parseToken(&t, tok); err != nil {
			b.Fatal(err)
		}
		t.reset()
	}
}
