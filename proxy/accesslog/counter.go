package accesslog

import (
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
)

const counterShards = 16

// shardedCounter spreads increments from many goroutines over cache-line
// padded cells so that a burst of drops or sampled-out records on all cores
// does not serialize on one cache line. Safe for concurrent use.
type shardedCounter struct {
	cells [counterShards]struct {
		v atomic.Uint64
		_ [56]byte
	}
	// reported is how much of the total has been added to the package
	// metric; only the flushing goroutine touches it (under flushMu in
	// Logger, see syncTo).
	reported uint64
}

func (c *shardedCounter) add(hint uint32, n uint64) {
	c.cells[hint%counterShards].v.Add(n)
}

func (c *shardedCounter) load() uint64 {
	var s uint64
	for i := range c.cells {
		s += c.cells[i].v.Load()
	}
	return s
}

// syncTo adds what was counted since the last call to m. The caller
// serializes calls.
func (c *shardedCounter) syncTo(m *metrics.Counter) {
	t := c.load()
	if d := t - c.reported; d > 0 {
		m.AddInt64(int64(d))
		c.reported = t
	}
}
