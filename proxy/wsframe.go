package proxy

// frameTracker follows WebSocket frame boundaries (RFC 6455 §5.2) in one
// direction of a tunnel without looking at payloads: it reads each frame's
// 2–14 header bytes and counts the payload through. The tunnel needs no more
// than that to know when it may inject a close frame of its own (graceful
// shutdown) without cutting a frame in half. Not safe for concurrent use:
// one per direction, owned by that direction's copier.
type frameTracker struct {
	hdr  [14]byte
	hn   int    // header bytes collected so far
	left uint64 // payload bytes of the current frame still to come
	bad  bool   // a header that no valid frame has (64-bit length with its top bit set)
}

// feed advances the tracker over b.
func (f *frameTracker) feed(b []byte) {
	for len(b) > 0 && !f.bad {
		if f.left > 0 {
			n := uint64(len(b))
			if n > f.left {
				n = f.left
			}
			f.left -= n
			b = b[n:]
			continue
		}
		f.hdr[f.hn] = b[0]
		f.hn++
		b = b[1:]
		if f.hn < 2 {
			continue
		}
		need := 2
		switch f.hdr[1] & 0x7f {
		case 126:
			need += 2
		case 127:
			need += 8
		}
		if f.hdr[1]&0x80 != 0 {
			need += 4 // masking key
		}
		if f.hn < need {
			continue
		}
		switch n := f.hdr[1] & 0x7f; n {
		case 126:
			f.left = uint64(f.hdr[2])<<8 | uint64(f.hdr[3])
		case 127:
			if f.hdr[2]&0x80 != 0 {
				f.bad = true
				return
			}
			var v uint64
			for _, c := range f.hdr[2:10] {
				v = v<<8 | uint64(c)
			}
			f.left = v
		default:
			f.left = uint64(n)
		}
		f.hn = 0
	}
}

// atBoundary reports whether the bytes fed so far end exactly after a frame.
func (f *frameTracker) atBoundary() bool { return !f.bad && f.hn == 0 && f.left == 0 }

// closeGoingAway is an unmasked server-to-client close frame with status
// 1001 "going away" (RFC 6455 §7.4.1).
var closeGoingAway = []byte{0x88, 0x02, 0x03, 0xe9}
