//go:build !race

package jwtauth

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"
)

func TestAllocsCachedVerify(t *testing.T) {
	testKeys(t)
	v := mustCompile(t, NewRegistry(), Config{
		Keys:           []KeyConfig{{Kid: "k1", Alg: "RS256", PEM: pemOf(t, &rsaKey.PublicKey)}},
		Audiences:      []string{"api"},
		ForwardClaims:  map[string]string{"sub": "X-User-Id", "tenant": "X-Tenant"},
		RequiredClaims: []ClaimRule{{Claim: "scope", Contains: []string{"read"}}},
	})
	c := baseClaims()
	c["aud"], c["tenant"], c["scope"] = "api", "t-42", "read write"
	tok := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", c)
	expectOK(t, v, tok)

	var req fasthttp.Request
	req.Header.Set("Authorization", "Bearer "+string(tok))
	sub := v.ClaimIndex("sub")
	var sink int
	allocs := testing.AllocsPerRun(1000, func() {
		vd, err := v.Verify(testNow, Extract(&req, v.Source()))
		if err != nil {
			panic(err)
		}
		sink += len(vd.Claim(sub))
		v.ApplyForwards(&req.Header, vd)
	})
	if allocs != 0 {
		t.Fatalf("cached Verify + claims + forwards: %v allocs/op, want 0", allocs)
	}
	if sink == 0 || string(req.Header.Peek("X-Tenant")) != "t-42" {
		t.Fatal("claims not delivered")
	}

	// The cached 403 and expired answers do not allocate either.
	c["scope"] = "write"
	forbidden := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", c)
	if _, err := v.Verify(testNow, forbidden); err != ErrClaimRequired {
		t.Fatal(err)
	}
	allocs = testing.AllocsPerRun(1000, func() {
		if _, err := v.Verify(testNow, forbidden); err != ErrClaimRequired {
			panic(err)
		}
		if _, err := v.Verify(testNow+3600, tok); err != ErrTokenExpired {
			panic(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("cached 403/expired: %v allocs/op, want 0", allocs)
	}
}

func TestAllocsExtractAndErrors(t *testing.T) {
	v := hsVerifier(t, Config{})
	var req fasthttp.Request
	req.Header.Set("Authorization", "Basic abc")
	req.Header.SetCookie("session", "x.y.z")
	allocs := testing.AllocsPerRun(1000, func() {
		if Extract(&req, Source{}) != nil || Extract(&req, Source{Kind: SourceCookie, Name: "session"}) == nil {
			panic("extract")
		}
		if _, err := v.Verify(testNow, nil); err != ErrTokenMissing {
			panic(err)
		}
		_ = ErrTokenExpired.WWWAuthenticate()
	})
	if allocs != 0 {
		t.Fatalf("Extract/missing token: %v allocs/op, want 0", allocs)
	}
}
