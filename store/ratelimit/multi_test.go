package ratelimit

import (
	"testing"
	"time"
)

func TestMultiBucketNoSpendOnDenial(t *testing.T) {
	st := newTestStore(t, Options{})
	api, consumer := MustLimit(100, 100), MustLimit(20, 20)
	reqs := []Request{{Key: 1, Limit: api}, {Key: 2, Limit: consumer}}
	if got := countAllowed(st, t0, 1000, reqs...); got != 20 {
		t.Fatalf("%d allowed, want 20", got)
	}
	if lvl := bucketLevel(st, 1, api, t0); lvl != 80 {
		t.Fatalf("API bucket holds %d, want exactly 80", lvl)
	}
	// The TAT, not just the rounded level, must be exact: 20 tokens' worth.
	k, h, sh := st.locate(1, PeriodNone)
	if tat := sh.lookup(k, h).state.Load(); tat != t0+20*api.interval {
		t.Fatalf("API TAT = t0%+d, want t0%+d", tat-t0, 20*api.interval)
	}
	// Another consumer still gets its 20, and then the API has 60.
	reqs[1].Key = 3
	if got := countAllowed(st, t0, 1000, reqs...); got != 20 || bucketLevel(st, 1, api, t0) != 60 {
		t.Fatalf("second consumer: %d allowed, API %d", got, bucketLevel(st, 1, api, t0))
	}
}

func TestMultiDecisionHeaders(t *testing.T) {
	st := newTestStore(t, Options{})
	api, consumer := MustLimit(100, 100), MustLimit(10, 20)
	reqs := []Request{{Key: 1, Limit: api}, {Key: 2, Limit: consumer}}
	d := st.Allow(t0, reqs)
	if !d.Allowed || d.Denied != -1 || d.Limit != 20 || d.Remaining != 19 || d.Reset != 100*time.Millisecond {
		t.Fatalf("allowed: %+v", d)
	}
	// Drain the API bucket only: now it is the most restrictive.
	if !st.Allow(t0, []Request{{Key: 1, Limit: api, Cost: 98}}).Allowed {
		t.Fatal("drain denied")
	}
	d = st.Allow(t0, reqs)
	if !d.Allowed || d.Limit != 100 || d.Remaining != 0 || d.Reset != time.Second {
		t.Fatalf("api most restrictive: %+v", d)
	}
	// Both deny: the longer wait is reported (API: 10ms, consumer: 100ms).
	if !st.Allow(t0, []Request{{Key: 2, Limit: consumer, Cost: 18}}).Allowed {
		t.Fatal("drain denied")
	}
	d = st.Allow(t0, reqs)
	if d.Allowed || d.Denied != 1 || d.RetryAfter != 100*time.Millisecond || d.Limit != 20 {
		t.Fatalf("both deny: %+v", d)
	}
	if bucketLevel(st, 1, api, t0) != 0 || bucketLevel(st, 2, consumer, t0) != 0 {
		t.Fatal("levels changed on denial")
	}
}

func TestBucketAndQuotaTogether(t *testing.T) {
	st := newTestStore(t, Options{})
	b, q := MustLimit(1000, 1000), MustQuota(PeriodHour, 30)
	reqs := []Request{{Key: 5, Limit: b}, {Key: 5, Limit: q}} // same key, separate state
	if got := countAllowed(st, t0, 100, reqs...); got != 30 {
		t.Fatalf("%d allowed, want 30", got)
	}
	if lvl := bucketLevel(st, 5, b, t0); lvl != 970 {
		t.Fatalf("bucket level %d, want 970", lvl)
	}
	// Quota first in the list: same outcome, the bucket is untouched by denials.
	reqs[0], reqs[1] = reqs[1], reqs[0]
	reqs[0].Key, reqs[1].Key = 6, 6
	if got := countAllowed(st, t0, 100, reqs...); got != 30 || bucketLevel(st, 6, b, t0) != 970 {
		t.Fatalf("reversed: %d allowed, level %d", got, bucketLevel(st, 6, b, t0))
	}
}

// TestPhaseTwoRaceRefunds drives the take phase directly into a state that a
// concurrent caller would produce: phase 1 saw room, then the last bucket
// was drained before the take. The earlier buckets must be refunded exactly.
func TestPhaseTwoRaceRefunds(t *testing.T) {
	st := newTestStore(t, Options{})
	a, q, c := MustLimit(10, 10), MustQuota(PeriodMinute, 10), MustLimit(1, 1)
	reqs := []Request{{Key: 1, Limit: a}, {Key: 1, Limit: q}, {Key: 3, Limit: c}}
	if !st.Allow(t0, reqs[:2]).Allowed {
		t.Fatal("setup denied")
	}
	var s scratch
	if _, ok := st.check(t0, reqs, &s); !ok {
		t.Fatal("check denied")
	}
	// A concurrent caller drains the third bucket between the phases.
	if !st.Allow(t0, reqs[2:]).Allowed {
		t.Fatal("drain denied")
	}
	d := st.take(t0, reqs, &s)
	if d.Allowed || d.Denied != 2 {
		t.Fatalf("expected a race denial at 2: %+v", d)
	}
	if bucketLevel(st, 1, a, t0) != 9 || quotaUsed(st, 1, q, t0) != 1 {
		t.Fatalf("not refunded: bucket %d, quota %d", bucketLevel(st, 1, a, t0), quotaUsed(st, 1, q, t0))
	}
}

// TestSameKeyTwiceInOneCall: both requests pass the read-only check, the
// second take then sees the first and the whole call is refunded.
func TestSameKeyTwiceInOneCall(t *testing.T) {
	st := newTestStore(t, Options{})
	l := MustLimit(1, 3)
	twice := []Request{{Key: 1, Limit: l}, {Key: 1, Limit: l}}
	if d := st.Allow(t0, twice); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("first: %+v", d)
	}
	if d := st.Allow(t0, twice); d.Allowed || d.Denied != 1 {
		t.Fatalf("second: %+v", d)
	}
	if lvl := bucketLevel(st, 1, l, t0); lvl != 1 {
		t.Fatalf("level %d, want 1: the denied call kept a token", lvl)
	}
}
