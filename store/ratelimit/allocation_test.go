//go:build !race

package ratelimit

import (
	"testing"
	"time"
)

func TestAllowAllocations(t *testing.T) {
	st := newTestStore(t, Options{})
	api, consumer := MustLimit(1e6, 1e6), MustLimit(1e6, 1e6)
	minute, hour, day := MustQuota(PeriodMinute, MaxQuota), MustQuota(PeriodHour, MaxQuota), MustQuota(PeriodDay, MaxQuota)
	one := []Request{{Key: 1, Limit: api}}
	full := []Request{{Key: 1, Limit: api}, {Key: 2, Limit: consumer}, {Key: 2, Limit: minute}, {Key: 2, Limit: hour}, {Key: 2, Limit: day}}
	tiny := MustLimit(1, 1)
	denied := []Request{{Key: 1, Limit: api}, {Key: 3, Limit: tiny}}
	now := t0
	st.Allow(now, full)
	st.Allow(now, denied)
	cases := map[string]func(){
		"one bucket":         func() { st.Allow(now, one) },
		"bucket+3 quotas":    func() { st.Allow(now, full) },
		"denied":             func() { st.Allow(now, denied) },
		"array on the stack": func() { var r [2]Request; r[0], r[1] = one[0], full[1]; st.Allow(now, r[:]) },
		"Nanotime":           func() { now = Nanotime() },
		"RetryAfterSeconds":  func() { _ = RetryAfterSeconds(1500 * time.Millisecond) },
	}
	for name, f := range cases {
		if a := testing.AllocsPerRun(1000, f); a != 0 {
			t.Errorf("%s: %v allocs/op", name, a)
		}
	}
	c := NewCoarseClock(time.Millisecond)
	defer c.Stop()
	if a := testing.AllocsPerRun(1000, func() { st.Allow(c.Now(), full) }); a != 0 {
		t.Errorf("with CoarseClock: %v allocs/op", a)
	}
}
