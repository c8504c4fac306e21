package redisstate

import (
	"math"
	"testing"
	"time"

	"github.com/sluicegw/sluice/store/ratelimit"
	"github.com/sluicegw/sluice/store/redisstate/redistest"
)

// newDetachedLimiter is a Limiter on a Conn that has never reached Redis
// (its breaker is closed by hand and no refill can succeed), for tests of
// the local lease rules alone.
func newDetachedLimiter(t *testing.T, o LimiterOptions) *Limiter {
	t.Helper()
	c := &Conn{opt: Options{KeyPrefix: "t:", Timeout: time.Millisecond}, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	close(c.done)
	l, err := NewLimiter(c, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestLeaseRules(t *testing.T) {
	l := newDetachedLimiter(t, LimiterOptions{})
	ls := &lease{}
	const now = int64(1e18)
	ls.expires.Store(now + 1)
	ls.tokens.Store(3)
	if nv, ok, _ := l.evalLease(ls, 3, now, 2); !ok || nv != 1 {
		t.Fatalf("spend 2 of 3: got %d %v", nv, ok)
	}
	// Expired: the 3 leftover tokens are void; one request may go on
	// credit (MaxDebt 1), which also drops the leftovers.
	ls.expires.Store(now)
	if nv, ok, _ := l.evalLease(ls, 3, now, 1); !ok || nv != -1 {
		t.Fatalf("expired lease: got %d %v, want debt -1", nv, ok)
	}
	if _, ok, _ := l.evalLease(ls, -1, now, 1); ok {
		t.Fatal("second credit beyond MaxDebt admitted")
	}
	// A cached denial beats credit, and says how long.
	ls.tokens.Store(0)
	ls.denyUntil.Store(now + 5e6)
	if _, ok, wait := l.evalLease(ls, 0, now, 1); ok || wait != 5e6 {
		t.Fatalf("cached denial: ok %v wait %d", ok, wait)
	}
	if _, ok, _ := l.evalLease(ls, deadTokens, now, 1); ok {
		t.Fatal("dead lease admitted")
	}
}

// TestLeaseSweepKeepsDeniedKeys: a key that only sees denials is still in
// use; evicting it would hand out fresh credit on every sweep.
func TestLeaseSweepKeepsDeniedKeys(t *testing.T) {
	l := newDetachedLimiter(t, LimiterOptions{SweepInterval: time.Hour})
	lim := ratelimit.MustLimit(1, 1)
	now := ratelimit.Nanotime()
	ls := l.leases.get(7, lim.Period)
	ls.limit.Store(lim)
	ls.denyUntil.Store(math.MaxInt64)
	l.leases.get(8, lim.Period) // never used by a request
	for range 3 {
		if l.Allow(now, []ratelimit.Request{{Key: 7, Limit: lim}}).Allowed {
			t.Fatal("cached denial admitted")
		}
		if n := l.leases.sweep(); n > 1 {
			t.Fatalf("sweep evicted %d leases, want only the unused one", n)
		}
	}
	if l.Leases() != 1 || l.leases.get(7, lim.Period) != ls {
		t.Fatalf("the denied key's lease was evicted (%d leases)", l.Leases())
	}
	l.leases.sweep()
	if l.Leases() != 0 {
		t.Fatalf("idle lease kept: %d", l.Leases())
	}
}

// TestLeaseColdKeyAndCachedDenial: with Redis, a cold key's first request
// is admitted at once (on credit), and once the fleet bucket is empty the
// node denies locally without asking Redis until a batch fits again.
func TestLeaseColdKeyAndCachedDenial(t *testing.T) {
	s := redistest.Start(t)
	c, err := Dial(Options{Addrs: []string{s.Addr}, Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l, err := NewLimiter(c, LimiterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lim := ratelimit.MustLimit(1, 5) // 5 tokens, then one per second
	reqs := []ratelimit.Request{{Key: 42, Limit: lim}}
	if !l.Allow(ratelimit.Nanotime(), reqs).Allowed {
		t.Fatal("cold key's first request denied")
	}
	admitted := 1
	for range 200 {
		if l.Allow(ratelimit.Nanotime(), reqs).Allowed {
			admitted++
		}
		time.Sleep(time.Millisecond)
	}
	if !c.Healthy() {
		t.Fatal("breaker opened (a timeout on a loaded machine?); the count below would be the fallback's")
	}
	// 200 ms at 1/s: the burst of 5 and at most one refill-time token.
	if admitted < 5 || admitted > 6 {
		t.Fatalf("admitted %d, want 5 (burst) or 6", admitted)
	}
	before := s.CommandCalls("evalsha", "eval")
	var d ratelimit.Decision
	for range 1000 {
		d = l.Allow(ratelimit.Nanotime(), reqs)
	}
	if calls := s.CommandCalls("evalsha", "eval") - before; calls > 1 {
		t.Errorf("%d Redis calls for 1000 denied requests, want the denial cached", calls)
	}
	if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > time.Second {
		t.Errorf("denial %+v, want RetryAfter in (0, 1s]", d)
	}
}
