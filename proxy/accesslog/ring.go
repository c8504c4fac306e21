package accesslog

import (
	"sync/atomic"
)

// closedBit marks the producer position of a closed ring. Folding "closed"
// into the position makes closing exact: a producer whose CAS races with
// Close fails, re-reads the position, sees the bit and drops; so the final
// position is known and the consumer can wait for exactly those records.
const closedBit = uint64(1) << 63

// ring is a bounded lock-free multi-producer single-consumer queue of
// preallocated Records (Dmitry Vyukov's bounded queue: one sequence number
// per slot tells producers and the consumer whose turn the slot is).
//
// reserve and commit are safe for concurrent use by any number of
// producers; peek and release must be called by one consumer goroutine.
type ring struct {
	_    [64]byte
	head atomic.Uint64 // next position to reserve, | closedBit when closed
	_    [56]byte
	tail uint64 // next position to consume; consumer-owned
	_    [56]byte

	mask  uint64
	slots []Record
}

func newRing(size int, keepQuery bool) *ring {
	if size <= 0 || size&(size-1) != 0 {
		panic("BUG: accesslog: ring size must be a power of two")
	}
	r := &ring{mask: uint64(size - 1), slots: make([]Record, size)}
	for i := range r.slots {
		r.slots[i].seq.Store(uint64(i))
		r.slots[i].keepQuery = keepQuery
	}
	return r
}

// reserve claims the next free slot, or returns nil when the ring is full or
// closed. It never blocks and never allocates.
func (q *ring) reserve() *Record {
	pos := q.head.Load()
	for {
		if pos&closedBit != 0 {
			return nil
		}
		s := &q.slots[pos&q.mask]
		seq := s.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0:
			if q.head.CompareAndSwap(pos, pos+1) {
				s.pos = pos
				s.reset()
				return s
			}
			pos = q.head.Load()
		case d < 0:
			// The slot still holds the record from one lap ago: full.
			return nil
		default:
			// Another producer took pos; catch up.
			pos = q.head.Load()
		}
	}
}

// commit publishes a reserved slot to the consumer.
func (q *ring) commit(s *Record) {
	s.seq.Store(s.pos + 1)
}

// peek returns the next committed record or nil. The consumer reads it and
// then calls release. A reserved but uncommitted slot blocks the records
// behind it until committed; that is why Commit must always follow Reserve.
func (q *ring) peek() *Record {
	s := &q.slots[q.tail&q.mask]
	if s.seq.Load() != q.tail+1 {
		return nil
	}
	return s
}

// release hands the slot from peek back to the producers.
func (q *ring) release(s *Record) {
	s.seq.Store(q.tail + q.mask + 1)
	q.tail++
}

// skip releases the slot at the tail whether or not it was committed; used
// only after the ring is closed and the shutdown deadline has passed, when
// the consumer gives up on uncommitted slots and counts them dropped.
func (q *ring) skip() { q.tail++ }

// close stops further reservations and returns the final position: every
// slot below it was reserved and will be committed by its producer.
func (q *ring) close() uint64 {
	for {
		pos := q.head.Load()
		if pos&closedBit != 0 {
			return pos &^ closedBit
		}
		if q.head.CompareAndSwap(pos, pos|closedBit) {
			return pos
		}
	}
}

// reserved returns how many records were ever reserved.
func (q *ring) reserved() uint64 { return q.head.Load() &^ closedBit }

// pending reports whether records were reserved past the consumer's
// position (committed or still being filled). Consumer only.
func (q *ring) pending() bool { return q.head.Load()&^closedBit != q.tail }
