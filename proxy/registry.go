package proxy

import (
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
)

// target is what the gateway knows about one upstream address, whatever
// backend or pool settings reach it: requests in flight, the runs of
// consecutive failures, passive ejection, active health and the breaker.
// Kept across reloads by the registry, keyed by address alone, so health
// and ejections survive a reload; reset when the address leaves the config.
// Fields are atomics: safe for concurrent use. Times are the upstreams
// clock's Unix nanoseconds.
type target struct {
	addr                string
	inflight            atomic.Int64
	pending             atomic.Int64 // attempts dialing a new connection
	consecutiveFailures atomic.Int64
	consecutive5xx      atomic.Int64

	// Passive ejection.
	ejectedUntil atomic.Int64 // 0: not ejected
	ejections    atomic.Int64 // ejections in a row, for the growing ejection time
	lastEjectEnd atomic.Int64

	// Active health: down is set by the checker after `fall` failures and
	// cleared after `rise` passes. upSince is when the target last came
	// back (slow start).
	down    atomic.Bool
	upSince atomic.Int64

	br breaker

	m   *targetMetrics
	gen uint64 // guarded by registry.mu
}

// available reports whether t may get a request at now, health and
// ejection alone (breaker and limits are checked when the attempt starts).
func (t *target) available(now int64) bool {
	if t.down.Load() {
		return false
	}
	u := t.ejectedUntil.Load()
	return u == 0 || u <= now
}

// cameBack is when t last became available: the end of its last ejection or
// its last rise, whichever is later (0: never left).
func (t *target) cameBack() int64 {
	return max(t.upSince.Load(), t.lastEjectEnd.Load())
}

// observe records one attempt's result: err, or the answer's status. Only
// failures of the gateway's own exchange count (no connection, reset,
// timeout), not the client's. It returns true when a consecutive-failure
// threshold was just reached (the chain then decides on ejection).
func (t *target) observe(err error, status int, o *outlierLimits) bool {
	if err == nil {
		if t.consecutiveFailures.Load() != 0 {
			t.consecutiveFailures.Store(0)
		}
		if status >= 500 {
			n := t.consecutive5xx.Add(1)
			return o != nil && o.c5xx > 0 && n >= o.c5xx
		}
		if t.consecutive5xx.Load() != 0 {
			t.consecutive5xx.Store(0)
		}
		return false
	}
	if !countsAgainstTarget(err) {
		return false
	}
	n := t.consecutiveFailures.Add(1)
	return o != nil && o.failures > 0 && n >= o.failures
}

// outlierLimits are a chain's ejection thresholds in the form observe uses.
type outlierLimits struct{ failures, c5xx int64 }

// eject takes t out until now + its ejection time, which grows with each
// ejection in a row (base, 2 x base, ... capped at max) and starts over
// once the target stayed in for a whole max ejection time.
func (t *target) eject(now int64, base, maxd int64) {
	if end := t.lastEjectEnd.Load(); end != 0 && now-end > maxd {
		t.ejections.Store(0)
	}
	n := t.ejections.Add(1)
	d := min(base*n, maxd)
	t.ejectedUntil.Store(now + d)
	t.lastEjectEnd.Store(now + d)
	t.consecutiveFailures.Store(0)
	t.consecutive5xx.Store(0)
	t.m.ejections.Inc()
}

// unEject ends an ejection early (an active check passed).
func (t *target) unEject(now int64) {
	if u := t.ejectedUntil.Load(); u != 0 && u > now && t.ejectedUntil.CompareAndSwap(u, 0) {
		t.lastEjectEnd.Store(now)
	}
}

// registry holds one target per upstream address across reloads. Safe for
// concurrent use; the lock is taken only when a snapshot is bound, put
// into service, or listed by the admin API.
type registry struct {
	mu  sync.Mutex
	m   map[string]*target
	gen uint64
}

func newRegistry() *registry { return &registry{m: map[string]*target{}} }

func (r *registry) begin() {
	r.mu.Lock()
	r.gen++
	r.mu.Unlock()
}

// bind returns addr's target, creating it on first use; created says so.
func (r *registry) bind(addr string) (t *target, created bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t = r.m[addr]
	if t == nil {
		t = &target{addr: addr}
		t.m = newTargetMetrics(t)
		r.m[addr] = t
		created = true
	}
	t.gen = r.gen
	return t, created
}

// end forgets targets the newest snapshot does not bind: an address that
// comes back later starts with fresh state.
func (r *registry) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for a, t := range r.m {
		if t.gen != r.gen {
			t.m.unregister()
			delete(r.m, a)
		}
	}
}

// lookup returns addr's target, or nil (tests, the admin API).
func (r *registry) lookup(addr string) *target {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[addr]
}

// upstreamMetrics holds the per-target series, so a target that leaves the
// config takes its series with it.
var upstreamMetrics = func() *metrics.Set {
	s := metrics.NewSet()
	metrics.RegisterSet(s)
	return s
}()

// targetMetrics are one target's series, created with its registry entry.
type targetMetrics struct {
	names      []string
	ejections  *metrics.Counter
	checksOK   *metrics.Counter
	checksFail *metrics.Counter
	attempts   *metrics.Counter
	failures   *metrics.Counter
	overloaded *metrics.Counter
	toOpen     *metrics.Counter
	toHalfOpen *metrics.Counter
	toClosed   *metrics.Counter
}

func newTargetMetrics(t *target) *targetMetrics {
	m := &targetMetrics{}
	l := `{target="` + t.addr + `"}`
	lk := func(extra string) string { return `{target="` + t.addr + `",` + extra + `}` }
	counter := func(name string) *metrics.Counter {
		m.names = append(m.names, name)
		return upstreamMetrics.GetOrCreateCounter(name)
	}
	gauge := func(name string, f func() float64) {
		m.names = append(m.names, name)
		upstreamMetrics.GetOrCreateGauge(name, f)
	}
	m.ejections = counter(`sluice_upstream_ejections_total` + l)
	m.checksOK = counter(`sluice_upstream_health_checks_total` + lk(`result="pass"`))
	m.checksFail = counter(`sluice_upstream_health_checks_total` + lk(`result="fail"`))
	m.attempts = counter(`sluice_upstream_attempts_total` + l)
	m.failures = counter(`sluice_upstream_attempt_failures_total` + l)
	m.overloaded = counter(`sluice_upstream_overloaded_total` + l)
	m.toOpen = counter(`sluice_upstream_breaker_transitions_total` + lk(`to="open"`))
	m.toHalfOpen = counter(`sluice_upstream_breaker_transitions_total` + lk(`to="half_open"`))
	m.toClosed = counter(`sluice_upstream_breaker_transitions_total` + lk(`to="closed"`))
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	gauge(`sluice_upstream_healthy`+l, func() float64 { return b2f(!t.down.Load()) })
	gauge(`sluice_upstream_ejected`+l, func() float64 {
		u := t.ejectedUntil.Load()
		return b2f(u != 0 && u > upstreamNow())
	})
	gauge(`sluice_upstream_breaker_state`+l, func() float64 { return float64(t.br.state.Load()) })
	gauge(`sluice_upstream_active_requests`+l, func() float64 { return float64(t.inflight.Load()) })
	return m
}

func (m *targetMetrics) unregister() {
	for _, n := range m.names {
		upstreamMetrics.UnregisterMetric(n)
	}
}
