//go:build !race

package httpbytes

import "testing"

func TestZeroAllocs(t *testing.T) {
	name, val := []byte("Content-Type"), []byte(" \tchunked ")
	dst := make([]byte, 0, 32)
	n := testing.AllocsPerRun(1000, func() {
		v := TrimOWS(val)
		if !EqualFoldASCII(v, "chunked") || !EqualFold(name, []byte("content-type")) ||
			!EqualFoldString(name, "CONTENT-TYPE") || !IsTokenBytes(name) || !IsToken("X-Id") || IndexByte(name, '-') != 7 {
			t.Fatal("wrong answer")
		}
		dst = AppendLower(dst[:0], name)
	})
	if n != 0 {
		t.Fatalf("allocs = %v, want 0", n)
	}
}
