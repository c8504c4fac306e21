package ratelimit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const hammerers = 8

// hammer runs hammerers goroutines, each making attempts calls built by
// reqs(g, i), and returns the number admitted.
func hammer(st *Local, now int64, attempts int, reqs func(g, i int) []Request) int64 {
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for g := range hammerers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range attempts {
				if st.Allow(now, reqs(g, i)).Allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return admitted.Load()
}

func TestRaceOneKeyExactBurst(t *testing.T) {
	st := newTestStore(t, Options{})
	l := MustLimit(50, 50)
	got := hammer(st, t0, 1000, func(g, i int) []Request { return []Request{{Key: 77, Limit: l}} })
	if got != 50 || bucketLevel(st, 77, l, t0) != 0 {
		t.Fatalf("admitted %d, want exactly 50", got)
	}
	q := MustQuota(PeriodHour, 40)
	got = hammer(st, t0, 1000, func(g, i int) []Request { return []Request{{Key: 77, Limit: q, Cost: 1 + int64(i%2)}} })
	if used := quotaUsed(st, 77, q, t0); used != 40 || got < 20 || got > 40 {
		t.Fatalf("quota: admitted %d, used %d", got, used)
	}
}

func TestRaceMultiBucketExact(t *testing.T) {
	cases := []struct {
		name           string
		apiBurst       int64
		want, apiLevel int64
	}{
		{"consumers decide", 100, 40, 60},
		{"api decides", 30, 30, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := newTestStore(t, Options{})
			api, consumer := MustLimit(100, c.apiBurst), MustLimit(20, 20)
			got := hammer(st, t0, 500, func(g, i int) []Request {
				// Consumer first for half the goroutines, API first for the
				// others: refunds must work in both orders.
				a, b := Request{Key: 1, Limit: api}, Request{Key: 10 + uint64(g%2), Limit: consumer}
				if g%4 < 2 {
					return []Request{a, b}
				}
				return []Request{b, a}
			})
			left := bucketLevel(st, 10, consumer, t0) + bucketLevel(st, 11, consumer, t0)
			if got != c.want || bucketLevel(st, 1, api, t0) != c.apiLevel || left != 40-c.want {
				t.Fatalf("admitted %d (want %d), api level %d (want %d), consumers left %d",
					got, c.want, bucketLevel(st, 1, api, t0), c.apiLevel, left)
			}
		})
	}
}

func TestRaceBucketAndQuotaExact(t *testing.T) {
	st := newTestStore(t, Options{})
	api, day := MustLimit(100, 100), MustQuota(PeriodDay, 25)
	got := hammer(st, t0, 500, func(g, i int) []Request {
		return []Request{{Key: 1, Limit: api}, {Key: 20 + uint64(g%2), Limit: day}}
	})
	if got != 50 || bucketLevel(st, 1, api, t0) != 50 || quotaUsed(st, 20, day, t0)+quotaUsed(st, 21, day, t0) != 50 {
		t.Fatalf("admitted %d, api level %d", got, bucketLevel(st, 1, api, t0))
	}
}

// TestRaceEvictionExact runs phases of frozen time; between phases the clock
// jumps. During each phase a sweeper evicts with a 1ns idle timeout while
// the hammerers take, so kills race with takes on full and fresh entries.
// Each phase must admit exactly what an unevicted bucket would: no token
// lost to a dead entry, none created by a resurrection.
func TestRaceEvictionExact(t *testing.T) {
	const keys, phases, attempts = 16, 12, 150
	for _, c := range []struct {
		name     string
		step     time.Duration
		perPhase int64 // per key after the first phase
	}{
		{"refilled to full each phase", 10 * time.Millisecond, 5},
		{"partly refilled", 2 * time.Millisecond, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := newTestStore(t, Options{Shards: 4})
			st.idle = 1
			l := MustLimit(1000, 5) // 1ms per token
			q := MustQuota(PeriodMinute, 1<<30)
			var counts [keys]atomic.Int64
			for p := range phases {
				now := t0 + int64(p)*int64(c.step)
				stop := make(chan struct{})
				swept := make(chan int)
				go func() {
					n := 0
					for {
						select {
						case <-stop:
							swept <- n
							return
						default:
							n += st.Sweep(now)
						}
					}
				}()
				var wg sync.WaitGroup
				for g := range hammerers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range attempts {
							k := (g + i) % keys
							// The quota never denies; it churns fresh quota
							// entries (count 0 is evictable) beside the bucket.
							if st.Allow(now, []Request{{Key: uint64(k), Limit: q}, {Key: uint64(k), Limit: l}}).Allowed {
								counts[k].Add(1)
							}
						}
					}()
				}
				wg.Wait()
				close(stop)
				<-swept
			}
			want := 5 + c.perPhase*(phases-1)
			for k := range counts {
				if got := counts[k].Load(); got != want {
					t.Errorf("key %d admitted %d, want exactly %d", k, got, want)
				}
			}
		})
	}
}

// TestRaceCreateAtCap hammers new keys into a tiny store: the cap holds and
// Len matches what the shards link.
func TestRaceCreateAtCap(t *testing.T) {
	st := newTestStore(t, Options{Shards: 4, MaxKeys: 100})
	l := MustLimit(1, 1)
	hammer(st, t0, 200, func(g, i int) []Request { return []Request{{Key: uint64(g*1000 + i), Limit: l}} })
	linked := 0
	for i := range st.shards {
		st.shards[i].mu.Lock()
		linked += st.shards[i].live
		st.shards[i].mu.Unlock()
	}
	if st.Len() != 100 || linked != 100 {
		t.Fatalf("Len %d, linked %d, want 100", st.Len(), linked)
	}
}

func TestCoarseClock(t *testing.T) {
	c := NewCoarseClock(time.Millisecond)
	defer c.Stop()
	a := c.Now()
	if d := a - time.Now().UnixNano(); d > int64(time.Second) || d < -int64(time.Second) {
		t.Fatalf("clock off by %v", time.Duration(d))
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Now() == a && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if c.Now() <= a {
		t.Fatal("coarse clock did not advance")
	}
	c.Stop()
	c.Stop()
	if n1, n2 := Nanotime(), Nanotime(); n2 < n1 {
		t.Fatal("Nanotime went backwards")
	}
}
