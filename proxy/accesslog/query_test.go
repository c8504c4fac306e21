package accesslog

import (
	"testing"
)

func TestMaskQuery(t *testing.T) {
	masked := [][]byte{[]byte("token"), []byte("api_key"), []byte("pass word")}
	cases := []struct{ in, want string }{
		{"", ""},
		{"a=1", "a=1"},
		{"token=abc", "token=***"},
		{"a=1&token=abc&b=2", "a=1&token=***&b=2"},
		{"TOKEN=abc", "TOKEN=***"},
		{"Tok%65n=abc", "Tok%65n=***"},
		{"api%5Fkey=k", "api%5Fkey=***"},
		{"pass+word=x;token=y", "pass+word=***;token=***"},
		{"token", "token"},             // no value to mask
		{"token=", "token=***"},        // empty value still masked: length leaks nothing
		{"tokens=abc", "tokens=abc"},   // prefix is not a match
		{"xtoken=abc", "xtoken=abc"},   // suffix is not a match
		{"token=a=b&x", "token=***&x"}, // value runs to the next separator
		{"&&token=a&", "&&token=***&"}, // empty parameters kept
		{"%zztoken=a", "%zztoken=a"},   // malformed escape compared literally
		{"tok%6=a", "tok%6=a"},         // truncated escape
		{"to%6Ben=a", "to%6Ben=***"},   // escape in the middle
		{"token%3Dx=a", "token%3Dx=a"}, // encoded '=' is part of the name
	}
	for _, c := range cases {
		if got := string(maskQuery(nil, []byte(c.in), masked)); got != c.want {
			t.Errorf("maskQuery(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestMaskQueryNoNames(t *testing.T) {
	in := "token=a&b=c"
	if got := string(maskQuery(nil, []byte(in), nil)); got != in {
		t.Fatalf("got %q", got)
	}
}
