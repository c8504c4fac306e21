package jwtauth

import (
	stdjson "encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	json "github.com/goccy/go-json"
)

// JWK, JWKS and discovery documents are decoded with goccy/go-json (the
// project's JSON library) behind decodeJSON's strict check. These tests pin
// the encoding/json behaviour the key parser relied on: which documents are
// refused, case-insensitive member names (so "D" still counts as private
// key material), last duplicate wins, null leaving a field unset, and raw
// key objects kept byte for byte. The one intended difference: a document
// that is not UTF-8 is refused, where encoding/json replaced the bytes
// with U+FFFD.

var jwkParityDocs = []string{
	`{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"k1","alg":"RS256","use":"sig","key_ops":["verify"]}`,
	`{"kty":"EC","crv":"P-256","x":"AA","y":"BB","D":"private"}`,
	`{"kty":"a","kty":"b"}`,
	`{"KTY":"z","kty":"y"}`,
	`{"kid":null,"key_ops":null}`,
	`{"key_ops":[]}`,
	`{"kty":"\ud800","crv":"\u00e9"}`,
	"{\"kty\":\"\xff\"}",
	"{\"\x1e\":\"\"}", // goccy alone accepts raw control characters
	"{\"kty\":\"a\tb\"}",
	`{"kty":1}`,
	`{"key_ops":"verify"}`,
	`{"kty":"a"} x`,
	`{"kid":"a"`,
	`{"kty":"a",}`,
	`[]`,
	`null`,
	``,
	`{"kty":"RSA","n":"AQAB","e":"AQAB","extra":{"deep":[1,2,{"x":null}]}}`,
}

// checkJWKParity compares decodeJSON with encoding/json on one document.
func checkJWKParity(t *testing.T, doc []byte) {
	t.Helper()
	var got, want jwk
	gerr := decodeJSON(doc, &got)
	werr := stdjson.Unmarshal(doc, &want)
	if !utf8.Valid(doc) {
		if gerr == nil {
			t.Fatalf("%q: a document that is not UTF-8 was accepted", doc)
		}
		return
	}
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("%q: decodeJSON err %v, encoding/json err %v", doc, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: decodeJSON %+v, encoding/json %+v", doc, got, want)
	}
}

func TestJWKDecodeMatchesEncodingJSON(t *testing.T) {
	for _, doc := range jwkParityDocs {
		checkJWKParity(t, []byte(doc))
	}
}

// TestDecodeJSONRefusesControlCharacters fails with a bare goccy Unmarshal.
func TestDecodeJSONRefusesControlCharacters(t *testing.T) {
	doc := []byte("{\"keys\":[{\"kty\":\"oct\x01\"}]}")
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := decodeJSON(doc, &set); err != errNotJSON {
		t.Fatalf("decodeJSON = %v, want errNotJSON", err)
	}
	if _, err := parseJWKS(doc, algRS256); err == nil {
		t.Fatal("parseJWKS accepted a raw control character")
	}
}

func TestJWKSKeysKeptVerbatim(t *testing.T) {
	doc := `{"keys":[ {"kty":"oct" , "k":"AA"}, {"b" : [1,2]} ],"other":1}`
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := decodeJSON([]byte(doc), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 || string(set.Keys[0]) != `{"kty":"oct" , "k":"AA"}` || string(set.Keys[1]) != `{"b" : [1,2]}` {
		t.Fatalf("keys %q", set.Keys)
	}
	for _, bad := range []string{`{"keys":[1,]}`, `{"keys":[{"a":1}`, `{"keys":{}}`} {
		if err := decodeJSON([]byte(bad), &set); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzJWKDecode looks for documents on which decodeJSON and encoding/json
// disagree about a JWK: acceptance or the decoded members.
func FuzzJWKDecode(f *testing.F) {
	for _, d := range jwkParityDocs {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, doc []byte) { checkJWKParity(t, doc) })
}
