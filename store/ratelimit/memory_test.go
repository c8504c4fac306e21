//go:build !race

package ratelimit

import (
	"runtime"
	"testing"
)

const memKeys = 1_000_000

// insertKeysHeap inserts n distinct bucket keys into a fresh store and
// returns the live heap growth in bytes after a GC.
func insertKeysHeap(tb testing.TB, n int) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	st, err := NewLocal(Options{MaxKeys: n})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	l := MustLimit(1, 10)
	reqs := []Request{{Limit: l}}
	for i := range n {
		reqs[0].Key = uint64(i) * 0x9E3779B97F4A7C15 // distinct, hash-like
		if !st.Allow(t0, reqs).Allowed {
			tb.Fatalf("key %d denied", i)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if st.Len() != n {
		tb.Fatalf("Len %d", st.Len())
	}
	runtime.KeepAlive(st)
	return after.HeapAlloc - before.HeapAlloc
}

func TestMemoryMillionKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts 1M keys")
	}
	heap := insertKeysHeap(t, memKeys)
	t.Logf("%d keys: %.1f MiB heap, %.1f bytes/key", memKeys, float64(heap)/(1<<20), float64(heap)/memKeys)
	if heap > 128<<20 {
		t.Fatalf("%d keys use %d bytes, over 128 MiB", memKeys, heap)
	}
}

func BenchmarkMemoryMillionKeys(b *testing.B) {
	var heap uint64
	for range b.N {
		heap = insertKeysHeap(b, memKeys)
	}
	b.ReportMetric(float64(heap)/(1<<20), "MiB")
	b.ReportMetric(float64(heap)/memKeys, "B/key")
}
