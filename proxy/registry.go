package proxy

import (
	"sync"
	"sync/atomic"
)

// target is what the gateway knows about one upstream address, whatever
// backend or pool settings reach it: requests in flight and the run of
// consecutive gateway failures (the state health checks, ejection and
// breakers build on). Kept across reloads by the registry, keyed by address
// alone; reset when the address leaves the config. Fields are atomics: safe
// for concurrent use.
type target struct {
	addr                string
	inflight            atomic.Int64
	consecutiveFailures atomic.Int64
	gen                 uint64 // guarded by registry.mu
}

// observe records one attempt's result. Only failures of the gateway's own
// exchange count (no connection, reset, timeout), not the client's.
func (t *target) observe(err error) {
	if err == nil {
		if t.consecutiveFailures.Load() != 0 {
			t.consecutiveFailures.Store(0)
		}
		return
	}
	if _, client := err.(*errClientBody); client {
		return
	}
	t.consecutiveFailures.Add(1)
}

// registry holds one target per upstream address across reloads. Safe for
// concurrent use; the lock is taken only when a snapshot is bound.
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

// bind returns addr's target, creating it on first use.
func (r *registry) bind(addr string) *target {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.m[addr]
	if t == nil {
		t = &target{addr: addr}
		r.m[addr] = t
	}
	t.gen = r.gen
	return t
}

// end forgets targets the newest snapshot does not bind: an address that
// comes back later starts with fresh state.
func (r *registry) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for a, t := range r.m {
		if t.gen != r.gen {
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
