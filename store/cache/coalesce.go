package cache

import (
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Coalescer lets one request per key go to the origin at a time. The first
// miss becomes the leader and fills the cache; concurrent misses for the same
// key wait for it, up to a bound, then look the key up again (or go to the
// origin themselves when the leader is slow or failed).
//
// Keys are tracked by their 64-bit xxhash: two keys colliding only make one
// request wait for the other's fill, never serve the wrong answer, because
// the waiter looks its own key up again.
//
// The leader's path (no waiters) allocates nothing: flight records are
// pooled and the wake-up channel is made by the first waiter. A Coalescer is
// not tied to a snapshot; safe for concurrent use.
type Coalescer struct {
	shards [coalesceShards]coalesceShard
	pool   sync.Pool
}

const coalesceShards = 64

type coalesceShard struct {
	mu sync.Mutex
	m  map[uint64]*flight
	_  [40]byte // keeps neighbouring shards' locks off one cache line
}

type flight struct {
	ch      chan struct{} // nil until a waiter needs it; closed by Done
	waiters int
}

// Flight is a leader's ticket: pass it to Done when the fill is over.
type Flight struct {
	h  uint64
	f  *flight       // the leader's record; nil for a waiter
	ch chan struct{} // a waiter's wake-up channel
}

// NewCoalescer returns an empty Coalescer.
func NewCoalescer() *Coalescer {
	c := &Coalescer{}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*flight)
	}
	return c
}

// Join registers a miss for key. When leader is true the caller must fill
// (after checking the cache once more: a fill may have finished between its
// lookup and Join) and then call Done(f). Otherwise it must call Wait.
func (c *Coalescer) Join(key []byte) (f Flight, leader bool) {
	h := xxhash.Sum64(key)
	sh := &c.shards[h%coalesceShards]
	sh.mu.Lock()
	if fl, ok := sh.m[h]; ok {
		if fl.ch == nil {
			fl.ch = make(chan struct{})
		}
		fl.waiters++
		ch := fl.ch
		sh.mu.Unlock()
		// A waiter keeps only the channel: the flight record is recycled
		// as soon as the leader is done.
		return Flight{h: h, ch: ch}, false
	}
	fl, _ := c.pool.Get().(*flight)
	if fl == nil {
		fl = &flight{}
	}
	sh.m[h] = fl
	sh.mu.Unlock()
	return Flight{h: h, f: fl}, true
}

// Wait blocks until the leader of f is done or maxWait passes. It returns
// true when the leader finished (look the key up again), false on timeout
// (go to the origin yourself; counted).
func (c *Coalescer) Wait(f Flight, maxWait time.Duration) bool {
	coalescedTotal.Inc()
	t := time.NewTimer(maxWait)
	defer t.Stop()
	select {
	case <-f.ch:
		return true
	case <-t.C:
		coalesceTimeouts.Inc()
		return false
	}
}

// Done ends a leader's flight and wakes its waiters.
func (c *Coalescer) Done(f Flight) {
	sh := &c.shards[f.h%coalesceShards]
	sh.mu.Lock()
	if f.f == nil || sh.m[f.h] != f.f {
		sh.mu.Unlock()
		panic("BUG: cache.Coalescer.Done for a flight that is not in progress")
	}
	delete(sh.m, f.h)
	ch := f.f.ch
	sh.mu.Unlock()
	if ch != nil {
		close(ch)
	}
	f.f.ch, f.f.waiters = nil, 0
	c.pool.Put(f.f)
}

// InFlight reports how many keys have a leader (for tests and gauges).
func (c *Coalescer) InFlight() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// Waiters reports how many requests wait for the leader of key.
func (c *Coalescer) Waiters(key []byte) int {
	h := xxhash.Sum64(key)
	sh := &c.shards[h%coalesceShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if fl, ok := sh.m[h]; ok {
		return fl.waiters
	}
	return 0
}
