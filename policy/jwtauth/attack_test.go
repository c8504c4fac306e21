package jwtauth

import (
	"bytes"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestAttacks runs the classic JWT attacks against a verifier that trusts one
// RSA key (kid "k1") and checks each is refused with the expected error.
func TestAttacks(t *testing.T) {
	testKeys(t)
	rsaPEM := pemOf(t, &rsaKey.PublicKey)
	v := mustCompile(t, NewRegistry(), Config{
		Keys:      []KeyConfig{{Kid: "k1", Alg: "RS256", PEM: rsaPEM}},
		Issuer:    "https://idp.example",
		Audiences: []string{"orders"},
	})
	good := func() jwt.MapClaims {
		c := baseClaims()
		c["iss"], c["aud"] = "https://idp.example", "orders"
		return c
	}
	valid := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", good())
	expectOK(t, v, valid)
	parts := bytes.Split(valid, []byte("."))
	payload := `{"sub":"user-1","iss":"https://idp.example","aud":"orders","exp":1800000600}`
	with := func(mod func(jwt.MapClaims)) jwt.MapClaims { c := good(); mod(c); return c }
	huge := append([]byte(nil), valid...)
	for len(huge) < 9000 {
		huge = append(huge, 'A')
	}

	cases := []struct {
		name string
		tok  []byte
		want error
	}{
		{"alg none empty sig", []byte(enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + enc.EncodeToString([]byte(payload)) + "."), ErrTokenMalformed},
		{"alg none with sig", []byte(enc.EncodeToString([]byte(`{"alg":"none","kid":"k1"}`)) + "." + enc.EncodeToString([]byte(payload)) + ".AAAA"), ErrAlgNotAllowed},
		{"alg None", signRawHS256(`{"alg":"None","kid":"k1"}`, payload, []byte("x")), ErrAlgNotAllowed},
		{"HS256 keyed with the RSA public key PEM", sign(t, jwt.SigningMethodHS256, []byte(rsaPEM), "k1", good()), ErrAlgNotAllowed},
		{"HS256 keyed with the RSA PEM, no kid", sign(t, jwt.SigningMethodHS256, []byte(rsaPEM), "", good()), ErrAlgNotAllowed},
		{"PS256 with an RS256 key", sign(t, jwt.SigningMethodPS256, rsaKey, "k1", good()), ErrAlgNotAllowed},
		{"unknown kid", sign(t, jwt.SigningMethodRS256, rsaKey, "k2", good()), ErrUnknownKid},
		{"signed by another key", sign(t, jwt.SigningMethodRS256, rsaKey2, "k1", good()), ErrBadSignature},
		{"expired", sign(t, jwt.SigningMethodRS256, rsaKey, "k1", with(func(c jwt.MapClaims) { c["exp"] = testNow - 31 })), ErrTokenExpired},
		{"not yet valid", sign(t, jwt.SigningMethodRS256, rsaKey, "k1", with(func(c jwt.MapClaims) { c["nbf"] = testNow + 31 })), ErrTokenNotYetValid},
		{"issued in the future", sign(t, jwt.SigningMethodRS256, rsaKey, "k1", with(func(c jwt.MapClaims) { c["iat"] = testNow + 3600 })), ErrTokenNotYetValid},
		{"missing exp", sign(t, jwt.SigningMethodRS256, rsaKey, "k1", with(func(c jwt.MapClaims) { delete(c, "exp") })), ErrClaimMissing},
		{"exp as string", sign(t, jwt.SigningMethodRS256, rsaKey, "k1", with(func(c jwt.MapClaims) { c["exp"] = "1800000600" })), ErrClaimInvalid},
		{"wrong iss", sign(t, jwt.SigningMethodRS256, rsaKey, "k1", with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), ErrBadIssuer},
		{"missing iss", sign(t, jwt.SigningMethodRS256, rsaKey, "k1", with(func(c jwt.MapClaims) { delete(c, "iss") })), ErrBadIssuer},
		{"wrong aud", sign(t, jwt.SigningMethodRS256, rsaKey, "k1", with(func(c jwt.MapClaims) { c["aud"] = []string{"billing"} })), ErrBadAudience},
		{"aud as number", sign(t, jwt.SigningMethodRS256, rsaKey, "k1", with(func(c jwt.MapClaims) { c["aud"] = 7 })), ErrBadAudience},
		{"tampered payload", bytes.Join([][]byte{parts[0], []byte(enc.EncodeToString([]byte(strings.Replace(payload, "user-1", "admin", 1)))), parts[2]}, []byte(".")), ErrBadSignature},
		{"jku header", sign(t, jwt.SigningMethodRS256, rsaKey, "k1", good(), "jku", "https://evil.example/jwks"), ErrForbiddenHeader},
		{"x5u header", sign(t, jwt.SigningMethodRS256, rsaKey, "k1", good(), "x5u", "https://evil.example/cert"), ErrForbiddenHeader},
		{"x5c header", sign(t, jwt.SigningMethodRS256, rsaKey, "k1", good(), "x5c", []string{"MIIB"}), ErrForbiddenHeader},
		{"embedded jwk header", sign(t, jwt.SigningMethodRS256, rsaKey, "k1", good(), "jwk", map[string]string{"kty": "oct", "k": "AAAA"}), ErrForbiddenHeader},
		{"crit header", sign(t, jwt.SigningMethodRS256, rsaKey, "k1", good(), "crit", []string{"exp"}), ErrForbiddenHeader},
		{"escaped jku name", signRawRS256(`{"alg":"RS256","kid":"k1","j\u006bu":"https://evil.example"}`, payload, rsaKey), ErrForbiddenHeader},
		{"nested JWT", sign(t, jwt.SigningMethodRS256, rsaKey, "k1", good(), "cty", "JWT"), ErrTokenMalformed},
		{"duplicate alg", signRawRS256(`{"alg":"RS256","kid":"k1","alg":"HS256"}`, payload, rsaKey), ErrTokenMalformed},
		{"duplicate claim", signRawRS256(`{"alg":"RS256","kid":"k1"}`, strings.Replace(payload, `"sub":"user-1"`, `"sub":"user-1","s\u0075b":"admin"`, 1), rsaKey), ErrTokenMalformed},
		{"trailing data in header", signRawRS256(`{"alg":"RS256","kid":"k1"} x`, payload, rsaKey), ErrTokenMalformed},
		{"payload not an object", signRawRS256(`{"alg":"RS256","kid":"k1"}`, `["sub"]`, rsaKey), ErrTokenMalformed},
		{"malformed base64 char", replaceAt(valid, 5, '+'), ErrTokenMalformed},
		{"base64 padding", append(append([]byte(nil), valid...), '='), ErrTokenMalformed},
		{"non-canonical base64", nonCanonical(valid), ErrTokenMalformed},
		{"newline inside", replaceAt(valid, 10, '\n'), ErrTokenMalformed},
		{"two segments", bytes.Join(parts[:2], []byte(".")), ErrTokenMalformed},
		{"four segments", append(append([]byte(nil), valid...), ".AAAA"...), ErrTokenMalformed},
		{"JWE-like five segments", []byte("eyJhbGciOiJSU0EtT0FFUCJ9.AAAA.AAAA.AAAA.AAAA"), ErrTokenMalformed},
		{"empty header", bytes.Join([][]byte{nil, parts[1], parts[2]}, []byte(".")), ErrTokenMalformed},
		{"truncated signature", truncSig(valid), ErrBadSignature},
		{"huge token", huge, ErrTokenTooLarge},
		{"empty", nil, ErrTokenMissing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Twice: the second call must not be answered from the cache.
			for i := 0; i < 2; i++ {
				vd, err := v.Verify(testNow, c.tok)
				if err != c.want || vd != nil {
					t.Fatalf("Verify = (%v, %v), want (nil, %v)", vd, err, c.want)
				}
			}
		})
	}
}

// TestHMACKeyNeverVerifiesRSA checks the second guard: even a key table
// that somehow pairs an HS alg with RSA material cannot verify.
func TestHMACKeyNeverVerifiesRSA(t *testing.T) {
	testKeys(t)
	k := &Key{alg: algHS256, rsa: &rsaKey.PublicKey}
	if k.verify(algHS256, []byte("a.b"), make([]byte, 32)) {
		t.Fatal("HS256 verified against an RSA key")
	}
	if err := k.checkAlg(); err == nil {
		t.Fatal("checkAlg accepted HS256 for an RSA key")
	}
	if _, err := parsePEMKey(pemOf(t, &rsaKey.PublicKey), algHS256, ""); err == nil {
		t.Fatal("PEM RSA key accepted with alg HS256")
	}
}

func replaceAt(b []byte, i int, c byte) []byte {
	out := append([]byte(nil), b...)
	out[i] = c
	return out
}

// nonCanonical changes the signature's last character so that its unused
// low bits are non-zero: lenient decoders accept it, strict ones must not.
func nonCanonical(tok []byte) []byte {
	out := append([]byte(nil), tok...)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, out[len(out)-1])
	out[len(out)-1] = alphabet[i|1]
	if out[len(out)-1] == tok[len(tok)-1] {
		out[len(out)-1] = alphabet[(i&^3)|2]
	}
	return out
}

// truncSig drops the last signature byte, keeping valid base64.
func truncSig(tok []byte) []byte {
	i := bytes.LastIndexByte(tok, '.')
	sig, _ := enc.DecodeString(string(tok[i+1:]))
	return append(append([]byte(nil), tok[:i+1]...), enc.EncodeToString(sig[:len(sig)-1])...)
}
