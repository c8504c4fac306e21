//go:build !race

package redisstate

import (
	"math"
	"testing"
	"time"

	"github.com/sluicegw/sluice/store/ratelimit"
	"github.com/sluicegw/sluice/store/redisstate/redistest"
)

// TestLeaseSpendAllocations: spending leased tokens, a locally cached
// denial and the local fallback allocate nothing. The leases are filled by
// hand so that no refill (which allocates, off the request path) runs
// during the measurement.
func TestLeaseSpendAllocations(t *testing.T) {
	s := redistest.Start(t)
	c, err := Dial(Options{Addrs: []string{s.Addr}, Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l, err := NewLimiter(c, LimiterOptions{FleetSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	bucket, day, tiny := ratelimit.MustLimit(1e6, 1e6), ratelimit.MustQuota(ratelimit.PeriodDay, ratelimit.MaxQuota), ratelimit.MustLimit(1, 1)
	fill := func(key uint64, lim *ratelimit.Limit, tokens, denyUntil int64) {
		ls := l.leases.get(key, lim.Period)
		ls.limit.Store(lim)
		ls.expires.Store(math.MaxInt64)
		ls.tokens.Store(tokens)
		ls.denyUntil.Store(denyUntil)
	}
	fill(1, bucket, 1<<40, 0)
	fill(2, bucket, 1<<40, 0)
	fill(2, day, 1<<40, 0)
	fill(3, tiny, 0, math.MaxInt64)
	one := []ratelimit.Request{{Key: 1, Limit: bucket}}
	full := []ratelimit.Request{{Key: 1, Limit: bucket}, {Key: 2, Limit: bucket}, {Key: 2, Limit: day}}
	denied := []ratelimit.Request{{Key: 1, Limit: bucket}, {Key: 3, Limit: tiny}}
	now := ratelimit.Nanotime()
	cases := []struct {
		name string
		f    func()
	}{
		{"one lease", func() { l.Allow(now, one) }},
		{"bucket+consumer+day quota", func() { l.Allow(now, full) }},
		{"cached denial", func() { l.Allow(now, denied) }},
		{"array on the stack", func() { var r [2]ratelimit.Request; r[0], r[1] = one[0], full[2]; l.Allow(now, r[:]) }},
	}
	for _, tc := range cases {
		tc.f()
		if a := testing.AllocsPerRun(1000, tc.f); a != 0 {
			t.Errorf("%s: %v allocs/op", tc.name, a)
		}
	}
	// A lease filled by real refills, spent at full speed: refills run on
	// the worker and are amortized over the batch.
	real := []ratelimit.Request{{Key: 10, Limit: bucket}}
	for range 200 {
		l.Allow(ratelimit.Nanotime(), real)
		time.Sleep(100 * time.Microsecond)
	}
	if a := testing.AllocsPerRun(1000, func() { l.Allow(ratelimit.Nanotime(), real) }); a != 0 {
		t.Errorf("refilled lease: %v allocs/op", a)
	}
	if l.Allow(now, denied).Allowed {
		t.Fatal("cached denial admitted")
	}
	// Open the breaker by hand, without waking the prober (whose PINGs
	// allocate), to measure the fallback alone.
	c.open.Store(true)
	defer c.open.Store(false)
	for _, p := range []Fallback{FallbackLocal, FallbackAllow, FallbackDeny} {
		l.opt.Fallback = p
		f := func() { l.Allow(now, full) }
		f()
		if a := testing.AllocsPerRun(1000, f); a != 0 {
			t.Errorf("fallback %d: %v allocs/op", p, a)
		}
	}
}
