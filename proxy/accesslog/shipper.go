package accesslog

import (
	"time"
)

// drainLimit bounds one pass over the ring so that the shipper checks its
// clock and stop channel regularly under sustained load.
const drainLimit = 4096

// maxPoll is the longest the shipper sleeps when the ring is empty. It
// bounds how long records sit in the ring, and so the burst the ring must
// absorb: 16384 slots at 10 ms is 1.6 M records/s. Polling keeps the
// request path free of wake-up signalling.
const maxPoll = 10 * time.Millisecond

// run is the shipper goroutine: ring -> JSON lines -> batches -> sinks.
func (l *Logger) run() {
	defer close(l.shipperDone)
	t := time.NewTicker(min(maxPoll, l.flushInterval))
	defer t.Stop()
	var (
		b     *batch
		first time.Time // when b got its first record
	)
	for {
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
		}
		if b != nil && time.Since(first) >= l.flushInterval {
			l.dispatch(b)
			b = nil
		}
		l.syncMetrics()
		// Only a full pass comes straight back. Anything else, a producer
		// between Reserve and Commit included, waits for the next tick:
		// waking every few microseconds under load cost a fifth of the
		// gateway's CPU per request, while the ring absorbs 10 ms of
		// traffic many times over.
		if n == drainLimit {
			select {
			case <-l.stopCh:
				l.finish(b)
				return
			default:
			}
			continue
		}
		select {
		case <-l.stopCh:
			l.finish(b)
			return
		case <-t.C:
		}
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
