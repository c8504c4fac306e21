package units

import (
	"strings"
	"testing"
	"time"
)

func TestParseSizeGrammar(t *testing.T) {
	good := map[string]Size{"0": 0, "4096": 4096, "10B": 10, "2KB": 2000, "3MB": 3e6, "1GB": 1e9, "1TB": 1e12,
		"1KiB": 1024, "1MiB": 1 << 20, "2GiB": 2 << 30, "1024GiB": 1 << 40, "1TiB": 1 << 40,
		"10 MiB": 10 << 20, "3 B": 3}
	for in, want := range good {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "+1", "1.5MiB", "1  MiB", "1mib", "1 ", " 1", "2TiB", "1025GiB",
		"99999999999999", "1MiBx", "1 MiB ", "1\tMiB"} {
		if v, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, accepted", in, v)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"10MiB", "1GB", "4096", "", "1 KiB", "99999999999TiB", "1TiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSize(s)
		if err != nil {
			return
		}
		if v < 0 || v > MaxSize {
			t.Fatalf("%q parsed to %d, outside 0..1TiB", s, v)
		}
		txt, _ := v.MarshalText()
		if v2, err := ParseSize(string(txt)); err != nil || v2 != v {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, v, txt, v2, err)
		}
	})
}

func TestParseDuration(t *testing.T) {
	if d, err := ParseDuration("1m30s"); err != nil || d.D() != 90*time.Second {
		t.Fatalf("%v %v", d, err)
	}
	for _, in := range []string{"30", "-1s", "1 fortnight", ""} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}

// TestDefect13QuoteCutsLongValues: error messages quote at most QuoteMax
// bytes of a value and say how long it was.
func TestDefect13QuoteCutsLongValues(t *testing.T) {
	if got := Quote("short"); got != `"short"` {
		t.Fatalf("Quote(short) = %s", got)
	}
	long := strings.Repeat("x", 50<<20)
	got := Quote(long)
	if len(got) > 100 || !strings.HasSuffix(got, "… (52428800 bytes)") || !strings.HasPrefix(got, `"xxxx`) {
		t.Fatalf("Quote(50 MB) = %q", got)
	}
	// A multi-byte rune at the cut is not split.
	s := strings.Repeat("a", QuoteMax-1) + "é" + strings.Repeat("b", 10)
	if got := Quote(s); strings.Contains(got, `\x`) {
		t.Fatalf("Quote split a rune: %s", got)
	}
	if _, err := ParseSize(long); err == nil || len(err.Error()) > 300 {
		t.Fatalf("ParseSize error is %d bytes", len(err.Error()))
	}
}
