package proxy

import (
	"encoding/binary"
	"testing"
)

// appendFrame encodes one frame header for a payload of n bytes, masked or
// not, followed by the payload.
func appendFrame(dst []byte, n int, masked bool, fill byte) []byte {
	b1 := byte(0)
	if masked {
		b1 = 0x80
	}
	dst = append(dst, 0x82)
	switch {
	case n < 126:
		dst = append(dst, b1|byte(n))
	case n < 1<<16:
		dst = append(dst, b1|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if masked {
		dst = append(dst, 1, 2, 3, 4)
	}
	for i := 0; i < n; i++ {
		dst = append(dst, fill)
	}
	return dst
}

func TestFrameTrackerBoundaries(t *testing.T) {
	var stream []byte
	var ends []int
	for i, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		stream = appendFrame(stream, n, i%2 == 0, byte(i))
		ends = append(ends, len(stream))
	}
	for _, step := range []int{1, 2, 3, 7, 4096, len(stream)} {
		var ft frameTracker
		next := 0
		for off := 0; off < len(stream); {
			end := min(off+step, len(stream))
			// Feed up to the next frame end at most, so every end is observed.
			if next < len(ends) && end > ends[next] {
				end = ends[next]
			}
			ft.feed(stream[off:end])
			off = end
			atEnd := next < len(ends) && off == ends[next]
			if atEnd {
				next++
			}
			if ft.atBoundary() != atEnd {
				t.Fatalf("step %d, offset %d: atBoundary %v, want %v", step, off, ft.atBoundary(), atEnd)
			}
		}
	}
	var bad frameTracker
	bad.feed([]byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0})
	if bad.atBoundary() {
		t.Fatal("a 64-bit length with its top bit set is no frame")
	}
}

// FuzzFrameTracker: frames built from the input, fed in pieces the input
// chooses, are tracked exactly: at a boundary after each frame, never inside.
func FuzzFrameTracker(f *testing.F) {
	f.Add([]byte{0, 5, 200, 3}, []byte{1, 2, 3})
	f.Add([]byte{126, 255, 127}, []byte{50})
	f.Fuzz(func(t *testing.T, sizes, cuts []byte) {
		if len(sizes) > 16 {
			sizes = sizes[:16]
		}
		var stream []byte
		ends := map[int]bool{0: true}
		for i, s := range sizes {
			n := int(s)
			if s >= 250 {
				n = int(s) * 300 // some 16-bit and 64-bit lengths
			}
			stream = appendFrame(stream, n, i%2 == 1, s)
			ends[len(stream)] = true
		}
		var ft frameTracker
		off, ci := 0, 0
		for off < len(stream) {
			step := 1
			if len(cuts) > 0 {
				step = int(cuts[ci%len(cuts)])%97 + 1
				ci++
			}
			end := min(off+step, len(stream))
			for o := off + 1; o <= end; o++ { // one byte at a time past every end
				ft.feed(stream[o-1 : o])
				if ft.atBoundary() != ends[o] {
					t.Fatalf("offset %d: atBoundary %v, want %v", o, ft.atBoundary(), ends[o])
				}
			}
			off = end
		}
	})
}
