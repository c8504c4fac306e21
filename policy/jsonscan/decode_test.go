package jsonscan

import (
	"strings"
	"testing"
)

func TestAppendUnescaped(t *testing.T) {
	cases := []struct{ raw, want string }{
		{`plain`, "plain"},
		{`a\"\\\/\b\f\n\r\t\u0041\ud83d\ude00`, "a\"\\/\b\f\n\r\tA😀"},
		{`\u00e9x`, "éx"},
		{`\ud83d`, "\uFFFD"},              // lone high surrogate at the end
		{`\ud83dx`, "\uFFFDx"},            // lone high surrogate before a plain byte
		{`\ud83d\u0041`, "\uFFFDA"},       // the escape after it is kept
		{`\udc00\ud83d\ude00`, "\uFFFD😀"}, // lone low surrogate, then a pair
		{`\ud83d\ud83d\ude00`, "\uFFFD😀"}, // high, then a pair
	}
	for _, c := range cases {
		got := string(AppendUnescaped([]byte("<"), []byte(c.raw)))
		if got != "<"+c.want {
			t.Errorf("AppendUnescaped(%q) = %q, want %q", c.raw, got, c.want)
		}
		for _, s := range []string{c.want, c.want + "x", strings.TrimSuffix(c.want, c.want[len(c.want)-1:]), "", "\uFFFD"} {
			if got, want := EqualUnescaped([]byte(c.raw), HasEscape([]byte(c.raw)), s), s == c.want; got != want {
				t.Errorf("EqualUnescaped(%q, %q) = %v", c.raw, s, got)
			}
		}
	}
}

func TestStringEqualAndBody(t *testing.T) {
	if !StringEqual([]byte(`"J\u0057T"`), "JWT") || StringEqual([]byte(`1`), "1") || StringEqual([]byte(`"a"`), "b") {
		t.Error("StringEqual")
	}
	if _, ok := StringBody([]byte(`"`)); ok {
		t.Error("StringBody accepted a lone quote")
	}
	if b, ok := StringBody([]byte(`"ab"`)); !ok || string(b) != "ab" {
		t.Error("StringBody")
	}
}

func TestUnquote(t *testing.T) {
	body := []byte(`"plain"`)
	v, scratch := Unquote(body, String, false, nil)
	if string(v) != "plain" || &v[0] != &body[1] || scratch != nil {
		t.Error("a plain string was copied")
	}
	v, scratch = Unquote([]byte(`"a\tb"`), String, true, []byte("old"))
	if string(v) != "a\tb" || string(scratch) != "olda\tb" {
		t.Errorf("escaped: %q %q", v, scratch)
	}
	if v, _ := Unquote([]byte(`[1]`), Array, false, nil); string(v) != `[1]` {
		t.Error("non-strings come back unchanged")
	}
}
