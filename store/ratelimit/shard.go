package ratelimit

import (
	"sync"
	"sync/atomic"
)

// entry is the state of one bucket or quota counter. state is the only
// mutable field and is changed by CAS alone; it becomes dead exactly once,
// when the entry is evicted, and never changes after that. Entries are never
// reused, so a pointer held by a racing reader can at worst be dead, never
// belong to another key.
type entry struct {
	state  atomic.Int64
	period Period // immutable; tells the sweeper how to read state
}

// evictable reports whether state w of e may be dropped at now.
func (e *entry) evictable(w, now, idle int64) bool {
	if e.period == PeriodNone {
		return bucketEvictable(w, now, idle)
	}
	return quotaEvictable(w, now, idle, e.period)
}

// tryKill marks e dead if it is evictable, atomically with respect to every
// CAS on its state: either a taker's CAS wins (then e is no longer
// evictable) or the kill wins (then the taker sees dead and looks again).
func (e *entry) tryKill(now, idle int64) bool {
	for {
		w := e.state.Load()
		if w == dead || !e.evictable(w, now, idle) {
			return false
		}
		if e.state.CompareAndSwap(w, dead) {
			return true
		}
	}
}

// slot is one cell of a shard's open-addressing table. key 0 means empty; a
// slot with a key and a nil e is a tombstone for that key (evicted), which
// only the same key may reuse, because a lock-free reader may be between
// reading key and reading e.
type slot struct {
	key atomic.Uint64
	e   atomic.Pointer[entry]
}

// table is an immutable-size linear-probing table; len(slots) is a power of two.
type table struct {
	slots []slot
	mask  uint64
}

func newTable(size int) *table {
	return &table{slots: make([]slot, size), mask: uint64(size - 1)}
}

const minTableSize = 8

// shard is one lock domain. Readers use tab and zero with atomic loads only;
// mu serialises writers (key creation, sweeping, resizing), which keep the
// invariant that no table reachable from tab links a dead entry.
type shard struct {
	tab  atomic.Pointer[table]
	zero atomic.Pointer[entry] // internal key 0 cannot use the table (0 = empty)

	mu            sync.Mutex
	used          int   // table slots with a key (live + tombstones); guarded by mu
	live          int   // linked entries, zero included; guarded by mu
	lastEmergency int64 // now of the last at-capacity sweep; guarded by mu

	_ [64]byte // keep neighbouring shards' hot words off this cache line
}

func (s *shard) init() {
	s.tab.Store(newTable(minTableSize))
}

// lookup returns the entry for k, or nil. It takes no lock. The result may
// be dead (evicted after the load) or missing while a writer inserts it; the
// caller then goes to getOrCreate, which decides under the lock.
func (s *shard) lookup(k, h uint64) *entry {
	if k == 0 {
		return s.zero.Load()
	}
	t := s.tab.Load()
	i := h & t.mask
	for n := uint64(0); n <= t.mask; n++ {
		sl := &t.slots[i]
		sk := sl.key.Load()
		if sk == k {
			return sl.e.Load()
		}
		if sk == 0 {
			return nil
		}
		i = (i + 1) & t.mask
	}
	return nil
}

// getOrCreate returns the live entry for k, creating it if needed. It
// returns nil when the store is at its key cap and no room could be made.
func (s *shard) getOrCreate(st *Local, k, h uint64, p Period, now int64) *entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Under mu, linked entries are never dead (eviction unlinks under mu).
	if e := s.lookup(k, h); e != nil {
		return e
	}
	if !st.reserveKey() {
		if s.lastEmergency != 0 && now-s.lastEmergency < emergencySweepEvery {
			return nil
		}
		s.lastEmergency = now
		// Full buckets and ended windows are equivalent to absent keys, so
		// drop them without waiting for the idle timeout.
		st.releaseKeys(s.sweepLocked(now, 0))
		if !st.reserveKey() {
			return nil
		}
	}
	e := &entry{period: p}
	if k == 0 {
		s.zero.Store(e)
	} else {
		s.insertLocked(k, h, e)
	}
	s.live++
	keysCreated.Inc()
	return e
}

// insertLocked links e under k, reusing k's tombstone if there is one.
func (s *shard) insertLocked(k, h uint64, e *entry) {
	for {
		t := s.tab.Load()
		i := h & t.mask
		for {
			sl := &t.slots[i]
			sk := sl.key.Load()
			if sk == k {
				sl.e.Store(e)
				return
			}
			if sk == 0 {
				break
			}
			i = (i + 1) & t.mask
		}
		if (s.used+1)*4 > len(t.slots)*3 {
			s.rehashLocked(s.live + 1)
			continue // probe the new table
		}
		// e before key: a reader that sees the key also sees e.
		t.slots[i].e.Store(e)
		t.slots[i].key.Store(k)
		s.used++
		return
	}
}

// rehashLocked publishes a new table sized for n live keys (load at most
// 1/2), dropping tombstones. Readers still probing the old table find the
// same *entry values there, or miss and fall back to getOrCreate.
func (s *shard) rehashLocked(n int) {
	size := minTableSize
	for size < n*2 {
		size *= 2
	}
	old := s.tab.Load()
	nt := newTable(size)
	used := 0
	for i := range old.slots {
		e := old.slots[i].e.Load()
		if e == nil {
			continue
		}
		k := old.slots[i].key.Load()
		j := mix(k) & nt.mask
		for nt.slots[j].key.Load() != 0 {
			j = (j + 1) & nt.mask
		}
		nt.slots[j].e.Store(e)
		nt.slots[j].key.Store(k)
		used++
	}
	s.tab.Store(nt)
	s.used = used
}

// sweepLocked kills and unlinks evictable entries and shrinks the table
// when it is mostly tombstones or mostly empty. It returns how many entries
// it dropped.
func (s *shard) sweepLocked(now, idle int64) int {
	n := 0
	if e := s.zero.Load(); e != nil && e.tryKill(now, idle) {
		s.zero.Store(nil)
		n++
	}
	t := s.tab.Load()
	for i := range t.slots {
		e := t.slots[i].e.Load()
		if e != nil && e.tryKill(now, idle) {
			t.slots[i].e.Store(nil) // tombstone: the key stays for probing
			n++
		}
	}
	s.live -= n
	tombs := s.used - s.live
	if s.zero.Load() != nil {
		tombs++ // zero is counted in live but not in used
	}
	if tombs*4 > len(t.slots) || (len(t.slots) > minTableSize && s.live*8 < len(t.slots)) {
		s.rehashLocked(s.live)
	}
	return n
}

// mix spreads a key over shards (top bits) and slots (low bits); keys are
// usually xxhash values already, but tests and careless callers pass small
// integers.
func mix(k uint64) uint64 {
	h := k * 0x9E3779B97F4A7C15
	return h ^ h>>29
}
