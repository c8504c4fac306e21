package ratelimit

import (
	"sync/atomic"
	"testing"
	"time"
)

func benchStore(b *testing.B) *Local {
	st, err := NewLocal(Options{SweepInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// Limits large enough never to deny: the benchmarks measure the take path.
var (
	benchRate  = MustLimit(1e9, 1<<40)
	benchQuota = MustQuota(PeriodDay, MaxQuota)
)

func BenchmarkAllowExistingKey(b *testing.B) {
	st := benchStore(b)
	reqs := []Request{{Key: 1, Limit: benchRate}}
	st.Allow(t0, reqs)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		st.Allow(t0, reqs)
	}
}

func BenchmarkAllowBucketPlus3Quotas(b *testing.B) {
	st := benchStore(b)
	reqs := []Request{{Key: 1, Limit: benchRate}, {Key: 2, Limit: benchRate},
		{Key: 2, Limit: MustQuota(PeriodMinute, MaxQuota)}, {Key: 2, Limit: MustQuota(PeriodHour, MaxQuota)}, {Key: 2, Limit: benchQuota}}
	st.Allow(t0, reqs)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		st.Allow(t0, reqs)
	}
}

func BenchmarkAllowDenied(b *testing.B) {
	st := benchStore(b)
	reqs := []Request{{Key: 1, Limit: benchRate}, {Key: 2, Limit: MustLimit(1, 1)}}
	st.Allow(t0, reqs)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		st.Allow(t0, reqs)
	}
}

func BenchmarkAllowParallelSameKey(b *testing.B) {
	st := benchStore(b)
	st.Allow(t0, []Request{{Key: 1, Limit: benchRate}})
	b.ReportAllocs()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		reqs := []Request{{Key: 1, Limit: benchRate}}
		for pb.Next() {
			st.Allow(t0, reqs)
		}
	})
}

func BenchmarkAllowParallelDistinctKeys(b *testing.B) {
	st := benchStore(b)
	const keys = 1 << 14
	for k := range uint64(keys) {
		st.Allow(t0, []Request{{Key: k, Limit: benchRate}})
	}
	var seq atomic.Uint64
	b.ResetTimer()
	b.ReportAllocs()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		base := seq.Add(1) * 7919
		reqs := []Request{{Limit: benchRate}}
		for i := uint64(0); pb.Next(); i++ {
			reqs[0].Key = (base + i) % keys
			st.Allow(t0, reqs)
		}
	})
}

// BenchmarkAllowNewKeys measures creation (lock, table insert, growth).
// MaxKeys is raised so the cap never interferes.
func BenchmarkAllowNewKeys(b *testing.B) {
	st, err := NewLocal(Options{MaxKeys: 1 << 30, SweepInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	reqs := []Request{{Limit: benchRate}}
	b.ReportAllocs()
	defer reportCPU(b)()
	var k uint64
	for b.Loop() {
		k++
		reqs[0].Key = k
		st.Allow(t0, reqs)
	}
}

func BenchmarkNanotime(b *testing.B) {
	b.ReportAllocs()
	defer reportCPU(b)()
	var s int64
	for b.Loop() {
		s += Nanotime()
	}
	_ = s
}

func BenchmarkCoarseClockNow(b *testing.B) {
	c := NewCoarseClock(time.Millisecond)
	defer c.Stop()
	b.ReportAllocs()
	defer reportCPU(b)()
	var s int64
	for b.Loop() {
		s += c.Now()
	}
	_ = s
}

func BenchmarkAllowExistingKeyNanotime(b *testing.B) {
	st := benchStore(b)
	reqs := []Request{{Key: 1, Limit: benchRate}}
	st.Allow(Nanotime(), reqs)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		st.Allow(Nanotime(), reqs)
	}
}
