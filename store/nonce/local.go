package nonce

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/cespare/xxhash/v2"
)

// refusedFullTotal counts keys a full Local refused (reported as seen).
var refusedFullTotal = metrics.NewCounter(`sluice_nonce_store_refused_full_total`)

// Config sizes a Local store.
type Config struct {
	// MaxEntries caps the nonces remembered at once, across all shards;
	// memory is about 48 bytes per entry, allocated up front. Size it as the
	// peak accepted requests per second times the remembering time (twice the
	// signature window), e.g. 500 req/s x 30 min = 900 000 (default 1048576).
	MaxEntries int `toml:"max_entries"`
	// Shards splits the store to cut lock contention; rounded up to a power
	// of two. Each shard holds MaxEntries/Shards (default 64).
	Shards int `toml:"shards"`
}

const (
	defaultMaxEntries = 1 << 20
	defaultShards     = 64
)

// Local is an in-memory Store with a fixed entry cap. Safe for concurrent
// use; Seen takes one shard's lock (every call records a new key, which is
// the case the design allows a lock for) and does not allocate.
//
// Keys are reduced to their 64-bit xxhash. Two distinct keys with the same
// hash make the second look like a replay: a false refusal, never a false
// acceptance. With n live entries the chance per call is about n/2^64
// (1e-13 at a million entries). xxhash is not collision-resistant, so a
// client could craft two of its own nonces that collide; that only refuses
// its own second request. Shards are picked with a per-process random seed
// so that clients cannot aim their nonces at one shard.
//
// At the cap a shard refuses new keys (Seen returns true, counted in
// sluice_nonce_store_refused_full_total) until its oldest entries expire; it
// never evicts a live entry, since a forgotten nonce could be replayed.
// The trade-off: a client holding valid credentials that sends more than
// MaxEntries/Shards requests per shard within the remembering time denies
// service to others until entries expire; rate limits, which run after
// authentication in the pipeline, do not prevent that, so size the cap
// generously.
//
// Expired entries are purged oldest-first on each Seen in the same shard.
// Purging follows insertion order; with one window for all calls (as the
// casign Verifier uses) that is expiry order. A key stored with a longer
// window delays purging of shorter-window keys behind it, which costs space,
// never correctness: lookups ignore expired entries.
type Local struct {
	shards []shard
	shift  uint   // 64 - log2(len(shards))
	seed   uint64 // randomizes shard choice
}

type slot struct {
	h   uint64 // xxhash of the key, never 0 in the table (0 marks empty)
	exp int64  // Unix nanoseconds
}

type shard struct {
	mu    sync.Mutex
	table []slot // open addressing, linear probing, len a power of two, load <= 1/2
	ring  []slot // insertion-ordered FIFO, len = per-shard cap
	head  int
	n     int
	_     [64]byte // keep neighbouring shards' locks off one cache line
}

// NewLocal allocates a Local store sized by cfg (zero fields get defaults).
func NewLocal(cfg Config) *Local {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = defaultMaxEntries
	}
	if cfg.Shards <= 0 {
		cfg.Shards = defaultShards
	}
	nShards := 1 << bits.Len(uint(cfg.Shards-1))
	per := (cfg.MaxEntries + nShards - 1) / nShards
	tableLen := 1 << bits.Len(uint(2*per-1))
	var seed [8]byte
	_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails since Go 1.24
	l := &Local{
		shards: make([]shard, nShards),
		shift:  uint(64 - bits.Len(uint(nShards-1))),
		seed:   binary.LittleEndian.Uint64(seed[:]) | 1,
	}
	for i := range l.shards {
		l.shards[i].table = make([]slot, tableLen)
		l.shards[i].ring = make([]slot, per)
	}
	return l
}

// Seen implements Store. A window <= 0 records nothing and returns false.
func (l *Local) Seen(now int64, key []byte, window time.Duration) bool {
	if window <= 0 {
		return false
	}
	h := xxhash.Sum64(key)
	if h == 0 {
		h = 1
	}
	s := &l.shards[l.shardOf(h)]
	s.mu.Lock()
	seen := s.seen(now, h, now+int64(window))
	s.mu.Unlock()
	return seen
}

func (l *Local) shardOf(h uint64) uint64 {
	if l.shift == 64 {
		return 0
	}
	// Multiplicative mixing of the seeded hash; the table index uses the low
	// bits of h, the shard the high bits of the product, so they stay
	// independent.
	return ((h ^ l.seed) * 0x9E3779B97F4A7C15) >> l.shift
}

func (s *shard) seen(now int64, h uint64, exp int64) bool {
	s.purge(now)
	mask := uint64(len(s.table) - 1)
	i := h & mask
	for {
		e := &s.table[i]
		if e.h == 0 {
			break
		}
		if e.h == h {
			if e.exp > now {
				return true
			}
			// Expired but not purged yet (behind a longer-lived entry):
			// reuse the slot.
			if !s.push(h, exp) {
				return true
			}
			e.exp = exp
			return false
		}
		i = (i + 1) & mask
	}
	if !s.push(h, exp) {
		return true
	}
	s.table[i] = slot{h: h, exp: exp}
	return false
}

// push appends to the ring; false when the shard is full.
func (s *shard) push(h uint64, exp int64) bool {
	if s.n == len(s.ring) {
		refusedFullTotal.Inc()
		return false
	}
	j := s.head + s.n
	if j >= len(s.ring) {
		j -= len(s.ring)
	}
	s.ring[j] = slot{h: h, exp: exp}
	s.n++
	return true
}

// purge pops expired entries off the ring front and removes them from the
// table unless the table's entry was since renewed (different expiry).
func (s *shard) purge(now int64) {
	for s.n > 0 {
		r := s.ring[s.head]
		if r.exp > now {
			return
		}
		s.ring[s.head] = slot{}
		s.head++
		if s.head == len(s.ring) {
			s.head = 0
		}
		s.n--
		if i, ok := s.find(r.h); ok && s.table[i].exp == r.exp {
			s.remove(i)
		}
	}
}

func (s *shard) find(h uint64) (uint64, bool) {
	mask := uint64(len(s.table) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.table[i].h {
		case h:
			return i, true
		case 0:
			return 0, false
		}
	}
}

// remove deletes slot i by shifting later members of its probe run back, so
// the table needs no tombstones.
func (s *shard) remove(i uint64) {
	mask := uint64(len(s.table) - 1)
	j := i
	for {
		j = (j + 1) & mask
		e := s.table[j]
		if e.h == 0 {
			break
		}
		home := e.h & mask
		// e stays if its home lies cyclically in (i, j].
		if i <= j {
			if i < home && home <= j {
				continue
			}
		} else if i < home || home <= j {
			continue
		}
		s.table[i] = e
		i = j
	}
	s.table[i] = slot{}
}

// Len returns the number of remembered entries, expired ones not yet purged
// included.
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += s.n
		s.mu.Unlock()
	}
	return n
}

// Reset forgets every entry.
func (l *Local) Reset() {
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		clear(s.table)
		clear(s.ring)
		s.head, s.n = 0, 0
		s.mu.Unlock()
	}
}
