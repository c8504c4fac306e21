package cache

import (
	"strconv"
	"testing"
)

func benchStoreGetHit(b *testing.B, size int) {
	s := NewStore(Options{MaxSize: 256 << 20})
	defer s.Reset()
	n := min(1024, (64<<20)/size) // well inside MaxSize, so nothing is evicted
	keys := make([][]byte, n)
	for i := range keys {
		k, ul := testKey(b, "/bench/"+strconv.Itoa(i), "id=1", "")
		s.Set(k, ul, sampleEntry(size, byte(i)))
		keys[i] = k
	}
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 0, size+4096)
		var e Entry
		i := 0
		for pb.Next() {
			v, ok := s.GetInto(buf[:0], keys[i%n])
			if !ok || !e.Decode(v) {
				b.Fatal("miss")
			}
			i++
		}
	})
}

func BenchmarkStoreGetHit(b *testing.B) {
	b.Run("1KiB", func(b *testing.B) { benchStoreGetHit(b, 1<<10) })
	b.Run("16KiB", func(b *testing.B) { benchStoreGetHit(b, 16<<10) })
	b.Run("256KiB-big", func(b *testing.B) { benchStoreGetHit(b, 256<<10) })
}

func BenchmarkStoreSet(b *testing.B) {
	s := NewStore(Options{MaxSize: 256 << 20})
	defer s.Reset()
	k, ul := testKey(b, "/bench", "", "")
	e := sampleEntry(1<<10, 1)
	b.ReportAllocs()
	for b.Loop() {
		s.Set(k, ul, e)
	}
}
