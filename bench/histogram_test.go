package bench

import (
	"math"
	"sync"
	"testing"
	"time"
)

// TestHistogramKnownDistribution records 1..100 000 µs once each (uniform)
// and checks the percentiles within HDR's three significant digits.
func TestHistogramKnownDistribution(t *testing.T) {
	h := newLatencyHistogram()
	for v := 1; v <= 100000; v++ {
		recordLatency(h, time.Duration(v)*time.Microsecond)
	}
	s := Summarize(h)
	check := func(name string, got time.Duration, wantUS float64) {
		t.Helper()
		g := float64(got.Microseconds())
		if math.Abs(g-wantUS) > wantUS*0.001+1 {
			t.Errorf("%s = %v, want %vµs within 0.1%%", name, got, wantUS)
		}
	}
	check("p50", s.P50, 50000)
	check("p90", s.P90, 90000)
	check("p99", s.P99, 99000)
	check("p99.9", s.P999, 99900)
	check("max", s.Max, 100000)
	check("mean", s.Mean, 50000.5)
	if s.Count != 100000 {
		t.Errorf("count %d", s.Count)
	}
}

// TestHistogramSkewed checks a two-mode distribution: 99% at 100 µs and 1%
// at 20 ms, so p50 and p90 sit at the low mode and p99.9 at the high one.
func TestHistogramSkewed(t *testing.T) {
	shards := newLatencyShards(4)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25000 {
				d := 100 * time.Microsecond
				if i%100 == 0 {
					d = 20 * time.Millisecond
				}
				shards.record(w, d)
			}
		}()
	}
	wg.Wait()
	s := Summarize(shards.merged())
	if s.Count != 100000 {
		t.Fatalf("count %d", s.Count)
	}
	near := func(got, want time.Duration) bool {
		return math.Abs(float64(got-want)) <= float64(want)*0.001+float64(time.Microsecond)
	}
	if !near(s.P50, 100*time.Microsecond) || !near(s.P90, 100*time.Microsecond) {
		t.Errorf("p50 %v p90 %v, want 100µs", s.P50, s.P90)
	}
	// Exactly 1% sits at the high mode, so p99 is the last low value.
	if !near(s.P99, 100*time.Microsecond) || !near(s.P999, 20*time.Millisecond) || !near(s.Max, 20*time.Millisecond) {
		t.Errorf("p99 %v p99.9 %v max %v", s.P99, s.P999, s.Max)
	}
}

func TestHistogramClamps(t *testing.T) {
	h := newLatencyHistogram()
	recordLatency(h, 0)
	recordLatency(h, -time.Second)
	recordLatency(h, time.Hour)
	s := Summarize(h)
	if s.Count != 3 || s.P50 != time.Microsecond || s.Max < 59*time.Second {
		t.Errorf("clamping: %+v", s)
	}
}
