package accesslog

import (
	"runtime"
	"time"
)

// drainLimit bounds one pass over the ring so that the shipper checks its
// clock and stop channel regularly under sustained load.
const drainLimit = 4096

// yieldEvery is how many records the shipper encodes before it lets the
// request goroutines run: with GOMAXPROCS=1 a pass of thousands of records
// would otherwise hold the only P for milliseconds.
const yieldEvery = 256

// maxPoll is the longest the shipper sleeps while the ring holds fewer
// than a kick's worth of records (see Logger.Commit) or a producer is
// between Reserve and Commit: it bounds how long such a record waits in the
// ring before its batch's flush_interval starts. Under load the producers'
// kicks wake the shipper long before. A variable so that tests can take the
// timer out.
var maxPoll = 100 * time.Millisecond

// idleSync is how often a parked shipper (empty ring, no open batch) still
// wakes, only to move the request path's counters (sampled out) to the
// package metrics: a record wakes it at once through Logger.parked, but a
// sampled-out request commits nothing.
var idleSync = time.Second

// run is the shipper goroutine: ring -> JSON lines -> batches -> sinks.
//
// It sleeps until a producer kicks it (every kickEvery records, or the
// first record while it is parked), its timer fires or the logger stops.
// Waking on a timer alone cost the gateway about 2 % of its CPU per request
// at 10 ms, and waking on every record cost a fifth; a kick per kickEvery
// records costs neither.
//
// The timer is set only as far as there is something to wait for: the
// open batch's flush time, maxPoll while records sit in the ring below the
// kick threshold, and otherwise idleSync with Logger.parked set (issue 16,
// light load: a quiet gateway's shipper woke every 100 ms for nothing, and
// each wake-up costs two threads' switches on a one-CPU node).
func (l *Logger) run() {
	defer close(l.shipperDone)
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	var (
		b     *batch
		first time.Time // when b got its first record
	)
	for {
		l.wakes.Add(1)
		n := 0
		for ; n < drainLimit; n++ {
			r := l.ring.peek()
			if r == nil {
				break
			}
			if b == nil {
				b = acquireBatch(l.batchSize)
				first = time.Now()
			}
			b.add(l.enc, r)
			l.ring.release(r)
			if len(b.buf) >= l.batchSize {
				l.dispatch(b)
				b = nil
			}
			if n%yieldEvery == yieldEvery-1 {
				runtime.Gosched()
			}
		}
		if b != nil && time.Since(first) >= l.flushInterval {
			l.dispatch(b)
			b = nil
		}
		l.syncMetrics()
		// Only a full pass comes straight back. Anything else, a producer
		// between Reserve and Commit included, waits for a kick or the timer.
		if n == drainLimit {
			select {
			case <-l.stopCh:
				l.finish(b)
				return
			default:
			}
			continue
		}
		wait := idleSync
		if b != nil {
			// A batch is open: records keep coming, and one committed
			// after this pass kicks nobody until kickEvery more follow, so
			// the shipper looks again within maxPoll rather than at the
			// flush time (flush_interval may be long, and a full batch
			// must go out when it fills, not then). Only a parked shipper
			// (no batch, empty ring) sleeps without a poll.
			wait = min(max(l.flushInterval-time.Since(first), 0), maxPoll)
		}
		if l.ring.pending() {
			wait = min(wait, maxPoll)
		} else if b == nil {
			// Park. Set parked before the last look at the ring: a
			// producer that reserved before that look is seen by it, and
			// one that reserves after sees parked and kicks (both are
			// sequentially consistent atomics).
			l.parked.Store(true)
			if l.ring.pending() {
				l.parked.Store(false)
				continue
			}
		}
		t.Reset(wait)
		select {
		case <-l.stopCh:
			l.parked.Store(false)
			l.finish(b)
			return
		case <-l.kick:
		case <-t.C:
		}
		l.parked.Store(false)
		t.Stop()
	}
}

// finish ships what remains below the final ring position, waiting for
// producers that reserved before the close to commit, until Shutdown's
// deadline sets abort. Then it closes the sink queues.
func (l *Logger) finish(b *batch) {
	for l.ring.tail < l.final {
		r := l.ring.peek()
		if r == nil {
			if l.abort.Load() {
				l.abandoned.Add(l.final - l.ring.tail)
				for l.ring.tail < l.final {
					l.ring.skip()
				}
				break
			}
			time.Sleep(50 * time.Microsecond)
			continue
		}
		if b == nil {
			b = acquireBatch(l.batchSize)
		}
		b.add(l.enc, r)
		l.ring.release(r)
		if len(b.buf) >= l.batchSize {
			l.dispatch(b)
			b = nil
		}
	}
	if b != nil {
		l.dispatch(b)
	}
	l.syncMetrics()
	for _, s := range l.sinks {
		close(s.q)
	}
}

// dispatch offers b to every sink without blocking; a sink whose queue is
// full drops the batch and counts its records.
func (l *Logger) dispatch(b *batch) {
	l.shipped.Add(uint64(b.n()))
	if len(l.sinks) == 0 {
		panic("BUG: accesslog: logger without sinks")
	}
	b.refs.Store(int32(len(l.sinks)))
	for _, s := range l.sinks {
		select {
		case s.q <- b:
		default:
			s.drop(b.n(), errQueueFull)
			b.done()
		}
	}
}
