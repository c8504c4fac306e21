package params

import (
	"strings"
	"testing"
)

func TestLookupJSON(t *testing.T) {
	cases := []struct {
		body, key string
		want      string
		kind      Kind
		err       error
	}{
		{`{"a":1,"b":"x"}`, "b", "x", KindString, nil},
		{`{"a":1,"b":"x"}`, "a", "1", KindNumber, nil},
		{`{"a":1,"b":"x"}`, "c", "", KindNone, nil},
		{` { "a" : -1.5e+3 } `, "a", "-1.5e+3", KindNumber, nil},
		{`{"a":true}`, "a", "true", KindBool, nil},
		{`{"a":false}`, "a", "false", KindBool, nil},
		{`{"a":null}`, "a", "null", KindNull, nil},
		{`{"a":{"b":[1,2,{"c":"d"}]}}`, "a", `{"b":[1,2,{"c":"d"}]}`, KindObject, nil},
		{`{"a":[]}`, "a", `[]`, KindArray, nil},
		{`{"x":{"a":1},"a":2}`, "a", "2", KindNumber, nil}, // nested "a" is not top-level
		{`{"a":1,"a":2}`, "a", "2", KindNumber, nil},       // last wins
		{`{"\u0061":"v"}`, "a", "v", KindString, nil},      // escaped key
		{`{"a":"l\u00e9\n\"q\"\/"}`, "a", "lé\n\"q\"/", KindString, nil},
		{`{"a":"\ud83d\ude00"}`, "a", "😀", KindString, nil},
		{`{"a":"\ud83d"}`, "a", "\uFFFD", KindString, nil}, // lone surrogate
		{`{}`, "a", "", KindNone, nil},
		{`{"a":1,}`, "a", "", KindNone, ErrMalformedJSON},
		{`{"a":1`, "a", "", KindNone, ErrMalformedJSON},
		{`{"a":01}`, "a", "", KindNone, ErrMalformedJSON},
		{`{"a":1.}`, "a", "", KindNone, ErrMalformedJSON},
		{`{"a":tru}`, "a", "", KindNone, ErrMalformedJSON},
		{`{"a":"\x"}`, "a", "", KindNone, ErrMalformedJSON},
		{"{\"a\":\"\x01\"}", "a", "", KindNone, ErrMalformedJSON},
		{"{\"a\":\"\xff\"}", "a", "", KindNone, ErrMalformedJSON},
		{`{"a":1} x`, "a", "", KindNone, ErrMalformedJSON},
		{`{"a":[1,]}`, "a", "", KindNone, ErrMalformedJSON},
		{`{"a":[1}`, "a", "", KindNone, ErrMalformedJSON},
		{`{"a":{"b"}}`, "a", "", KindNone, ErrMalformedJSON},
		{`{a:1}`, "a", "", KindNone, ErrMalformedJSON},
		{``, "a", "", KindNone, ErrMalformedJSON},
		{`[1,2]`, "a", "", KindNone, ErrNotObject},
		{`"str"`, "a", "", KindNone, ErrNotObject},
		{`{"a":1,"b":` + strings.Repeat("[", MaxJSONDepth) + strings.Repeat("]", MaxJSONDepth) + `}`, "a", "", KindNone, ErrMalformedJSON},
		{`{"a":1,"b":` + strings.Repeat("[", MaxJSONDepth-1) + strings.Repeat("]", MaxJSONDepth-1) + `}`, "a", "1", KindNumber, nil},
	}
	for _, c := range cases {
		val, kind, _, err := LookupJSON([]byte(c.body), c.key, nil)
		if err != c.err || kind != c.kind || string(val) != c.want {
			t.Errorf("LookupJSON(%.60q, %q) = %q, %v, %v; want %q, %v, %v", c.body, c.key, val, kind, err, c.want, c.kind, c.err)
		}
	}
}

func TestLookupJSONScratchOnlyForEscapes(t *testing.T) {
	body := []byte(`{"a":"plain","b":"esc\ttab"}`)
	v, _, scratch, _ := LookupJSON(body, "a", make([]byte, 0, 16))
	if len(scratch) != 0 || &v[0] != &body[6] {
		t.Fatal("plain string was copied")
	}
	v, _, scratch, _ = LookupJSON(body, "b", scratch)
	if string(v) != "esc\ttab" || len(scratch) != len("esc\ttab") {
		t.Fatalf("escaped: %q scratch %d", v, len(scratch))
	}
}
