package jwtauth

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func hsVerifier(t *testing.T, cfg Config) *Verifier {
	cfg.Keys = []KeyConfig{{Alg: "HS256", Secret: string(hsSecret)}}
	return mustCompile(t, NewRegistry(), cfg)
}

func hsToken(t *testing.T, c jwt.MapClaims) []byte {
	return sign(t, jwt.SigningMethodHS256, hsSecret, "", c)
}

func TestTimeClaimsLeeway(t *testing.T) {
	v := hsVerifier(t, Config{Leeway: Duration(30e9)})
	at := func(now int64, c jwt.MapClaims) error {
		_, err := v.Verify(now, hsToken(t, c))
		return err
	}
	c := jwt.MapClaims{"exp": testNow}
	if err := at(testNow+29, c); err != nil {
		t.Fatalf("exp within leeway: %v", err)
	}
	if err := at(testNow+30, c); err != ErrTokenExpired {
		t.Fatalf("exp at the leeway edge: %v", err)
	}
	// Fractional NumericDate: valid while now < exp + leeway.
	if err := at(testNow+30, jwt.MapClaims{"exp": float64(testNow) + 0.5}); err != nil {
		t.Fatalf("fractional exp: %v", err)
	}
	if err := at(testNow-30, jwt.MapClaims{"exp": testNow + 10, "nbf": testNow}); err != nil {
		t.Fatalf("nbf within leeway: %v", err)
	}
	if err := at(testNow-31, jwt.MapClaims{"exp": testNow + 10, "nbf": testNow}); err != ErrTokenNotYetValid {
		t.Fatalf("nbf beyond leeway: %v", err)
	}
	if err := at(testNow, jwt.MapClaims{"exp": 1e300}); err != nil {
		t.Fatalf("far-future exp: %v", err)
	}
	if err := at(testNow, jwt.MapClaims{"exp": -1e300}); err != ErrTokenExpired {
		t.Fatalf("far-past exp: %v", err)
	}
	// The cache must apply the same expiry: verify once, then ask again
	// after expiry.
	tok := hsToken(t, jwt.MapClaims{"exp": testNow + 100})
	if _, err := v.Verify(testNow, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(testNow+129, tok); err != nil {
		t.Fatalf("cached, within leeway: %v", err)
	}
	if _, err := v.Verify(testNow+130, tok); err != ErrTokenExpired {
		t.Fatalf("cached, expired: %v", err)
	}

	v2 := hsVerifier(t, Config{AllowMissingExp: true})
	if _, err := v2.Verify(testNow, hsToken(t, jwt.MapClaims{"sub": "x"})); err != nil {
		t.Fatalf("allow_missing_exp: %v", err)
	}
}

func TestAudienceAndIssuer(t *testing.T) {
	v := hsVerifier(t, Config{Issuer: "https://i/", Audiences: []string{"a", "b"}})
	ok := []jwt.MapClaims{
		{"iss": "https://i/", "aud": "a"},
		{"iss": "https://i/", "aud": []string{"x", "b"}},
	}
	for _, c := range ok {
		c["exp"] = testNow + 60
		expectOK(t, v, hsToken(t, c))
	}
	// Escaped forms of the same strings are equal after decoding.
	expectOK(t, v, signRawHS256(`{"alg":"HS256"}`, `{"iss":"https:\/\/i\/","aud":"\u0061","exp":1800000060}`, hsSecret))
	bad := []struct {
		c    jwt.MapClaims
		want error
	}{
		{jwt.MapClaims{"iss": "https://i/", "aud": "c"}, ErrBadAudience},
		{jwt.MapClaims{"iss": "https://i/", "aud": []string{}}, ErrBadAudience},
		{jwt.MapClaims{"iss": "https://i/"}, ErrBadAudience},
		{jwt.MapClaims{"iss": "https://i", "aud": "a"}, ErrBadIssuer},
		{jwt.MapClaims{"iss": []string{"https://i/"}, "aud": "a"}, ErrBadIssuer},
	}
	for _, b := range bad {
		b.c["exp"] = testNow + 60
		expectErr(t, v, hsToken(t, b.c), b.want)
	}
}

func TestRequiredClaims(t *testing.T) {
	v := hsVerifier(t, Config{RequiredClaims: []ClaimRule{
		{Claim: "scope", Contains: []string{"orders:read", "orders:write"}},
		{Claim: "role", OneOf: []string{"admin", "ops"}},
		{Claim: "email_verified", Equals: "true"},
	}})
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"exp": testNow + 60, "sub": "u", "scope": "openid orders:write  orders:read",
			"role": "ops", "email_verified": true}
	}
	expectOK(t, v, hsToken(t, good()))
	arr := good()
	arr["scope"], arr["role"] = []string{"orders:read", "orders:write"}, []string{"viewer", "admin"}
	expectOK(t, v, hsToken(t, arr))

	for name, mod := range map[string]func(jwt.MapClaims){
		"scope missing one":   func(c jwt.MapClaims) { c["scope"] = "orders:read" },
		"scope prefix only":   func(c jwt.MapClaims) { c["scope"] = "orders:read orders:writer" },
		"scope absent":        func(c jwt.MapClaims) { delete(c, "scope") },
		"role not listed":     func(c jwt.MapClaims) { c["role"] = "viewer" },
		"role array unlisted": func(c jwt.MapClaims) { c["role"] = []string{"viewer"} },
		"equals false":        func(c jwt.MapClaims) { c["email_verified"] = false },
		"equals as string":    func(c jwt.MapClaims) { c["email_verified"] = map[string]any{} },
	} {
		c := good()
		mod(c)
		tok := hsToken(t, c)
		for i := 0; i < 2; i++ { // uncached, then cached
			vd, err := v.Verify(testNow, tok)
			if err != ErrClaimRequired || vd == nil || err.(*Error).Status() != 403 {
				t.Fatalf("%s: Verify = (%v, %v), want (Verified, ErrClaimRequired/403)", name, vd, err)
			}
			if string(vd.Claim(v.ClaimIndex("sub"))) != "u" {
				t.Fatalf("%s: subject not available on 403", name)
			}
		}
	}
}

func TestForwardedClaimRendering(t *testing.T) {
	v := hsVerifier(t, Config{ForwardClaims: map[string]string{
		"sub": "X-User", "n": "X-N", "b": "X-B", "groups": "X-Groups", "obj": "X-Obj",
		"nl": "X-NL", "esc": "X-Esc", "null": "X-Null", "absent": "X-Absent", "mixed": "X-Mixed",
	}})
	tok := signRawHS256(`{"alg":"HS256"}`, `{"exp":1800000060,"sub":"u-\u00e9\/1","n":-12.5e3,"b":false,`+
		`"groups":["a",1,true],"obj":{"x":1},"nl":"a\r\nX-Admin: 1","esc":"tab\"q","null":null,"mixed":["a",{}]}`, hsSecret)
	vd := expectOK(t, v, tok)
	want := map[string]string{"sub": "u-é/1", "n": "-12.5e3", "b": "false", "groups": "a,1,true", "esc": `tab"q`}
	for _, f := range v.Forwards() {
		got := vd.Claim(f.Index)
		if w, ok := want[f.Claim]; ok {
			if string(got) != w {
				t.Errorf("%s = %q, want %q", f.Claim, got, w)
			}
		} else if got != nil {
			t.Errorf("%s = %q, want not forwarded", f.Claim, got)
		}
	}
	if v.ClaimIndex("nope") != -1 || vd.Claim(-1) != nil || vd.Claim(99) != nil {
		t.Fatal("out-of-range claim access")
	}
}
