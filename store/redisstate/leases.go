package redisstate

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/sluicegw/sluice/store/ratelimit"
)

// deadTokens marks an evicted lease; no live token count reaches it.
const deadTokens = int64(math.MinInt64)

// lease is one node's share of one fleet-wide bucket or quota window: the
// tokens Redis granted to this node and not yet spent. The request path
// reads expires and denyUntil and CASes tokens; everything else belongs to
// the refill worker (or the sweeper, under the shard lock). tokens below
// zero is debt: requests admitted before Redis confirmed them (a cold key's
// first request, or the MaxDebt grace while a refill is in flight), charged
// to Redis unconditionally by the next refill.
type lease struct {
	tokens    atomic.Int64 // spendable; < 0 debt; deadTokens once evicted
	spent     atomic.Int64 // tokens spent, ever; the refill worker derives the rate
	expires   atomic.Int64 // tokens are void at and after this now
	denyUntil atomic.Int64 // Redis said no: deny locally until this now
	fleetLeft atomic.Int64 // tokens Redis still had after the last refill
	low       atomic.Int64 // refill when tokens fall below this
	queued    atomic.Bool  // a refill is queued or in flight
	used      atomic.Bool  // a request saw it since the last sweep
	limit     atomic.Pointer[ratelimit.Limit]

	key    uint64
	period ratelimit.Period

	// Refill worker only.
	redisKey   string // bucket key (quota keys carry the window, built per refill)
	rate       float64
	lastSpent  int64
	lastRefill int64
	batch      int64
	n, debt    int64 // of the refill in flight
	win        int64 // quota window of the refill in flight

}

// periodSalt keeps a bucket and the quotas sharing one caller key apart.
var periodSalt = [4]uint64{0x2545f4914f6cdd1d, 0x6a09e667f3bcc909, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b}

func internalKey(key uint64, p ratelimit.Period) uint64 {
	k := key ^ periodSalt[p&3]
	if k == 0 { // 0 marks an empty slot; this alias has odds 2^-64
		k = 1
	}
	return k
}

func mix(k uint64) uint64 {
	h := k * 0x9E3779B97F4A7C15
	return h ^ h>>29
}

type leaseSlot struct {
	key atomic.Uint64
	e   atomic.Pointer[lease]
}

// leaseTable is a linear-probing table whose slots are written once (key
// after e) and never cleared: eviction publishes a new table instead, so
// readers need no tombstones and no lock.
type leaseTable struct {
	slots []leaseSlot
	mask  uint64
	used  int // guarded by the shard lock
}

func newLeaseTable(n int) *leaseTable {
	size := 8
	for size < n*2 {
		size *= 2
	}
	return &leaseTable{slots: make([]leaseSlot, size), mask: uint64(size - 1)}
}

func (t *leaseTable) lookup(k, h uint64) *lease {
	i := h & t.mask
	for range len(t.slots) {
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

// insertLocked links e; the caller holds the shard lock and made room.
func (t *leaseTable) insertLocked(k, h uint64, e *lease) {
	i := h & t.mask
	for t.slots[i].key.Load() != 0 {
		i = (i + 1) & t.mask
	}
	t.slots[i].e.Store(e)
	t.slots[i].key.Store(k)
	t.used++
}

type leaseShard struct {
	tab atomic.Pointer[leaseTable]
	mu  sync.Mutex
	_   [64]byte
}

const leaseShards = 64

type leaseMap struct {
	shards [leaseShards]leaseShard
	count  atomic.Int64
}

func (m *leaseMap) init() {
	for i := range m.shards {
		m.shards[i].tab.Store(newLeaseTable(0))
	}
}

// get returns the live lease for key and period, creating it (under the
// shard lock, the only lock on this path) when missing.
func (m *leaseMap) get(key uint64, p ratelimit.Period) *lease {
	k := internalKey(key, p)
	h := mix(k)
	s := &m.shards[h>>58&(leaseShards-1)]
	if e := s.tab.Load().lookup(k, h); e != nil && e.tokens.Load() != deadTokens {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tab.Load()
	if e := t.lookup(k, h); e != nil {
		return e // under the lock, linked leases are live
	}
	if (t.used+1)*4 > len(t.slots)*3 {
		t = s.rebuildLocked(t.used + 1)
	}
	e := &lease{key: key, period: p}
	e.low.Store(1)
	t.insertLocked(k, h, e)
	m.count.Add(1)
	return e
}

// rebuildLocked publishes a table holding the live leases of the current
// one, sized for n, and returns it.
func (s *leaseShard) rebuildLocked(n int) *leaseTable {
	old := s.tab.Load()
	nt := newLeaseTable(n)
	for i := range old.slots {
		e := old.slots[i].e.Load()
		if e == nil || e.tokens.Load() == deadTokens {
			continue
		}
		k := old.slots[i].key.Load()
		nt.insertLocked(k, mix(k), e)
	}
	s.tab.Store(nt)
	return nt
}

// sweep evicts leases that saw no request (admitted or denied) since the
// previous sweep, hold no debt and have no refill in flight. Unspent tokens they hold are given
// up (the fleet admits slightly less, never more). It returns how many.
func (m *leaseMap) sweep() int {
	total := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		t := s.tab.Load()
		n, live := 0, 0
		for j := range t.slots {
			e := t.slots[j].e.Load()
			if e == nil {
				continue
			}
			if !e.used.Load() && !e.queued.Load() {
				if v := e.tokens.Load(); v >= 0 && e.tokens.CompareAndSwap(v, deadTokens) {
					n++
					continue
				}
			}
			e.used.Store(false)
			live++
		}
		if n > 0 {
			s.rebuildLocked(live)
		}
		s.mu.Unlock()
		m.count.Add(int64(-n))
		total += n
	}
	return total
}
