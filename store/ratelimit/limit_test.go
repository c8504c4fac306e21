package ratelimit

import (
	"math"
	"testing"
	"time"
)

func TestNewLimitValidation(t *testing.T) {
	bad := []struct {
		rate  float64
		burst int64
	}{
		{0, 1}, {-1, 1}, {math.NaN(), 1}, {math.Inf(1), 1}, {1, 0}, {1, -5},
		{2e9, 1}, // faster than 1 token per ns
	}
	for _, c := range bad {
		if _, err := NewLimit(c.rate, c.burst); err == nil {
			t.Errorf("NewLimit(%v, %d) accepted", c.rate, c.burst)
		}
	}
	if _, err := NewLimit(1, math.MaxInt64); err == nil {
		t.Error("NewLimit with an overflowing span accepted")
	}
	if _, err := NewLimit(1e-9, 1); err != nil {
		t.Errorf("NewLimit(1e-9, 1) spans 1e18 ns < 2^61, rejected: %v", err)
	}
	if _, err := NewLimit(1e-9, 3); err == nil {
		t.Error("NewLimit(1e-9, 3) spans 3e18 ns > 2^61, accepted")
	}
	l, err := NewLimit(3, 7)
	if err != nil {
		t.Fatal(err)
	}
	if l.interval != 333333333 || l.tau != 7*333333333 {
		t.Errorf("interval %d tau %d", l.interval, l.tau)
	}
	if l.Rate != 3 || l.Burst != 7 || l.Period != PeriodNone {
		t.Errorf("fields %+v", *l)
	}
}

func TestNewQuotaValidation(t *testing.T) {
	for _, p := range []Period{PeriodNone, periodCount, 200} {
		if _, err := NewQuota(p, 10); err == nil {
			t.Errorf("NewQuota(%v) accepted", p)
		}
	}
	for _, n := range []int64{0, -1, MaxQuota + 1} {
		if _, err := NewQuota(PeriodMinute, n); err == nil {
			t.Errorf("NewQuota(minute, %d) accepted", n)
		}
	}
	q, err := NewQuota(PeriodDay, MaxQuota)
	if err != nil || q.interval != 86400e9 || q.Burst != MaxQuota {
		t.Fatalf("%+v %v", q, err)
	}
	if PeriodMinute.String() != "minute" || Period(9).String() != "invalid" {
		t.Error("Period.String")
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	cases := []struct {
		d    time.Duration
		want int
	}{
		{-time.Second, 1}, {0, 1}, {1, 1}, {999 * time.Millisecond, 1}, {time.Second, 1},
		{time.Second + 1, 2}, {1500 * time.Millisecond, 2}, {2 * time.Second, 2},
		{59*time.Second + time.Millisecond, 60}, {time.Hour, 3600},
	}
	for _, c := range cases {
		if got := RetryAfterSeconds(c.d); got != c.want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}

func TestMustPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"MustLimit": func() { MustLimit(0, 1) },
		"MustQuota": func() { MustQuota(PeriodNone, 1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}
