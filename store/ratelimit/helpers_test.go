package ratelimit

import (
	"testing"
	"time"
)

// t0 is a fake clock origin on a UTC day boundary plus 12h.
var t0 = time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC).UnixNano()

func newTestStore(t testing.TB, o Options) *Local {
	t.Helper()
	if o.SweepInterval == 0 {
		o.SweepInterval = time.Hour // tests sweep by hand with a fake clock
	}
	st, err := NewLocal(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// bucketLevel is the number of whole tokens in key's bucket at now.
func bucketLevel(st *Local, key uint64, l *Limit, now int64) int64 {
	k, h, sh := st.locate(key, l.Period)
	var w int64
	if e := sh.lookup(k, h); e != nil {
		if w = e.state.Load(); w == dead {
			w = 0
		}
	}
	base := max(w, now)
	return (l.tau - (base - now)) / l.interval
}

// quotaUsed is the count of key's quota window containing now.
func quotaUsed(st *Local, key uint64, l *Limit, now int64) int64 {
	k, h, sh := st.locate(key, l.Period)
	e := sh.lookup(k, h)
	if e == nil {
		return 0
	}
	w := e.state.Load()
	if w == dead || w>>countBits != quotaTag(now/l.interval) {
		return 0
	}
	return w & countMask
}

// countAllowed runs n single-request Allow calls and counts admissions.
func countAllowed(st *Local, now int64, n int, reqs ...Request) int {
	got := 0
	for range n {
		if st.Allow(now, reqs).Allowed {
			got++
		}
	}
	return got
}
