package accesslog

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// needsEscape8Slow is the definition: some byte is not jsonSafe.
func needsEscape8Slow(w uint64) bool {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], w)
	for _, c := range b {
		if c >= 0x80 || !jsonSafe[c] {
			return true
		}
	}
	return false
}

// TestNeedsEscape8: the word test agrees with the byte table for every byte
// value in every lane of an otherwise safe word, and for random words mixing
// safe and unsafe bytes (where carries between lanes could mislead it).
func TestNeedsEscape8(t *testing.T) {
	const safe = 0x6161616161616161 // "aaaaaaaa"
	for lane := 0; lane < 8; lane++ {
		for c := 0; c < 256; c++ {
			w := safe&^(0xff<<(8*lane)) | uint64(c)<<(8*lane)
			if got, want := needsEscape8(w), needsEscape8Slow(w); got != want {
				t.Fatalf("byte %#x in lane %d: needsEscape8 %v, want %v", c, lane, got, want)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	interesting := []byte{0x00, 0x01, 0x1f, 0x20, 0x21, '"', 0x23, '\\', 0x5b, 0x5d, 0x7f, 0x80, 0xff, 'a', '~'}
	unsafe := 0
	for i := 0; i < 1_000_000; i++ {
		var b [8]byte
		for j := range b {
			b[j] = interesting[rng.IntN(len(interesting))]
		}
		w := binary.LittleEndian.Uint64(b[:])
		want := needsEscape8Slow(w)
		if got := needsEscape8(w); got != want {
			t.Fatalf("% x: needsEscape8 %v, want %v", b, got, want)
		}
		if want {
			unsafe++
		}
	}
	if unsafe == 0 || unsafe == 1_000_000 {
		t.Fatalf("random words all %v: the test does not test", unsafe != 0)
	}
}

// TestAppendEscapedLongRuns: escapes at every offset of inputs longer than
// one word come out the same as escaping byte by byte.
func TestAppendEscapedLongRuns(t *testing.T) {
	for _, special := range []string{`"`, `\`, "\n", "\x01", "é", "\u2028", "\xff"} {
		for n := 0; n < 40; n++ {
			for at := 0; at <= n; at++ {
				s := make([]byte, 0, n+4)
				for i := 0; i < n; i++ {
					if i == at {
						s = append(s, special...)
					}
					s = append(s, byte('a'+i%26))
				}
				if at == n {
					s = append(s, special...)
				}
				got := string(appendEscaped(nil, s))
				var want []byte
				for i := 0; i < len(s); {
					// One rune at a time through the byte loop: no word is
					// ever 8 bytes long, so the fast path cannot run.
					j := i + 1
					for j < len(s) && s[j]&0xc0 == 0x80 {
						j++
					}
					want = appendEscaped(want, s[i:j])
					i = j
				}
				if got != string(want) {
					t.Fatalf("%q: got %q, want %q", s, got, want)
				}
			}
		}
	}
}
