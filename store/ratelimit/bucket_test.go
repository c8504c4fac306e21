package ratelimit

import (
	"strings"
	"testing"
	"time"
)

func TestBurstThenRefill(t *testing.T) {
	st := newTestStore(t, Options{})
	l := MustLimit(50, 50)
	req := Request{Key: 42, Limit: l}
	if got := countAllowed(st, t0, 1000, req); got != 50 {
		t.Fatalf("first second: %d allowed, want 50", got)
	}
	if got := countAllowed(st, t0+int64(time.Second), 1000, req); got != 50 {
		t.Fatalf("after 1s: %d allowed, want 50", got)
	}
	// Half a second refills half the burst.
	if got := countAllowed(st, t0+int64(1500*time.Millisecond), 1000, req); got != 25 {
		t.Fatalf("after 1.5s: %d allowed, want 25", got)
	}
	// A long idle period refills to Burst, never beyond.
	if got := countAllowed(st, t0+int64(time.Hour), 1000, req); got != 50 {
		t.Fatalf("after 1h: %d allowed, want 50", got)
	}
}

func TestRefillMath(t *testing.T) {
	st := newTestStore(t, Options{})
	l := MustLimit(10, 5) // one token per 100ms
	req := []Request{{Key: 1, Limit: l}}
	steps := []struct {
		at        time.Duration
		cost      int64
		allowed   bool
		remaining int64
		reset     time.Duration
		retry     time.Duration
	}{
		{0, 1, true, 4, 100 * time.Millisecond, 0},
		{0, 4, true, 0, 500 * time.Millisecond, 0},
		{0, 1, false, 0, 500 * time.Millisecond, 100 * time.Millisecond},
		{50 * time.Millisecond, 1, false, 0, 450 * time.Millisecond, 50 * time.Millisecond},
		{100 * time.Millisecond, 1, true, 0, 500 * time.Millisecond, 0},
		{250 * time.Millisecond, 1, true, 0, 450 * time.Millisecond, 0}, // 1.5 tokens were there
		{250 * time.Millisecond, 2, false, 0, 450 * time.Millisecond, 150 * time.Millisecond},
		{600 * time.Millisecond, 5, false, 4, 100 * time.Millisecond, 100 * time.Millisecond},
		{700 * time.Millisecond, 5, true, 0, 500 * time.Millisecond, 0},
		{2 * time.Second, 0, true, 4, 100 * time.Millisecond, 0},                       // cost 0 means 1
		{2 * time.Second, 6, false, 4, 100 * time.Millisecond, 200 * time.Millisecond}, // above burst: never
	}
	for i, s := range steps {
		req[0].Cost = s.cost
		d := st.Allow(t0+int64(s.at), req)
		if d.Allowed != s.allowed || d.Remaining != s.remaining || d.Reset != s.reset || d.RetryAfter != s.retry || d.Limit != 5 {
			t.Fatalf("step %d (%+v): got %+v", i, s, d)
		}
		wantDenied := -1
		if !s.allowed {
			wantDenied = 0
		}
		if d.Denied != wantDenied {
			t.Fatalf("step %d: Denied %d", i, d.Denied)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	st := newTestStore(t, Options{})
	cases := []struct {
		rate  float64
		burst int64
		cost  int64
		at    time.Duration // when the denied call is made, after draining at 0
		want  time.Duration
		secs  int
	}{
		{1, 1, 1, 0, time.Second, 1},
		{1, 1, 1, 400 * time.Millisecond, 600 * time.Millisecond, 1},
		{0.5, 2, 2, 0, 4 * time.Second, 4},
		{0.5, 2, 1, 500 * time.Millisecond, 1500 * time.Millisecond, 2},
		{100, 10, 1, 0, 10 * time.Millisecond, 1},
		{1.0 / 60, 1, 1, 0, time.Minute, 60},
	}
	for i, c := range cases {
		l := MustLimit(c.rate, c.burst)
		req := []Request{{Key: uint64(1000 + i), Limit: l, Cost: c.burst}}
		if d := st.Allow(t0, req); !d.Allowed {
			t.Fatalf("case %d: draining was denied: %+v", i, d)
		}
		req[0].Cost = c.cost
		d := st.Allow(t0+int64(c.at), req)
		if d.Allowed || d.RetryAfter != c.want || RetryAfterSeconds(d.RetryAfter) != c.secs {
			t.Errorf("case %d: got %+v (%ds), want RetryAfter %v (%ds)", i, d, RetryAfterSeconds(d.RetryAfter), c.want, c.secs)
		}
		// Waiting exactly RetryAfter admits the request.
		if d2 := st.Allow(t0+int64(c.at)+int64(d.RetryAfter), req); !d2.Allowed {
			t.Errorf("case %d: denied after waiting RetryAfter: %+v", i, d2)
		}
	}
}

func TestRoundedRateStaysExactAtBurst(t *testing.T) {
	st := newTestStore(t, Options{})
	l := MustLimit(3, 7) // 333333333ns per token, not exact
	if got := countAllowed(st, t0, 100, Request{Key: 9, Limit: l}); got != 7 {
		t.Fatalf("%d allowed, want 7", got)
	}
	if got := countAllowed(st, t0+int64(time.Second), 100, Request{Key: 9, Limit: l}); got != 3 {
		t.Fatalf("%d allowed after 1s, want 3", got)
	}
}

func TestAllowEmpty(t *testing.T) {
	st := newTestStore(t, Options{})
	d := st.Allow(t0, nil)
	if !d.Allowed || d.Denied != -1 || d.Remaining != 0 {
		t.Fatalf("%+v", d)
	}
}

func TestAllowBugPanics(t *testing.T) {
	st := newTestStore(t, Options{})
	good := MustLimit(1, 1)
	cases := map[string][]Request{
		"nil limit":     {{Key: 1}},
		"literal limit": {{Key: 1, Limit: &Limit{Rate: 1, Burst: 1}}},
		"negative cost": {{Key: 1, Limit: good, Cost: -1}},
		"too many":      make([]Request, MaxRequests+1),
	}
	for name, reqs := range cases {
		func() {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.HasPrefix(s, "BUG: ") {
					t.Errorf("%s: recovered %v, want a BUG panic", name, r)
				}
			}()
			st.Allow(t0, reqs)
		}()
	}
}

func TestRefundBucket(t *testing.T) {
	l := MustLimit(10, 5) // 100ms per token
	iv := l.interval
	now := t0
	// Nobody wrote since: exact restore of the replaced value.
	var e entry
	e.state.Store(now - 5*iv) // full, long ago
	o := evalBucket(e.state.Load(), now, 2, l)
	e.state.Store(o.next)
	refundBucket(&e, now-5*iv, o.next, now, 2, l)
	if e.state.Load() != now-5*iv {
		t.Fatalf("exact restore: %d", e.state.Load()-now)
	}
	// Someone took 1 after us: subtract our 2.
	e.state.Store(now + 3*iv)
	refundBucket(&e, now, now+2*iv, now, 2, l)
	if e.state.Load() != now+iv {
		t.Fatalf("subtract: %d", e.state.Load()-now)
	}
	// Never credit beyond full.
	e.state.Store(now + iv)
	refundBucket(&e, now, now+4*iv, now, 4, l)
	if e.state.Load() != now {
		t.Fatalf("clamp: %d", e.state.Load()-now)
	}
	// Full or dead: untouched.
	e.state.Store(now - iv)
	refundBucket(&e, now, now+iv, now, 1, l)
	e2 := entry{}
	e2.state.Store(dead)
	refundBucket(&e2, now, now+iv, now, 1, l)
	if e.state.Load() != now-iv || e2.state.Load() != dead {
		t.Fatal("refund touched a full or dead bucket")
	}
}
