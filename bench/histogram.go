package bench

import (
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds from 1 µs to 60 s with three
// significant digits: loopback proxies answer in tens of microseconds, and a
// value is never off by more than 0.1% of itself.
const (
	histLowestMicros  = 1
	histHighestMicros = 60_000_000
	histSigFigs       = 3
)

// newLatencyHistogram returns an empty histogram with the harness's geometry.
func newLatencyHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowestMicros, histHighestMicros, histSigFigs)
}

// recordLatency clamps d into the trackable range and records it.
func recordLatency(h *hdrhistogram.Histogram, d time.Duration) {
	v := d.Microseconds()
	if v < histLowestMicros {
		v = histLowestMicros
	}
	if v > histHighestMicros {
		v = histHighestMicros
	}
	if err := h.RecordValue(v); err != nil {
		panic("BUG: clamped latency rejected by histogram: " + err.Error())
	}
}

// LatencySummary is the latency distribution of one run. Durations encode as
// nanoseconds in JSON.
type LatencySummary struct {
	Count int64         `json:"count"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
}

// Summarize reads the standard percentiles out of h.
func Summarize(h *hdrhistogram.Histogram) LatencySummary {
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return LatencySummary{
		Count: h.TotalCount(),
		Mean:  time.Duration(h.Mean() * float64(time.Microsecond)),
		P50:   us(h.ValueAtQuantile(50)),
		P90:   us(h.ValueAtQuantile(90)),
		P99:   us(h.ValueAtQuantile(99)),
		P999:  us(h.ValueAtQuantile(99.9)),
		Max:   us(h.Max()),
	}
}

// latencyShards spreads recording over a few mutex-guarded histograms so that
// hundreds of workers do not each need a 200 KiB histogram of their own nor
// all contend on one lock. Safe for concurrent use.
type latencyShards struct {
	shards []latencyShard
}

type latencyShard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [40]byte // keep neighbouring shard locks off one cache line
}

func newLatencyShards(n int) *latencyShards {
	if n < 1 {
		n = 1
	}
	s := &latencyShards{shards: make([]latencyShard, n)}
	for i := range s.shards {
		s.shards[i].h = newLatencyHistogram()
	}
	return s
}

// record adds d to the shard owned by worker.
func (s *latencyShards) record(worker int, d time.Duration) {
	sh := &s.shards[worker%len(s.shards)]
	sh.mu.Lock()
	recordLatency(sh.h, d)
	sh.mu.Unlock()
}

// merged returns one histogram holding every shard's values.
func (s *latencyShards) merged() *hdrhistogram.Histogram {
	out := newLatencyHistogram()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		out.Merge(sh.h)
		sh.mu.Unlock()
	}
	return out
}
