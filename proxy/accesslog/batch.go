package accesslog

import (
	"sort"
	"sync"
	"sync/atomic"
)

// batch is a run of encoded JSON lines shared read-only by all sinks. The
// shipper fills it; each sink calls done once; the last one recycles it.
type batch struct {
	buf    []byte   // JSON lines, each ending in '\n'
	ends   []int32  // end offset (past '\n') of each line
	times  []int64  // Record.Time of each line (syslog TIMESTAMP)
	status []uint16 // Record.Status of each line (syslog severity)
	refs   atomic.Int32
}

var batchPool sync.Pool

func acquireBatch(size int) *batch {
	if v := batchPool.Get(); v != nil {
		return v.(*batch)
	}
	// Room for one record beyond size, so reaching size rarely regrows.
	return &batch{buf: make([]byte, 0, size+16<<10)}
}

func releaseBatch(b *batch) {
	b.buf = b.buf[:0]
	b.ends = b.ends[:0]
	b.times = b.times[:0]
	b.status = b.status[:0]
	batchPool.Put(b)
}

func (b *batch) add(e *Encoder, r *Record) {
	b.buf = e.AppendJSON(b.buf, r)
	b.ends = append(b.ends, int32(len(b.buf)))
	b.times = append(b.times, r.Time)
	st := r.Status
	if st < 0 || st > 65535 {
		st = 0
	}
	b.status = append(b.status, uint16(st))
}

func (b *batch) n() int { return len(b.ends) }

// line returns record i's JSON without the trailing newline.
func (b *batch) line(i int) []byte {
	start := 0
	if i > 0 {
		start = int(b.ends[i-1])
	}
	return b.buf[start : b.ends[i]-1]
}

// linesWithin returns how many whole lines lie in the first n bytes, for
// counting what a short write did deliver.
func (b *batch) linesWithin(n int) int {
	return sort.Search(len(b.ends), func(i int) bool { return int(b.ends[i]) > n })
}

// done drops one sink's reference.
func (b *batch) done() {
	switch v := b.refs.Add(-1); {
	case v == 0:
		releaseBatch(b)
	case v < 0:
		panic("BUG: accesslog: batch released too often")
	}
}
