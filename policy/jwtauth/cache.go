package jwtauth

import (
	"bytes"
	"sync/atomic"
)

// cacheWays is the associativity: a token can live in one of 4 slots.
const cacheWays = 4

// cacheEntry is one verified token. Immutable once published.
type cacheEntry struct {
	hash      uint64
	token     []byte // private copy: a hash match is confirmed byte by byte
	notBefore int64  // unix seconds: valid while notBefore <= now < notAfter
	notAfter  int64
	key       *Key // the key that verified it; the entry dies with the key
	v         *Verified
	err       error // nil or ErrClaimRequired
}

// tokenCache is a fixed-size, 4-way set-associative cache of verified
// tokens indexed by xxhash. Reads are lock-free (atomic pointer loads);
// writes are single atomic stores, so two writers racing on one slot lose
// one entry, never corrupt one. Eviction is bounded: inserting into a full
// set replaces, among its 4 slots, the entry that expires first (expired
// entries therefore go first). Safe for concurrent use.
type tokenCache struct {
	slots []atomic.Pointer[cacheEntry]
	mask  uint64 // number of sets - 1
}

func newTokenCache(size int) *tokenCache {
	n := cacheWays
	for n < size {
		n <<= 1
	}
	return &tokenCache{slots: make([]atomic.Pointer[cacheEntry], n), mask: uint64(n/cacheWays - 1)}
}

func (c *tokenCache) get(h uint64, tok []byte) *cacheEntry {
	base := (h & c.mask) * cacheWays
	for i := uint64(0); i < cacheWays; i++ {
		e := c.slots[base+i].Load()
		if e != nil && e.hash == h && bytes.Equal(e.token, tok) {
			return e
		}
	}
	return nil
}

func (c *tokenCache) put(e *cacheEntry) {
	base := (e.hash & c.mask) * cacheWays
	victim := base
	var victimExp int64
	for i := uint64(0); i < cacheWays; i++ {
		old := c.slots[base+i].Load()
		if old == nil || (old.hash == e.hash && bytes.Equal(old.token, e.token)) {
			victim = base + i
			break
		}
		if i == 0 || old.notAfter < victimExp {
			victim, victimExp = base+i, old.notAfter
		}
	}
	c.slots[victim].Store(e)
}
