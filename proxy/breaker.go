package proxy

import (
	"sync/atomic"

	"github.com/sluicegw/sluice/policy"
)

// Breaker states, as exported by sluice_upstream_breaker_state.
const (
	breakerClosed   int32 = 0
	breakerOpen     int32 = 1
	breakerHalfOpen int32 = 2
)

// breaker is one target's circuit breaker: closed counts attempts and
// failures in a fixed window and opens at the configured failure ratio;
// open refuses until its open time is over, then half-opens; half-open lets
// `probes` attempts through at once and closes after that many successes
// in a row, or reopens on the first failure. Lock-free: every field is an
// atomic and each transition is one compare-and-swap, so exactly one caller
// counts it. The settings come from the backend's chain on each call; the
// state lives in the target (registry), so it survives reloads.
type breaker struct {
	state       atomic.Int32
	windowStart atomic.Int64
	total       atomic.Int64
	failed      atomic.Int64
	openedAt    atomic.Int64
	probes      atomic.Int64 // probes in flight (half-open)
	successes   atomic.Int64 // successful probes (half-open)
}

// allow reports whether an attempt may start, and whether it is a probe
// (its result must then be passed to record with probe=true).
func (b *breaker) allow(s *policy.BreakerSpec, now int64, m *targetMetrics) (ok, probe bool) {
	switch b.state.Load() {
	case breakerClosed:
		return true, false
	case breakerOpen:
		if now-b.openedAt.Load() < int64(s.OpenTime) {
			return false, false
		}
		if b.state.CompareAndSwap(breakerOpen, breakerHalfOpen) {
			b.probes.Store(0)
			b.successes.Store(0)
			m.toHalfOpen.Inc()
		}
	}
	if b.state.Load() != breakerHalfOpen {
		return b.state.Load() == breakerClosed, false
	}
	if b.probes.Add(1) > s.Probes {
		b.probes.Add(-1)
		return false, false
	}
	return true, true
}

// refuses is allow's read-only twin for choosing a target: true while the
// breaker is open and its open time runs, or half-open with every probe
// slot taken.
func (b *breaker) refuses(s *policy.BreakerSpec, now int64) bool {
	switch b.state.Load() {
	case breakerOpen:
		return now-b.openedAt.Load() < int64(s.OpenTime)
	case breakerHalfOpen:
		return b.probes.Load() >= s.Probes
	}
	return false
}

// record counts one attempt's result.
func (b *breaker) record(s *policy.BreakerSpec, now int64, failed, probe bool, m *targetMetrics) {
	if probe {
		b.probes.Add(-1)
		if b.state.Load() != breakerHalfOpen {
			return
		}
		if failed {
			b.trip(breakerHalfOpen, now, m)
			return
		}
		if b.successes.Add(1) >= s.Probes && b.state.CompareAndSwap(breakerHalfOpen, breakerClosed) {
			b.windowStart.Store(now)
			b.total.Store(0)
			b.failed.Store(0)
			m.toClosed.Inc()
		}
		return
	}
	if b.state.Load() != breakerClosed {
		return
	}
	if ws := b.windowStart.Load(); now-ws >= int64(s.Window) && b.windowStart.CompareAndSwap(ws, now) {
		b.total.Store(0)
		b.failed.Store(0)
	}
	total := b.total.Add(1)
	if !failed {
		return
	}
	f := b.failed.Add(1)
	if total >= s.MinRequests && f*100 >= int64(s.FailureRatio)*total {
		b.trip(breakerClosed, now, m)
	}
}

func (b *breaker) trip(from int32, now int64, m *targetMetrics) {
	if b.state.CompareAndSwap(from, breakerOpen) {
		b.openedAt.Store(now)
		m.toOpen.Inc()
	}
}

func breakerStateName(s int32) string {
	switch s {
	case breakerOpen:
		return "open"
	case breakerHalfOpen:
		return "half_open"
	}
	return "closed"
}
