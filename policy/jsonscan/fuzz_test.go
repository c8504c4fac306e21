package jsonscan

import (
	"bytes"
	"encoding/json"
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

// FuzzScan checks the scanner against encoding/json (the oracle, test-only):
// lenient rules accept exactly what encoding/json accepts as valid UTF-8
// within the depth bound; strict rules accept a subset of that, and refuse
// only for depth or surrogates; the object iterator yields the members a
// map decode sees, with the same decoded keys and string values, and
// EqualUnescaped agrees with AppendUnescaped.
func FuzzScan(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":"x"}`, `{"a":{"b":[1,2,{"c":"d"}]},"a":null}`, `{"\u0061":"l\u00e9\n\ud83d\ude00"}`,
		`[1]`, `{"a":1,}`, `{"a":"\ud800"}`, `{"a":"\udc00\ud800\udc00"}`, ` {"a" : -0.5e-7 , "b":[true,false,null]} `,
		`{"a":"\/\\\""}`, `"x"`, `nul`, nest(40), "{\"\xff\":1}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		oracle := json.Valid(doc) && utf8.Valid(doc)
		depth := naiveDepth(doc)
		okLenient := Valid(doc, lenient)
		okStrict := Valid(doc, strict)
		switch {
		case !oracle && okLenient:
			t.Fatalf("lenient accepted invalid %q", doc)
		case oracle && depth <= MaxDepth && !okLenient:
			t.Fatalf("lenient refused valid %q", doc)
		case oracle && depth > MaxDepth && okLenient:
			t.Fatalf("lenient accepted depth %d", depth)
		case okStrict && !okLenient:
			t.Fatalf("strict accepted what lenient refuses: %q", doc)
		case okLenient && !okStrict && depth <= strict.MaxDepth && !bytes.Contains(doc, []byte(`\u`)):
			t.Fatalf("strict refused %q with neither depth nor a \\u escape to blame", doc)
		}
		if !okLenient {
			return
		}
		var want map[string]json.RawMessage
		isObj := json.Unmarshal(doc, &want) == nil && bytes.TrimLeft(doc, " \t\r\n")[0] == '{'
		var it ObjectIter
		err := it.Start(doc, lenient)
		if !isObj {
			if err != ErrNotObject {
				t.Fatalf("non-object %q: %v", doc, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("object %q: %v", doc, err)
		}
		got := map[string][]byte{}
		for {
			m, ok, err := it.Next()
			if err != nil {
				t.Fatalf("%q: %v", doc, err)
			}
			if !ok {
				break
			}
			key := string(AppendUnescaped(nil, m.Key))
			if !EqualUnescaped(m.Key, m.KeyEsc, key) || m.KeyEsc != HasEscape(m.Key) {
				t.Fatalf("EqualUnescaped disagrees on key %q", m.Key)
			}
			if len(key) > 0 && EqualUnescaped(m.Key, m.KeyEsc, key[:len(key)-1]) {
				t.Fatalf("EqualUnescaped matched a prefix of %q", m.Key)
			}
			got[key] = m.Val // last wins, as in the oracle
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d members, oracle %d", doc, len(got), len(want))
		}
		for k, raw := range want {
			v, ok := got[k]
			if !ok {
				t.Fatalf("%q: member %q missing", doc, k)
			}
			if raw[0] != '"' {
				if !bytes.Equal(v, raw) {
					t.Fatalf("%q: member %q = %q, oracle %q", doc, k, v, raw)
				}
				continue
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				t.Fatal(err)
			}
			body, _ := StringBody(v)
			if dec := AppendUnescaped(nil, body); string(dec) != s {
				t.Fatalf("%q: member %q decodes to %q, oracle %q", doc, k, dec, s)
			}
			if !StringEqual(v, s) {
				t.Fatalf("%q: StringEqual(%q, %q) = false", doc, v, s)
			}
		}
	})
}

func stdValid(s string) bool { return json.Valid([]byte(s)) }
