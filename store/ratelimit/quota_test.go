package ratelimit

import (
	"testing"
	"time"
)

func TestQuotaMinuteRollover(t *testing.T) {
	st := newTestStore(t, Options{})
	q := MustQuota(PeriodMinute, 3)
	req := []Request{{Key: 7, Limit: q}}
	at := t0 + int64(59*time.Second) // 12:00:59 UTC
	for i := range 3 {
		d := st.Allow(at, req)
		if !d.Allowed || d.Remaining != int64(2-i) || d.Reset != time.Second || d.Limit != 3 {
			t.Fatalf("call %d: %+v", i, d)
		}
	}
	d := st.Allow(at+int64(999*time.Millisecond), req)
	if d.Allowed || d.RetryAfter != time.Millisecond || d.Remaining != 0 || d.Denied != 0 {
		t.Fatalf("4th in window: %+v", d)
	}
	// 12:01:00 exactly starts a new window.
	d = st.Allow(at+int64(time.Second), req)
	if !d.Allowed || d.Remaining != 2 || d.Reset != time.Minute {
		t.Fatalf("new window: %+v", d)
	}
}

func TestQuotaWindowsAlignToUTC(t *testing.T) {
	st := newTestStore(t, Options{})
	cases := []struct {
		p          Period
		last, next time.Time // last instant of a window, first of the next
	}{
		{PeriodMinute, time.Date(2025, 3, 14, 12, 34, 59, 999999999, time.UTC), time.Date(2025, 3, 14, 12, 35, 0, 0, time.UTC)},
		{PeriodHour, time.Date(2025, 3, 14, 12, 59, 59, 999999999, time.UTC), time.Date(2025, 3, 14, 13, 0, 0, 0, time.UTC)},
		{PeriodDay, time.Date(2025, 3, 14, 23, 59, 59, 999999999, time.UTC), time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC)},
		{PeriodDay, time.Date(2024, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for i, c := range cases {
		q := MustQuota(c.p, 2)
		req := []Request{{Key: uint64(i), Limit: q, Cost: 2}}
		start := c.next.Add(-time.Duration(c.p.nanos())) // first instant of the last window
		if !st.Allow(start.UnixNano(), req).Allowed {
			t.Fatalf("%v: first use denied", c.p)
		}
		req[0].Cost = 1
		d := st.Allow(c.last.UnixNano(), req)
		if d.Allowed || d.RetryAfter != 1 || d.Reset != 1 {
			t.Fatalf("%v: last instant: %+v", c.p, d)
		}
		if d := st.Allow(c.next.UnixNano(), req); !d.Allowed || d.Reset != time.Duration(c.p.nanos()) || d.Remaining != 1 {
			t.Fatalf("%v: next window: %+v", c.p, d)
		}
	}
}

func TestQuotasSharingAConsumerKey(t *testing.T) {
	st := newTestStore(t, Options{})
	minute, hour, day := MustQuota(PeriodMinute, 5), MustQuota(PeriodHour, 8), MustQuota(PeriodDay, 10)
	const consumer = 12345
	reqs := []Request{{Key: consumer, Limit: minute}, {Key: consumer, Limit: hour}, {Key: consumer, Limit: day}}
	// Minute quota decides within a minute.
	if got := countAllowed(st, t0, 100, reqs...); got != 5 {
		t.Fatalf("minute 1: %d, want 5", got)
	}
	// Next minute: the hour quota (8) leaves 3.
	if got := countAllowed(st, t0+int64(time.Minute), 100, reqs...); got != 3 {
		t.Fatalf("minute 2: %d, want 3", got)
	}
	d := st.Allow(t0+int64(time.Minute), reqs)
	if d.Denied != 1 || d.RetryAfter != 59*time.Minute {
		t.Fatalf("hour denial: %+v", d)
	}
	// Next hour: the day quota (10) leaves 2; the denied calls above took
	// nothing from the minute or day counters.
	if got := countAllowed(st, t0+int64(time.Hour), 100, reqs...); got != 2 {
		t.Fatalf("next hour: %d, want 2", got)
	}
	if u := quotaUsed(st, consumer, minute, t0+int64(time.Hour)); u != 2 {
		t.Fatalf("minute counter %d, want 2", u)
	}
	if u := quotaUsed(st, consumer, day, t0); u != 10 {
		t.Fatalf("day counter %d, want 10", u)
	}
	// Most restrictive for headers: with the day at 10/10 everything is
	// denied until midnight; the longest wait is reported.
	d = st.Allow(t0+int64(2*time.Hour), reqs)
	if d.Allowed || d.Denied != 2 || d.RetryAfter != 10*time.Hour {
		t.Fatalf("day denial: %+v", d)
	}
}

func TestRefundQuota(t *testing.T) {
	q := MustQuota(PeriodMinute, 10)
	var e entry
	o := evalQuota(0, t0, 4, q)
	e.state.Store(o.next)
	refundQuota(&e, t0+int64(30*time.Second), 3, q)
	if got := e.state.Load() & countMask; got != 1 {
		t.Fatalf("count %d after refund, want 1", got)
	}
	// A later window owes nothing.
	before := e.state.Load()
	refundQuota(&e, t0+int64(time.Minute), 1, q)
	if e.state.Load() != before {
		t.Fatal("refund in another window changed the counter")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("over-refund did not panic")
		}
	}()
	refundQuota(&e, t0, 2, q)
}
