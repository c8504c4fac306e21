package httpbytes

import (
	"bytes"
	"strings"
	"testing"
)

// The references below are written the obvious way, from the RFC text, so
// the fuzz target can compare the fast versions against them.

func refTchar(c byte) bool {
	return strings.IndexByte("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", c) >= 0
}

func refIsToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !refTchar(c) {
			return false
		}
	}
	return true
}

func refTrimOWS(b []byte) []byte { return bytes.Trim(b, " \t") }

func refLower(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 32
		}
		out[i] = c
	}
	return string(out)
}

func refEqualFold(a, b []byte) bool { return refLower(a) == refLower(b) }

func TestTrimOWS(t *testing.T) {
	for in, want := range map[string]string{"": "", " \t ": "", " a b\t": "a b", "a": "a", "\r a \n": "\r a \n", "\t\tx": "x"} {
		if got := string(TrimOWS([]byte(in))); got != want {
			t.Errorf("TrimOWS(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEqualFold(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"Content-Type", "content-type", true},
		{"CONTENT-TYPE", "Content-Type", true},
		{"a", "b", false},
		{"ab", "a", false},
		{"", "", true},
		{"\u212a", "k", false}, // Kelvin sign: bytes.EqualFold would say true
		{"[", "{", false},      // differ by 0x20 but are not letters
		{"@", "`", false},
	}
	for _, c := range cases {
		if got := EqualFold([]byte(c.a), []byte(c.b)); got != c.want {
			t.Errorf("EqualFold(%q, %q) = %v", c.a, c.b, got)
		}
		if got := EqualFoldString([]byte(c.a), c.b); got != c.want {
			t.Errorf("EqualFoldString(%q, %q) = %v", c.a, c.b, got)
		}
		if c.b == strings.ToLower(c.b) {
			if got := EqualFoldASCII([]byte(c.a), c.b); got != c.want {
				t.Errorf("EqualFoldASCII(%q, %q) = %v", c.a, c.b, got)
			}
		}
	}
	if EqualFoldASCII([]byte("chunked"), "CHUNKED") {
		t.Error("EqualFoldASCII must not fold its literal")
	}
	if got := string(AppendLower([]byte("x-"), []byte("Ab-C9"))); got != "x-ab-c9" {
		t.Errorf("AppendLower = %q", got)
	}
}

func TestTokens(t *testing.T) {
	for _, s := range []string{"GET", "X-Custom_1", "!#$%&'*+-.^_`|~", "a"} {
		if !IsToken(s) || !IsTokenBytes([]byte(s)) {
			t.Errorf("%q is a token", s)
		}
	}
	for _, s := range []string{"", "a b", "a:b", "a\x00", "é", "a\"", "(x)", "a,b", "a/b", "a\x7f"} {
		if IsToken(s) || IsTokenBytes([]byte(s)) {
			t.Errorf("%q is not a token", s)
		}
	}
	for c := 0; c < 256; c++ {
		if IsTchar(byte(c)) != refTchar(byte(c)) {
			t.Errorf("IsTchar(%#x)", c)
		}
	}
}

func TestIndexByte(t *testing.T) {
	if IndexByte([]byte("a,b,c"), ',') != 1 || IndexByte([]byte("abc"), ',') != -1 || IndexByte(nil, 'a') != -1 {
		t.Error("IndexByte")
	}
}

func FuzzHelpers(f *testing.F) {
	for _, s := range []string{"", " a ", "Content-Type", "\u212a", "GET", "a b", "\t"} {
		f.Add([]byte(s), []byte(strings.ToUpper(s)))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		if got, want := TrimOWS(a), refTrimOWS(a); !bytes.Equal(got, want) {
			t.Fatalf("TrimOWS(%q) = %q, want %q", a, got, want)
		}
		if got, want := EqualFold(a, b), refEqualFold(a, b); got != want {
			t.Fatalf("EqualFold(%q, %q) = %v", a, b, got)
		}
		if got, want := EqualFoldString(a, string(b)), refEqualFold(a, b); got != want {
			t.Fatalf("EqualFoldString(%q, %q) = %v", a, b, got)
		}
		lb := refLower(b)
		if got, want := EqualFoldASCII(a, lb), refLower(a) == lb; got != want {
			t.Fatalf("EqualFoldASCII(%q, %q) = %v", a, lb, got)
		}
		if got, want := IsTokenBytes(a), refIsToken(a); got != want || IsToken(string(a)) != want {
			t.Fatalf("IsToken(%q) = %v", a, got)
		}
		if len(b) > 0 {
			if got, want := IndexByte(a, b[0]), strings.IndexByte(string(a), b[0]); got != want {
				t.Fatalf("IndexByte(%q, %q) = %d", a, b[0], got)
			}
		}
		if got := string(AppendLower(nil, a)); got != refLower(a) {
			t.Fatalf("AppendLower(%q) = %q", a, got)
		}
	})
}
