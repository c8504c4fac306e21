package radix

import (
	"math/rand"
	"regexp"
	"testing"
)

func TestSegMatcherFastPath(t *testing.T) {
	for _, c := range []struct {
		pattern string
		exact   bool
	}{
		{"[0-9]+", true}, {`\d{3}`, true}, {"[a-f0-9]{2,4}", true}, {"(x)?", true}, {"[a-z]*", true},
		{`\w+`, true}, {"a", true},
		{"(?i)[a-z]+", false}, {"[^/]+", false}, {".+", false}, {"v[0-9]+", false}, {"a|ab", false},
		{"é+", false},
	} {
		m, err := newSegMatcher(c.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if m.exact != c.exact {
			t.Errorf("%s: exact=%v", c.pattern, m.exact)
		}
	}
}

// TestSegMatcherAgreesWithRegexp checks the pre-filters and the byte-set fast path against the plain
// anchored regexp on random segments, including invalid UTF-8.
func TestSegMatcherAgreesWithRegexp(t *testing.T) {
	patterns := []string{"[0-9]+", `\d{3}`, "[a-f0-9]{2,4}", "(x)?", "[a-z]*", `\w+`, "(?i)k+", "[^/]+", ".+",
		"v[0-9]+", "a|ab", "é+", "abc", "(?:v[0-9]+|latest)", "[^@/]+@[a-z.]+", `\bx`, "x{0}", "[a-c]{2}[0-9]?"}
	alphabet := []byte("0123456789abcvxKk@.\xc3\xa9\xe2\x84\xaa\xff _-")
	r := rand.New(rand.NewSource(1))
	for _, p := range patterns {
		m, err := newSegMatcher(p)
		if err != nil {
			t.Fatal(err)
		}
		ref := regexp.MustCompile("^(?:" + p + ")$")
		for i := 0; i < 3000; i++ {
			seg := make([]byte, r.Intn(7))
			for j := range seg {
				seg[j] = alphabet[r.Intn(len(alphabet))]
			}
			if got, want := m.match(seg), ref.Match(seg); got != want {
				t.Fatalf("%s on %q: got %v, want %v", p, seg, got, want)
			}
		}
	}
}
