//go:build !race

package accesslog

import (
	"net/netip"
	"testing"
)

// TestAllocsReserveCommit drives the request-path API (sampling, ring
// reserve, field copies, commit) and the consumer side without the
// shipper goroutine, whose own allocations AllocsPerRun would also count.
func TestAllocsReserveCommit(t *testing.T) {
	l := &Logger{ring: newRing(64, true), sampleBelow: 1 << 31} // rate 0.5
	id := []byte("0f8fad5b-d9cb-469f-a165-70867728950e")
	ua := []byte("Mozilla/5.0")
	addr := netip.MustParseAddr("2001:db8::1")
	n := testing.AllocsPerRun(1000, func() {
		for _, status := range []int{200, 503} {
			r := l.Reserve(status)
			if r == nil {
				continue
			}
			fillRecord(r, id)
			r.Set(FieldUserAgent, ua)
			r.SetClientAddr(addr)
			l.Commit(r)
		}
		for r := l.ring.peek(); r != nil; r = l.ring.peek() {
			l.ring.release(r)
		}
	})
	if n != 0 {
		t.Fatalf("Reserve+fill+Commit: %v allocs/op, want 0", n)
	}
	// Ring full: the drop path must not allocate either.
	for l.ring.reserve() != nil {
	}
	if n := testing.AllocsPerRun(100, func() { l.Reserve(500) }); n != 0 {
		t.Fatalf("drop path: %v allocs/op", n)
	}
}

func TestAllocsEncode(t *testing.T) {
	var r Record
	r.SetKeepQuery(true)
	fillRecord(&r, []byte("req-1\x00\"é\xff"))
	r.SetString(FieldQuery, "a=1&token=secret&Api%5Fkey=2")
	enc := NewEncoder(DefaultMaskedParams)
	buf := enc.AppendJSON(nil, &r)
	n := testing.AllocsPerRun(1000, func() {
		buf = enc.AppendJSON(buf[:0], &r)
	})
	if n != 0 {
		t.Fatalf("AppendJSON: %v allocs/op, want 0", n)
	}
}

// TestAllocsBatchAndSyslog covers the shipper's per-record work and the
// syslog message framing once buffers have grown.
func TestAllocsBatchAndSyslog(t *testing.T) {
	var r Record
	fillRecord(&r, []byte("req-1"))
	enc := NewEncoder(nil)
	b := &batch{}
	s := newSyslogSink(SinkConfig{Network: "udp", AppName: "x", Facility: "local0"})
	var msg []byte
	n := testing.AllocsPerRun(100, func() {
		b.buf, b.ends, b.times, b.status = b.buf[:0], b.ends[:0], b.times[:0], b.status[:0]
		for i := 0; i < 50; i++ {
			b.add(enc, &r)
		}
		for i := 0; i < b.n(); i++ {
			msg = s.appendMessage(msg[:0], b, i)
		}
	})
	if n != 0 {
		t.Fatalf("%v allocs/op, want 0", n)
	}
}
