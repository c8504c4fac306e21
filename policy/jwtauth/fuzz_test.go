package jwtauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzParse feeds arbitrary bytes to the token parser, the JSON scanner and
// the full verifier (none may panic), checks that whatever parses re-encodes
// to the same bytes, and that a token signed by golang-jwt with the input as
// its subject verifies and yields the subject back.
func FuzzParse(f *testing.F) {
	v, err := NewRegistry().Compile(Config{
		Keys:          []KeyConfig{{Alg: "HS256", Secret: string(hsSecret)}},
		ForwardClaims: map[string]string{"sub": "X-User"},
		CacheSize:     64,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"alg":"HS256","kid":"a\u0062"}`))
	f.Add([]byte("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.AAAA"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var tk token
		if err := parseToken(&tk, data); err == nil {
			re := enc.EncodeToString(tk.header) + "." + enc.EncodeToString(tk.payload) + "." + enc.EncodeToString(tk.sig)
			if re != string(data) {
				t.Fatalf("round trip: %q -> %q", data, re)
			}
			if tk.alg == algInvalid || !validObject(tk.header) || !validObject(tk.payload) {
				t.Fatal("parse accepted an invalid token")
			}
		} else if _, ok := err.(*Error); !ok {
			t.Fatalf("parse error %T is not *Error", err)
		}
		if validObject(data) && !json.Valid(data) {
			t.Fatalf("validObject accepted what encoding/json rejects: %q", data)
		}
		if _, err := v.Verify(testNow, data); err == nil {
			// Only a genuine HS256 token under the test secret may pass.
			i := bytes.LastIndexByte(data, '.')
			if i < 0 || !bytes.Equal(signRawHS256Input(data[:i]), data) {
				t.Fatalf("forged input verified: %q", data)
			}
		} else {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Verify error %T is not *Error", err)
			}
		}

		sub := string(data)
		tok := sign(t, jwt.SigningMethodHS256, hsSecret, "", jwt.MapClaims{"sub": sub, "exp": testNow + 60})
		vd, err := v.Verify(testNow, tok)
		if err != nil {
			t.Fatalf("signed token rejected: %v (%s)", err, tok)
		}
		enc, _ := json.Marshal(sub)
		var want string
		json.Unmarshal(enc, &want)
		got := vd.Claim(v.ClaimIndex("sub"))
		if bytes.ContainsFunc([]byte(want), func(r rune) bool { return r < 0x20 || r == 0x7f }) || want == "" {
			if got != nil {
				t.Fatalf("control characters forwarded: %q", got)
			}
		} else if string(got) != want {
			t.Fatalf("sub = %q, want %q", got, want)
		}
	})
}
