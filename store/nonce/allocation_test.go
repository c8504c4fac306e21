//go:build !race

package nonce

import (
	"encoding/binary"
	"testing"
	"time"
)

func TestSeenZeroAlloc(t *testing.T) {
	l := NewLocal(Config{MaxEntries: 1 << 16, Shards: 8})
	key := make([]byte, 16)
	var i uint64
	now := int64(0)
	allocs := testing.AllocsPerRun(10000, func() {
		i++
		now += int64(time.Millisecond)
		binary.LittleEndian.PutUint64(key, i)
		l.Seen(now, key, time.Second) // new keys, purges, and repeats below
		l.Seen(now, key, time.Second)
	})
	if allocs != 0 {
		t.Fatalf("Seen allocates %v times per call", allocs)
	}
}
