package params

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// naiveDepth is the maximum bracket nesting of a valid JSON document.
func naiveDepth(b []byte) int {
	depth, maxDepth, inStr, esc := 0, 0, false, false
	for _, c := range b {
		switch {
		case inStr && esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case inStr && c == '"':
			inStr = false
		case inStr:
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
			maxDepth = max(maxDepth, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return maxDepth
}

// FuzzLookupJSON checks the scanner against encoding/json: the same
// documents are accepted (RFC 8259 + UTF-8), and the member found, its kind
// and its (unescaped) value agree with a map[string]json.RawMessage decode.
func FuzzLookupJSON(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":"x"}`, `{"a":{"b":[1,2,{"c":"d"}]},"a":null}`, `{"\u0061":"l\u00e9\n\ud83d\ude00"}`,
		`[1]`, `{"a":1,}`, `{"a":"\ud800"}`, ` {"a" : -0.5e-7 , "b":[true,false,null]} `, `{"a":"\/\\\""}`, `"x"`, `nul`} {
		f.Add([]byte(s), "a")
	}
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		val, kind, _, err := LookupJSON(body, key, nil)
		valid := json.Valid(body) && utf8.Valid(body)
		if !valid {
			if err != ErrMalformedJSON {
				t.Fatalf("accepted invalid %q: %q %v %v", body, val, kind, err)
			}
			return
		}
		if naiveDepth(body) > MaxJSONDepth {
			if err != ErrMalformedJSON {
				t.Fatalf("too deep document not refused: %v", err)
			}
			return
		}
		if first := bytes.TrimLeft(body, " \t\r\n"); first[0] != '{' {
			if err != ErrNotObject {
				t.Fatalf("non-object %q: err %v", body, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("valid %q refused: %v", body, err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("oracle: %v", err)
		}
		raw, ok := m[key]
		if !ok {
			if kind != KindNone {
				t.Fatalf("%q in %q: found %q, oracle absent", key, body, val)
			}
			return
		}
		var wantKind Kind
		switch raw[0] {
		case '"':
			wantKind = KindString
		case '{':
			wantKind = KindObject
		case '[':
			wantKind = KindArray
		case 't', 'f':
			wantKind = KindBool
		case 'n':
			wantKind = KindNull
		default:
			wantKind = KindNumber
		}
		if kind != wantKind {
			t.Fatalf("%q in %q: kind %v, oracle %v", key, body, kind, wantKind)
		}
		if kind == KindString {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				t.Fatal(err)
			}
			if string(val) != s {
				t.Fatalf("%q in %q: %q, oracle %q", key, body, val, s)
			}
			return
		}
		if !bytes.Equal(val, raw) {
			t.Fatalf("%q in %q: %q, oracle %q", key, body, val, raw)
		}
	})
}

var numberGrammar = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// FuzzParseScalars checks ParseInt, ParseNumber and ParseBool against
// strconv and the documented grammars.
func FuzzParseScalars(f *testing.F) {
	for _, s := range []string{"0", "-12", "+1", "9223372036854775808", "-9223372036854775808", "1.5e3", "1e400", ".5", "007", "true", "0x10", "1_0", "inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := ParseInt([]byte(s))
		wn, werr := strconv.ParseInt(s, 10, 64)
		wok := werr == nil && !strings.HasPrefix(s, "+")
		if ok != wok || (ok && n != wn) {
			t.Fatalf("ParseInt(%q) = %d, %v; strconv %d, %v", s, n, ok, wn, werr)
		}
		fl, ok := ParseNumber([]byte(s))
		wf, ferr := strconv.ParseFloat(s, 64)
		wok = numberGrammar.MatchString(s) && ferr == nil
		if ok != wok || (ok && fl != wf) {
			t.Fatalf("ParseNumber(%q) = %v, %v; oracle %v, %v", s, fl, ok, wf, ferr)
		}
		b, ok := ParseBool([]byte(s))
		wb, berr := strconv.ParseBool(s)
		wok = berr == nil && (s == "true" || s == "false" || s == "1" || s == "0")
		if ok != wok || (ok && b != wb) {
			t.Fatalf("ParseBool(%q) = %v, %v", s, b, ok)
		}
	})
}
