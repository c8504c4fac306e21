package jwtauth

import (
	"encoding/json"
	"testing"
)

func TestJSONStrictness(t *testing.T) {
	valid := []string{`{}`, ` { "a" : [1, -0.5e+3, true, false, null, {"b":"\u00e9\ud83d\ude00\n"}] } `, `{"a":"é"}`}
	invalid := []string{``, `[]`, `{`, `{"a"}`, `{"a":1,}`, `{"a":01}`, `{"a":1.}`, `{"a":.1}`, `{"a":+1}`,
		`{"a":"\x"}`, `{"a":"\ud800"}`, `{"a":"\udc00"}`, "{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}", `{"a":tru}`,
		`{} {}`, `{"a":1}x`, `{'a':1}`, `{"a":[1 2]}`, `{"a":NaN}`,
		`{"a":` + deep(40) + `}`}
	for _, s := range valid {
		if !validObject([]byte(s)) || !json.Valid([]byte(s)) {
			t.Errorf("rejected valid %q", s)
		}
	}
	for _, s := range invalid {
		if validObject([]byte(s)) {
			t.Errorf("accepted invalid %q", s)
		}
	}
	var buf []byte
	if got := string(appendUnescaped(buf, []byte(`a\"\\\/\b\f\n\r\t\u0041\ud83d\ude00`))); got != "a\"\\/\b\f\n\r\tA😀" {
		t.Errorf("unescape: %q", got)
	}
}

func deep(n int) string {
	s := ""
	for i := 0; i < n; i++ {
		s += "["
	}
	for i := 0; i < n; i++ {
		s += "]"
	}
	return s
}
