package accesslog

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Logger is a running access log: a ring, its shipper goroutine and one
// goroutine per sink. Reserve, Commit, Reopen and Stats are safe for
// concurrent use; Shutdown may be called more than once. A nil *Logger is a
// valid disabled logger: Reserve returns nil.
type Logger struct {
	ring *ring
	// keepQuery is Config.IncludeQuery.
	keepQuery bool
	// kick wakes the shipper; the producer of every kickEvery-th record
	// sends on it without blocking. kickMask is kickEvery-1.
	kick     chan struct{}
	kickMask uint64
	// parked is set while the shipper sleeps with nothing to do: then every
	// Commit kicks, not only every kickEvery-th (shipper.go).
	parked atomic.Bool
	// wakes counts the shipper's passes (tests: idle wake-ups).
	wakes atomic.Uint64

	// sampleAll skips the random draw when every success is kept;
	// otherwise a success is kept when rand.Uint32() < sampleBelow.
	sampleAll   bool
	sampleBelow uint64

	dropped    shardedCounter // ring full or closed (request path)
	sampledOut shardedCounter
	abandoned  atomic.Uint64 // left in the ring at an aborted shutdown
	shipped    atomic.Uint64 // encoded and handed to the sinks
	reported   uint64        // of abandoned, already added to droppedTotal

	enc           *Encoder
	batchSize     int
	flushInterval time.Duration
	sinks         []*sinkRunner

	stopCh      chan struct{}
	shipperDone chan struct{}
	final       uint64 // ring position at close; written before stopCh closes
	abort       atomic.Bool
	sinkCtx     context.Context
	sinkCancel  context.CancelFunc
	closeOnce   sync.Once
	metricsMu   sync.Mutex // serializes moving counts to the package metrics
}

// New validates cfg, opens the sinks' destinations lazily (a sink whose
// destination is down counts drops until it comes up) and starts the
// shipper and sink goroutines. Stop them with Shutdown.
func New(cfg Config) (*Logger, error) {
	cfg, err := compileConfig(cfg)
	if err != nil {
		return nil, err
	}
	l := &Logger{
		ring:          newRing(cfg.RingSize, cfg.IncludeQuery),
		keepQuery:     cfg.IncludeQuery,
		kick:          make(chan struct{}, 1),
		kickMask:      uint64(kickEvery(cfg.RingSize) - 1),
		enc:           NewEncoder(cfg.MaskedParams),
		batchSize:     int(cfg.BatchSize),
		flushInterval: time.Duration(cfg.FlushInterval),
		stopCh:        make(chan struct{}),
		shipperDone:   make(chan struct{}),
	}
	rate := *cfg.SampleRate
	l.sampleAll = rate >= 1
	l.sampleBelow = uint64(rate * (1 << 32))
	l.sinkCtx, l.sinkCancel = context.WithCancel(context.Background())
	for _, sc := range cfg.Sinks {
		impl, err := newSink(sc)
		if err != nil {
			for _, s := range l.sinks {
				s.impl.close()
			}
			l.sinkCancel()
			return nil, err
		}
		l.sinks = append(l.sinks, newSinkRunner(sc, impl))
	}
	for _, s := range l.sinks {
		go s.run(l.sinkCtx)
	}
	go l.run()
	return l, nil
}

// Reserve returns a cleared record with Status set, to be filled and passed
// to Commit, or nil when the record is not to be logged: sampled out (status
// < 400 only), ring full, or logger shut down. Every nil is counted. Never
// blocks, never allocates.
//
// Commit must follow every non-nil Reserve, also on error paths: an
// uncommitted slot holds back the records behind it.
func (l *Logger) Reserve(status int) *Record {
	if l == nil {
		return nil
	}
	if status < 400 && !l.sampleAll {
		x := rand.Uint32()
		if uint64(x) >= l.sampleBelow {
			l.sampledOut.add(x, 1)
			return nil
		}
	}
	r := l.ring.reserve()
	if r == nil {
		l.dropped.add(rand.Uint32(), 1)
		return nil
	}
	r.Status = status
	return r
}

// KeepsQuery reports whether records store the query string
// (Config.IncludeQuery), so that the request path copies it only then.
func (l *Logger) KeepsQuery() bool { return l != nil && l.keepQuery }

// Commit hands a record from Reserve to the shipper. The caller must not
// touch r afterwards. Commit(nil) does nothing.
func (l *Logger) Commit(r *Record) {
	if r == nil {
		return
	}
	pos := r.pos
	l.ring.commit(r)
	if pos&l.kickMask == l.kickMask || l.parked.Load() {
		select {
		case l.kick <- struct{}{}:
		default: // a kick is already pending
		}
	}
}

// kickEvery is how many records the producers commit between two kicks of
// the shipper: an eighth of the ring, at most 64. The ring hands out the
// records the shipper released last, so the records in circulation are
// about two kicks' worth (64 x ~0.5 KiB touched each): they stay in the
// CPU's cache, for the producer filling one and the shipper encoding it.
// Fewer than 64 costs more in goroutine switches than it saves; an eighth
// of a small ring leaves seven eighths for a burst.
func kickEvery(ringSize int) int {
	return max(1, min(64, ringSize/8))
}

// Reopen asks every file sink to close and reopen its file before its next
// write (wire it to SIGUSR1 after logrotate). It does not block.
func (l *Logger) Reopen() {
	if l == nil {
		return
	}
	for _, s := range l.sinks {
		if s.reopen != nil {
			select {
			case s.reopen <- struct{}{}:
			default: // already pending
			}
		}
	}
}

// Shutdown stops accepting records, ships everything already in the ring
// and waits for the sinks to finish their queues, all bounded by ctx. When
// ctx ends first, what is left is counted as dropped (ring records in
// sluice_accesslog_dropped_total, queued batches per sink), in-flight sink
// writes are cancelled and ctx's error is returned; counts may then still
// settle for a moment after Shutdown returns.
func (l *Logger) Shutdown(ctx context.Context) error {
	if l == nil {
		return nil
	}
	l.closeOnce.Do(func() {
		l.final = l.ring.close()
		close(l.stopCh)
	})
	done := make(chan struct{})
	go func() {
		<-l.shipperDone
		for _, s := range l.sinks {
			<-s.done
		}
		close(done)
	}()
	select {
	case <-done:
		l.syncMetrics()
		return nil
	case <-ctx.Done():
		l.abort.Store(true)
		l.sinkCancel()
		return ctx.Err()
	}
}

// Close is Shutdown with a 5 s bound.
func (l *Logger) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return l.Shutdown(ctx)
}

// Stats are one Logger's counts since New. After a completed Shutdown,
// for every Reserve call exactly one of Shipped, Dropped or SampledOut
// was counted, and for each sink Written + Dropped == Shipped.
type Stats struct {
	Shipped    uint64 // records encoded and handed to the sinks
	Dropped    uint64 // ring full, logger closed, or abandoned at shutdown
	SampledOut uint64 // successes skipped by sampling
	Sinks      []SinkStats
}

// SinkStats are one sink's counts.
type SinkStats struct {
	Name      string
	Written   uint64 // records the destination accepted
	Dropped   uint64 // records this sink could not deliver
	Errors    uint64 // failed write attempts, retries included
	LastError string // most recent error, "" if none
}

// Stats returns the Logger's counts.
func (l *Logger) Stats() Stats {
	if l == nil {
		return Stats{}
	}
	st := Stats{
		Shipped:    l.shipped.Load(),
		Dropped:    l.dropped.load() + l.abandoned.Load(),
		SampledOut: l.sampledOut.load(),
	}
	for _, s := range l.sinks {
		st.Sinks = append(st.Sinks, s.stats())
	}
	return st
}

// syncMetrics moves request-path counts to the package metrics.
func (l *Logger) syncMetrics() {
	l.metricsMu.Lock()
	defer l.metricsMu.Unlock()
	l.dropped.syncTo(droppedTotal)
	l.sampledOut.syncTo(sampledOutTotal)
	if a := l.abandoned.Load(); a > l.reported {
		droppedTotal.AddInt64(int64(a - l.reported))
		l.reported = a
	}
}
