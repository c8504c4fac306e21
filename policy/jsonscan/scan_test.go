package jsonscan

import (
	"strings"
	"testing"
)

var (
	lenient = Rules{}
	strict  = Rules{MaxDepth: 32, StrictSurrogates: true}
)

func nest(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

func TestValid(t *testing.T) {
	cases := []struct {
		doc             string
		lenient, strict bool
	}{
		{`{}`, true, true},
		{` { "a" : [1, -0.5e+3, true, false, null, {"b":"\u00e9\ud83d\ude00\n"}] } `, true, true},
		{`{"a":"é"}`, true, true},
		{`[1,"x"]`, true, true},
		{`"x"`, true, true},
		{`0`, true, true},
		{`-0.0E-0`, true, true},
		{`{"a":"\ud800"}`, true, false},        // lone high surrogate
		{`{"a":"\udc00"}`, true, false},        // lone low surrogate
		{`{"a":"\ud800\u0041"}`, true, false},  // high surrogate, then no low one
		{`{"a":"\ud800\\udc00"}`, true, false}, // escaped backslash is not a pair
		{``, false, false},
		{` `, false, false},
		{`{`, false, false},
		{`{"a"}`, false, false},
		{`{"a":1,}`, false, false},
		{`{"a":01}`, false, false},
		{`{"a":1.}`, false, false},
		{`{"a":.1}`, false, false},
		{`{"a":+1}`, false, false},
		{`{"a":1e}`, false, false},
		{`{"a":-}`, false, false},
		{`{"a":"\x"}`, false, false},
		{`{"a":"\u12"}`, false, false},
		{`{"a":"\u12G4"}`, false, false},
		{"{\"a\":\"\x01\"}", false, false},
		{"{\"a\":\"\xff\"}", false, false},
		{"{\"a\":\"\xed\xa0\x80\"}", false, false}, // UTF-8 encoded surrogate
		{`{"a":tru}`, false, false},
		{`{} {}`, false, false},
		{`{"a":1}x`, false, false},
		{`{'a':1}`, false, false},
		{`{"a":[1 2]}`, false, false},
		{`{"a":[1,]}`, false, false},
		{`{"a":[1}`, false, false},
		{`{"a":{"b"}}`, false, false},
		{`{"a":{"b":1]}`, false, false},
		{`{a:1}`, false, false},
		{`{"a":NaN}`, false, false},
		{`{"a":"x`, false, false},
		{`{"a":"x\`, false, false},
		{nest(32), true, true},
		{nest(33), true, false},
		{`{"a":` + nest(31) + `}`, true, true},
		{`{"a":` + nest(32) + `}`, true, false},
		{nest(MaxDepth), true, false},
		{nest(MaxDepth + 1), false, false},
	}
	for _, c := range cases {
		if got := Valid([]byte(c.doc), lenient); got != c.lenient {
			t.Errorf("Valid(%.60q, lenient) = %v", c.doc, got)
		}
		if got := Valid([]byte(c.doc), strict); got != c.strict {
			t.Errorf("Valid(%.60q, strict) = %v", c.doc, got)
		}
		isObj := strings.HasPrefix(strings.TrimLeft(c.doc, " "), "{")
		if got := ValidObject([]byte(c.doc), strict); got != (c.strict && isObj) {
			t.Errorf("ValidObject(%.60q, strict) = %v", c.doc, got)
		}
	}
}

func TestRulesDepthDefaults(t *testing.T) {
	for _, d := range []int{0, -1, MaxDepth + 5} {
		if !Valid([]byte(nest(MaxDepth)), Rules{MaxDepth: d}) || Valid([]byte(nest(MaxDepth+1)), Rules{MaxDepth: d}) {
			t.Errorf("MaxDepth %d does not mean %d", d, MaxDepth)
		}
	}
	one := Rules{MaxDepth: 1}
	if !Valid([]byte(`{"a":1}`), one) || Valid([]byte(`{"a":[]}`), one) {
		t.Error("MaxDepth 1 must allow exactly the outer container")
	}
	var it ObjectIter
	if err := it.Start([]byte(`{"a":[]}`), one); err != nil {
		t.Fatal(err)
	}
	if _, _, err := it.Next(); err != ErrMalformed {
		t.Errorf("iterator ignored MaxDepth 1: %v", err)
	}
}

func TestScanValueKinds(t *testing.T) {
	cases := []struct {
		doc  string
		kind Kind
		esc  bool
	}{
		{`"a"`, String, false}, {`"a\tb"`, String, true}, {`-1.5`, Number, false}, {`true`, Bool, false},
		{`false`, Bool, false}, {`null`, Null, false}, {`{"a":"\n"}`, Object, false}, {`[1]`, Array, false},
	}
	for _, c := range cases {
		b := []byte(c.doc + ` ,`)
		end, kind, esc, ok := ScanValue(b, 0, lenient)
		if !ok || end != len(c.doc) || kind != c.kind || esc != c.esc {
			t.Errorf("ScanValue(%q) = %d %v %v %v", c.doc, end, kind, esc, ok)
		}
	}
	if _, kind, _, ok := ScanValue([]byte(` 1`), 0, lenient); ok || kind != None {
		t.Error("ScanValue skipped leading whitespace")
	}
	if Kind(99).String() != "invalid" || Array.String() != "array" {
		t.Error("Kind.String")
	}
}

// TestDepthAcrossWordBoundary checks levels on both sides of the 64 the
// scanner keeps in a register, with objects and arrays mixed so a wrongly
// restored level type shows, against encoding/json.
func TestDepthAcrossWordBoundary(t *testing.T) {
	mixed := func(n int, wrongAt int) string {
		var open, close strings.Builder
		for d := 0; d < n; d++ {
			if d%3 == 0 {
				open.WriteString(`{"k":`)
			} else {
				open.WriteString(`[1,`)
			}
		}
		for d := n - 1; d >= 0; d-- {
			c := ",2]"
			if d%3 == 0 {
				c = "}"
			}
			if d == wrongAt {
				c = map[string]string{",2]": ",2}", "}": "]"}[c]
			}
			close.WriteString(c)
		}
		return open.String() + "0" + close.String()
	}
	r := Rules{MaxDepth: 200}
	for _, n := range []int{1, 63, 64, 65, 66, 127, 128, 129, 150} {
		for _, wrong := range []int{-1, 0, n / 2, n - 1, 64, 65} {
			if wrong >= n {
				continue
			}
			doc := mixed(n, wrong)
			want := stdValid(doc)
			if want != (wrong == -1) {
				t.Fatalf("BUG: test document %.80q: valid %v", doc, want)
			}
			if got := Valid([]byte(doc), r); got != want {
				t.Errorf("depth %d, wrong closer at %d: Valid = %v, encoding/json %v", n, wrong, got, want)
			}
		}
	}
	if Valid([]byte(nest(201)), r) || !Valid([]byte(nest(200)), r) {
		t.Error("MaxDepth 200 not enforced exactly")
	}
	if Valid([]byte(nest(65)), Rules{MaxDepth: 64}) || !Valid([]byte(nest(64)), Rules{MaxDepth: 64}) {
		t.Error("MaxDepth 64 not enforced exactly")
	}
}
