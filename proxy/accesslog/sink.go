package accesslog

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// sink is one destination. Its methods are called only from the sink's own
// goroutine, so implementations need no locking.
type sink interface {
	// write delivers b and returns how many of its records the
	// destination took (counted written; the rest counted dropped). It
	// reports every failed attempt to fail and gives up when ctx is done.
	write(ctx context.Context, b *batch, fail func(error)) int
	close()
}

// maintainer is a sink with periodic upkeep (file: rotation check).
type maintainer interface {
	interval() time.Duration
	maintain() error
}

// reopener is a sink that can reopen its destination on request.
type reopener interface {
	reopen() error
}

var errQueueFull = errors.New("queue full, batch dropped")

func newSink(c SinkConfig) (sink, error) {
	switch c.Type {
	case "file":
		return newFileSink(c), nil
	case "stdout":
		return newStdoutSink(), nil
	case "http":
		return newHTTPSink(c), nil
	case "syslog":
		return newSyslogSink(c), nil
	}
	panic("BUG: accesslog: sink type passed validation: " + c.Type)
}

// sinkRunner is the goroutine and bounded queue in front of one sink, so
// that a slow or dead destination delays nobody else. Its counters are safe
// for concurrent use.
type sinkRunner struct {
	name   string
	impl   sink
	q      chan *batch
	reopen chan struct{} // nil unless impl is a reopener
	done   chan struct{}
	failFn func(error) // s.fail, bound once

	written, dropped, errs atomic.Uint64
	lastErr                atomic.Pointer[string]

	mWritten, mDropped, mErrors *metrics.Counter
}

func newSinkRunner(c SinkConfig, impl sink) *sinkRunner {
	s := &sinkRunner{
		name:     c.Name,
		impl:     impl,
		q:        make(chan *batch, c.QueueBatches),
		done:     make(chan struct{}),
		mWritten: sinkWrittenCounter(c.Name),
		mDropped: sinkDroppedCounter(c.Name),
		mErrors:  sinkErrorsCounter(c.Name),
	}
	s.failFn = s.fail
	if _, ok := impl.(reopener); ok {
		s.reopen = make(chan struct{}, 1)
	}
	return s
}

func (s *sinkRunner) run(ctx context.Context) {
	defer close(s.done)
	defer s.impl.close()
	var tick <-chan time.Time
	m, _ := s.impl.(maintainer)
	if m != nil {
		t := time.NewTicker(m.interval())
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case b, ok := <-s.q:
			if !ok {
				return
			}
			s.handle(ctx, b)
		case <-tick:
			if err := m.maintain(); err != nil {
				s.fail(err)
			}
		case <-s.reopen:
			if err := s.impl.(reopener).reopen(); err != nil {
				s.fail(err)
			}
		}
	}
}

func (s *sinkRunner) handle(ctx context.Context, b *batch) {
	defer b.done()
	n := b.n()
	if ctx.Err() != nil {
		s.drop(n, errors.New("shutdown deadline passed"))
		return
	}
	w := s.impl.write(ctx, b, s.failFn)
	if w < 0 || w > n {
		panic(fmt.Sprintf("BUG: accesslog: sink %s wrote %d of %d records", s.name, w, n))
	}
	if w > 0 {
		s.written.Add(uint64(w))
		s.mWritten.Add(w)
	}
	if w < n {
		s.drop(n-w, nil)
	}
}

// drop counts n undelivered records; safe from the shipper too.
func (s *sinkRunner) drop(n int, err error) {
	s.dropped.Add(uint64(n))
	s.mDropped.Add(n)
	if err != nil {
		s.setErr(err)
	}
}

// fail counts one failed attempt.
func (s *sinkRunner) fail(err error) {
	s.errs.Add(1)
	s.mErrors.Inc()
	s.setErr(err)
}

func (s *sinkRunner) setErr(err error) {
	msg := err.Error()
	s.lastErr.Store(&msg)
}

func (s *sinkRunner) stats() SinkStats {
	st := SinkStats{
		Name:    s.name,
		Written: s.written.Load(),
		Dropped: s.dropped.Load(),
		Errors:  s.errs.Load(),
	}
	if p := s.lastErr.Load(); p != nil {
		st.LastError = *p
	}
	return st
}
