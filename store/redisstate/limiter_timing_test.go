package redisstate

import (
	"math"
	"testing"

	"github.com/sluicegw/sluice/store/ratelimit"
	"github.com/sluicegw/sluice/store/redisstate/redistest"
)

// BenchmarkAllow compares one request against a consumer bucket and a day
// quota: ratelimit.Local, and the fleet Limiter spending leases (refilled
// by hand, so that the benchmark measures the request path, not Redis).
// Issue 15's goal is fleet <= 1.05x local.
func BenchmarkAllow(b *testing.B) {
	bucket, day := ratelimit.MustLimit(1e9, 1<<40), ratelimit.MustQuota(ratelimit.PeriodDay, ratelimit.MaxQuota)
	reqs := []ratelimit.Request{{Key: 1, Limit: bucket}, {Key: 1, Limit: day}}
	b.Run("local", func(b *testing.B) {
		st, err := ratelimit.NewLocal(ratelimit.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				st.Allow(ratelimit.Nanotime(), reqs)
			}
		})
	})
	b.Run("fleet", func(b *testing.B) {
		s := redistest.Start(b)
		c, err := Dial(Options{Addrs: []string{s.Addr}})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		l, err := NewLimiter(c, LimiterOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		for _, r := range reqs {
			ls := l.leases.get(r.Key, r.Limit.Period)
			ls.limit.Store(r.Limit)
			ls.expires.Store(math.MaxInt64)
			ls.tokens.Store(1 << 60)
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Allow(ratelimit.Nanotime(), reqs)
			}
		})
	})
}
