package nonce

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSeen records a new key per call in a store at steady state
// (entries expiring as fast as they come).
func BenchmarkSeen(b *testing.B) {
	l := NewLocal(Config{MaxEntries: 1 << 18})
	var ctr atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		key := make([]byte, 48)
		for pb.Next() {
			i := ctr.Add(1)
			binary.LittleEndian.PutUint64(key, i)
			l.Seen(int64(i)*int64(time.Microsecond), key, 100*time.Millisecond)
		}
	})
}
