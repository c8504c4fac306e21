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
// preallocated Records. It is two structures:
//
//   - a queue of record indices, Dmitry Vyukov's bounded queue: one
//     sequence number per cell tells producers and the consumer whose turn
//     the cell is; it keeps the records in reservation order;
//   - a free stack of record indices (Treiber stack, its head tagged
//     against ABA), from which producers take a record and to which the
//     consumer returns it.
//
// The indirection is for the CPU cache, not for correctness: a ring of
// records used in queue order comes back to each record only after every
// other one, by which time its lines have left the cache, and each
// request paid cache misses to fill its record (about 1.5 % of the
// gateway's CPU per request). The stack hands out the record the shipper
// released last, whose lines are still warm.
//
// Every record taken from the stack has a queue cell waiting for it: the
// consumer frees a cell before it returns the cell's record, so positions
// reserved but not released never outnumber the records in use.
//
// reserve and commit are safe for concurrent use by any number of
// producers; peek and release must be called by one consumer goroutine.
type ring struct {
	_    [64]byte
	head atomic.Uint64 // next position to reserve, | closedBit when closed
	_    [56]byte
	free atomic.Uint64 // free stack: tag<<32 | (top index + 1), 0 when empty
	_    [56]byte
	tail uint64 // next position to consume; consumer-owned
	_    [56]byte

	mask  uint64
	cells []cell
	next  []atomic.Uint32 // free stack links: index + 1 of the record below, 0 at the bottom
	slots []Record
}

// cell is one queue position's slot: which record, and whose turn.
type cell struct {
	seq atomic.Uint64
	idx uint32 // written by the producer before seq publishes it
}

func newRing(size int, keepQuery bool) *ring {
	if size <= 0 || size&(size-1) != 0 || size > 1<<31 {
		panic("BUG: accesslog: ring size must be a power of two")
	}
	r := &ring{
		mask:  uint64(size - 1),
		cells: make([]cell, size),
		next:  make([]atomic.Uint32, size),
		slots: make([]Record, size),
	}
	for i := range r.cells {
		r.cells[i].seq.Store(uint64(i))
	}
	for i := range r.slots {
		r.slots[i].idx = uint32(i)
		r.slots[i].keepQuery = keepQuery
	}
	// Stack the records so that record 0 is handed out first.
	for i := size - 1; i >= 0; i-- {
		r.push(uint32(i))
	}
	return r
}

// pop takes a record index off the free stack; false when none is free.
func (q *ring) pop() (uint32, bool) {
	for {
		h := q.free.Load()
		top := uint32(h)
		if top == 0 {
			return 0, false
		}
		below := q.next[top-1].Load()
		// The tag changes on every successful CAS, so a stack that was
		// popped and pushed back to the same top in between is noticed.
		if q.free.CompareAndSwap(h, (h>>32+1)<<32|uint64(below)) {
			return top - 1, true
		}
	}
}

// push returns record index i to the free stack.
func (q *ring) push(i uint32) {
	for {
		h := q.free.Load()
		q.next[i].Store(uint32(h))
		if q.free.CompareAndSwap(h, (h>>32+1)<<32|uint64(i+1)) {
			return
		}
	}
}

// reserve claims a free record and the next queue position, or returns nil
// when every record is in use (the ring is full) or the ring is closed. It
// never blocks and never allocates.
func (q *ring) reserve() *Record {
	i, ok := q.pop()
	if !ok {
		return nil
	}
	pos := q.head.Load()
	for {
		if pos&closedBit != 0 {
			q.push(i)
			return nil
		}
		c := &q.cells[pos&q.mask]
		seq := c.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0:
			if q.head.CompareAndSwap(pos, pos+1) {
				s := &q.slots[i]
				s.pos = pos
				s.reset()
				return s
			}
			pos = q.head.Load()
		case d < 0:
			// The cell still holds the position from one lap ago. The
			// invariant above rules this out; give the record back.
			q.push(i)
			return nil
		default:
			// Another producer took pos; catch up.
			pos = q.head.Load()
		}
	}
}

// commit publishes a reserved record to the consumer.
func (q *ring) commit(s *Record) {
	c := &q.cells[s.pos&q.mask]
	c.idx = s.idx
	c.seq.Store(s.pos + 1)
}

// peek returns the next committed record or nil. The consumer reads it and
// then calls release. A reserved but uncommitted position blocks the
// records behind it until committed; that is why Commit must always follow
// Reserve.
func (q *ring) peek() *Record {
	c := &q.cells[q.tail&q.mask]
	if c.seq.Load() != q.tail+1 {
		return nil
	}
	return &q.slots[c.idx]
}

// release frees the queue cell of the record from peek, then the record.
func (q *ring) release(s *Record) {
	q.cells[q.tail&q.mask].seq.Store(q.tail + q.mask + 1)
	q.tail++
	q.push(s.idx)
}

// skip moves past the position at the tail whether or not it was
// committed; used only after the ring is closed and the shutdown deadline
// has passed, when the consumer gives up on uncommitted records and counts
// them dropped. Their records are not returned: nothing reserves any more.
func (q *ring) skip() { q.tail++ }

// close stops further reservations and returns the final position: every
// position below it was reserved and will be committed by its producer.
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
