package ratelimit

import (
	"testing"
	"time"
)

func TestSweepEvictsOnlyFullAndIdle(t *testing.T) {
	st := newTestStore(t, Options{IdleTimeout: time.Minute})
	l := MustLimit(1, 10) // 10s to refill
	q := MustQuota(PeriodMinute, 5)
	st.Allow(t0, []Request{{Key: 1, Limit: l, Cost: 10}, {Key: 2, Limit: q}})
	if st.Len() != 2 {
		t.Fatalf("Len %d", st.Len())
	}
	// At +30s the bucket has been full for 20s and the window ended 30s ago:
	// neither idle for a minute yet.
	if n := st.Sweep(t0 + int64(30*time.Second)); n != 0 {
		t.Fatalf("evicted %d too early", n)
	}
	// At +71s the bucket has been full for 61s; the window (12:00:00-12:01:00)
	// ended 11s ago, so only the bucket goes.
	if n := st.Sweep(t0 + int64(71*time.Second)); n != 1 || st.Len() != 1 {
		t.Fatalf("evicted %d, Len %d; want 1, 1", n, st.Len())
	}
	if n := st.Sweep(t0 + int64(121*time.Second)); n != 1 || st.Len() != 0 {
		t.Fatalf("evicted %d, Len %d; want 1, 0", n, st.Len())
	}
	// Re-created state is indistinguishable: full bucket, fresh window.
	d := st.Allow(t0+int64(121*time.Second), []Request{{Key: 1, Limit: l, Cost: 10}, {Key: 2, Limit: q, Cost: 5}})
	if !d.Allowed {
		t.Fatalf("after eviction: %+v", d)
	}
}

func TestSweepKeepsQuotaOfCurrentWindow(t *testing.T) {
	st := newTestStore(t, Options{IdleTimeout: time.Second})
	q := MustQuota(PeriodDay, 3)
	st.Allow(t0, []Request{{Key: 1, Limit: q, Cost: 3}})
	if n := st.Sweep(t0 + int64(11*time.Hour)); n != 0 {
		t.Fatalf("evicted a quota whose day is not over")
	}
	if st.Allow(t0+int64(11*time.Hour), []Request{{Key: 1, Limit: q}}).Allowed {
		t.Fatal("quota forgot its count")
	}
	if n := st.Sweep(t0 + int64(12*time.Hour) + int64(time.Second)); n != 1 {
		t.Fatalf("evicted %d after the day ended, want 1", n)
	}
}

func TestKeyCapDeny(t *testing.T) {
	st := newTestStore(t, Options{Shards: 1, MaxKeys: 10})
	l := MustLimit(1, 2)
	for k := range uint64(10) {
		if !st.Allow(t0, []Request{{Key: k, Limit: l}}).Allowed {
			t.Fatalf("key %d denied below the cap", k)
		}
	}
	// At the cap: a new key is refused, and the existing bucket taken from
	// earlier in the same call is refunded.
	d := st.Allow(t0, []Request{{Key: 3, Limit: l}, {Key: 99, Limit: l}})
	if d.Allowed || d.Denied != 1 || d.RetryAfter != time.Second || d.Limit != 2 {
		t.Fatalf("at cap: %+v", d)
	}
	if st.Len() != 10 || bucketLevel(st, 3, l, t0) != 1 {
		t.Fatalf("Len %d, level %d", st.Len(), bucketLevel(st, 3, l, t0))
	}
	// Existing keys work normally at the cap.
	if !st.Allow(t0, []Request{{Key: 3, Limit: l}}).Allowed {
		t.Fatal("existing key denied at the cap")
	}
	if st.Allow(t0, []Request{{Key: 3, Limit: l}}).Allowed {
		t.Fatal("existing key over its burst at the cap")
	}
	// 10ms later nothing is full yet (1 token/s), and the emergency sweep
	// is rate-limited anyway: still refused.
	if st.Allow(t0+int64(10*time.Millisecond), []Request{{Key: 100, Limit: l}}).Allowed {
		t.Fatal("new key admitted at cap with nothing evictable")
	}
	// 3s later every bucket is full again: the emergency sweep makes room
	// without waiting for IdleTimeout.
	if !st.Allow(t0+int64(3*time.Second), []Request{{Key: 100, Limit: l}}).Allowed {
		t.Fatal("emergency sweep did not make room")
	}
	if st.Len() != 1 {
		t.Fatalf("Len after emergency sweep %d, want 1", st.Len())
	}
}

func TestKeyCapFailOpen(t *testing.T) {
	st := newTestStore(t, Options{Shards: 2, MaxKeys: 1, FailOpen: true})
	l := MustLimit(1, 1)
	if !st.Allow(t0, []Request{{Key: 1, Limit: l}}).Allowed {
		t.Fatal("first key denied")
	}
	for range 3 { // uncounted, so never denied by its own bucket
		if d := st.Allow(t0, []Request{{Key: 2, Limit: l}}); !d.Allowed || d.Denied != -1 {
			t.Fatalf("fail-open: %+v", d)
		}
	}
	if st.Len() != 1 {
		t.Fatalf("Len %d", st.Len())
	}
	// The existing key is still enforced.
	if st.Allow(t0, []Request{{Key: 1, Limit: l}}).Allowed {
		t.Fatal("existing key not enforced")
	}
}

func TestTableGrowsAndShrinks(t *testing.T) {
	st := newTestStore(t, Options{Shards: 1, IdleTimeout: time.Second})
	l := MustLimit(1000, 1)
	const n = 5000
	for k := range uint64(n) {
		if !st.Allow(t0, []Request{{Key: k, Limit: l}}).Allowed {
			t.Fatalf("key %d denied", k)
		}
	}
	sh := &st.shards[0]
	if size := len(sh.tab.Load().slots); size < n*4/3 || st.Len() != n {
		t.Fatalf("table %d slots for %d keys", size, st.Len())
	}
	for k := range uint64(n) { // all present, all empty
		if st.Allow(t0, []Request{{Key: k, Limit: l}}).Allowed {
			t.Fatalf("key %d lost its state in a resize", k)
		}
	}
	if ev := st.Sweep(t0 + int64(2*time.Second)); ev != n {
		t.Fatalf("evicted %d", ev)
	}
	if size := len(sh.tab.Load().slots); size != minTableSize || sh.used != 0 || sh.live != 0 {
		t.Fatalf("after sweep: %d slots, used %d, live %d", size, sh.used, sh.live)
	}
}

func TestZeroKey(t *testing.T) {
	st := newTestStore(t, Options{Shards: 1, IdleTimeout: time.Second})
	// Internal key 0 cannot live in the table (0 marks empty slots): a
	// bucket on caller key 0, or a quota on the key its salt cancels.
	q := MustQuota(PeriodMinute, 1)
	qk := periodSalt[PeriodMinute]
	if !st.Allow(t0, []Request{{Key: qk, Limit: q}}).Allowed || st.Allow(t0, []Request{{Key: qk, Limit: q}}).Allowed {
		t.Fatal("quota on internal key 0")
	}
	if st.shards[0].zero.Load() == nil || st.Len() != 1 {
		t.Fatal("zero slot unused")
	}
	if ev := st.Sweep(t0 + int64(5*time.Minute)); ev != 1 || st.shards[0].zero.Load() != nil {
		t.Fatalf("evicted %d", ev)
	}
	l := MustLimit(1, 2)
	for range 2 {
		if !st.Allow(t0, []Request{{Key: 0, Limit: l}}).Allowed {
			t.Fatal("key 0 denied")
		}
	}
	if st.Allow(t0, []Request{{Key: 0, Limit: l}}).Allowed {
		t.Fatal("key 0 over burst")
	}
	if st.shards[0].zero.Load() == nil || st.Len() != 1 {
		t.Fatal("zero slot unused")
	}
}

// TestDeadEntryIsNotUsed evicts an entry that a caller already looked up;
// the take must land on a fresh entry, not the unlinked one.
func TestDeadEntryIsNotUsed(t *testing.T) {
	st := newTestStore(t, Options{IdleTimeout: time.Second})
	l := MustLimit(1, 3)
	reqs := []Request{{Key: 8, Limit: l}}
	st.Allow(t0, reqs)
	later := t0 + int64(10*time.Second)
	var s scratch
	if _, ok := st.check(later, reqs, &s); !ok {
		t.Fatal("check denied")
	}
	old := s.ents[0]
	if st.Sweep(later) != 1 || old.state.Load() != dead {
		t.Fatal("not evicted")
	}
	if d := st.take(later, reqs, &s); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("take: %+v", d)
	}
	if old.state.Load() != dead {
		t.Fatal("dead entry resurrected")
	}
	if bucketLevel(st, 8, l, later) != 2 {
		t.Fatal("take not recorded on the new entry")
	}
}

func TestNewLocalOptions(t *testing.T) {
	for _, o := range []Options{{Shards: -1}, {MaxKeys: -1}, {IdleTimeout: -1}, {SweepInterval: -1}, {Shards: 5000}} {
		if _, err := NewLocal(o); err == nil {
			t.Errorf("NewLocal(%+v) accepted", o)
		}
	}
	st := newTestStore(t, Options{Shards: 100})
	if len(st.shards) != 128 || st.maxKeys != DefaultMaxKeys || st.idle != int64(DefaultIdleTimeout) {
		t.Fatalf("defaults: %d shards, %d keys, %d idle", len(st.shards), st.maxKeys, st.idle)
	}
	one := newTestStore(t, Options{Shards: 1})
	if len(one.shards) != 1 || !one.Allow(t0, []Request{{Key: 1, Limit: MustLimit(1, 1)}}).Allowed {
		t.Fatal("single shard store")
	}
	if err := st.Close(); err != nil || st.Close() != nil {
		t.Fatal("Close not idempotent")
	}
}

func TestSweeperGoroutine(t *testing.T) {
	var now = t0
	clock := make(chan int64, 1)
	clock <- now
	st := newTestStore(t, Options{IdleTimeout: time.Second, SweepInterval: time.Millisecond, Clock: func() int64 {
		v := <-clock
		clock <- v
		return v
	}})
	st.Allow(t0, []Request{{Key: 1, Limit: MustLimit(1000, 1)}})
	<-clock
	clock <- t0 + int64(time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for st.Len() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if st.Len() != 0 {
		t.Fatal("sweeper goroutine did not evict")
	}
}

// TestFreshEntryKilledBeforeTake evicts a just-created (hence full) entry
// before the creating call takes from it: the take must go to a new entry.
func TestFreshEntryKilledBeforeTake(t *testing.T) {
	st := newTestStore(t, Options{Shards: 1})
	st.idle = 1
	l := MustLimit(1, 2)
	kills := 0
	testHookAfterCreate = func() {
		if kills < 3 { // the creating call retries; kill its first entries
			kills += st.Sweep(t0)
		}
	}
	defer func() { testHookAfterCreate = nil }()
	d := st.Allow(t0, []Request{{Key: 4, Limit: l}})
	if kills != 3 || !d.Allowed || d.Remaining != 1 {
		t.Fatalf("kills %d, decision %+v", kills, d)
	}
	testHookAfterCreate = nil
	if bucketLevel(st, 4, l, t0) != 1 || st.Len() != 1 {
		t.Fatalf("level %d, Len %d: the take landed on a dead entry", bucketLevel(st, 4, l, t0), st.Len())
	}
	if !st.Allow(t0, []Request{{Key: 4, Limit: l}}).Allowed || st.Allow(t0, []Request{{Key: 4, Limit: l}}).Allowed {
		t.Fatal("burst not exactly 2")
	}
}
