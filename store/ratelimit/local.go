package ratelimit

import (
	"errors"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Local store. The zero value is usable. The toml
// tags name the keys of the gateway's throttle store section; the config
// loader decodes durations (written "10s") with its own duration type and
// copies them here.
type Options struct {
	// Shards is the number of lock domains, rounded up to a power of two,
	// at most 4096 (default 128).
	Shards int `toml:"shards"`
	// MaxKeys is the hard cap on buckets plus quota counters in the store
	// (default 1048576). At the cap, creating a key first evicts, in that
	// key's shard, every full bucket and ended quota window (at most once per
	// 100ms per shard); if still at the cap the new key is refused: the
	// request is denied with a 1s RetryAfter, or let through uncounted when
	// FailOpen is set. Existing keys are never affected by the cap.
	MaxKeys int `toml:"max_keys"`
	// IdleTimeout is how long a bucket must have been full, or a quota window
	// over, before the sweeper drops it (default 1m). Dropping never changes
	// a decision; this only trades memory for re-creation churn.
	IdleTimeout time.Duration `toml:"idle_timeout"`
	// SweepInterval is the period of the background sweeper (default 10s).
	SweepInterval time.Duration `toml:"sweep_interval"`
	// FailOpen lets a request through, uncounted for the new key, when the
	// store is at MaxKeys instead of denying it (default false: deny).
	FailOpen bool `toml:"fail_open"`
	// Clock gives the sweeper's now in the same units callers pass to Allow
	// (default Nanotime).
	Clock func() int64 `toml:"-"`
}

// Defaults, filled in by NewLocal.
const (
	DefaultShards        = 128
	DefaultMaxKeys       = 1 << 20
	DefaultIdleTimeout   = time.Minute
	DefaultSweepInterval = 10 * time.Second
	maxShards            = 4096

	// emergencySweepEvery bounds how often one shard is swept synchronously
	// at the key cap, so a flood of new keys cannot make every insertion
	// scan its shard.
	emergencySweepEvery = int64(100 * time.Millisecond)
	// capRetryAfter is what a request refused at the key cap is told.
	capRetryAfter = time.Second
)

// Local is the in-process sharded Store. It outlives snapshots: create one
// per gateway process (or per throttling scope) and hand it to every
// compiled snapshot. Safe for concurrent use; Close stops its sweeper and
// must be called once the store is no longer needed (Allow keeps working
// after Close, only eviction stops). Do not copy a Local.
type Local struct {
	shards   []shard
	shift    uint // 64 - log2(len(shards))
	maxKeys  int64
	idle     int64
	failOpen bool
	clock    func() int64

	keys atomic.Int64 // linked entries across all shards

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

var _ Store = (*Local)(nil)

// NewLocal builds a store from o, filling defaults for zero fields, and
// starts its sweeper goroutine.
func NewLocal(o Options) (*Local, error) {
	if o.Shards < 0 || o.MaxKeys < 0 || o.IdleTimeout < 0 || o.SweepInterval < 0 {
		return nil, errors.New("ratelimit: negative option")
	}
	if o.Shards > maxShards {
		return nil, errors.New("ratelimit: more than 4096 shards")
	}
	if o.Shards == 0 {
		o.Shards = DefaultShards
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	if o.Clock == nil {
		o.Clock = Nanotime
	}
	lg := bits.Len(uint(o.Shards - 1)) // ceil(log2(Shards))
	st := &Local{
		shards:   make([]shard, 1<<lg),
		shift:    uint(64 - lg),
		maxKeys:  int64(o.MaxKeys),
		idle:     int64(o.IdleTimeout),
		failOpen: o.FailOpen,
		clock:    o.Clock,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	for i := range st.shards {
		st.shards[i].init()
	}
	go st.sweeper(o.SweepInterval)
	return st, nil
}

// Close stops the sweeper and waits for it. It is idempotent.
func (st *Local) Close() error {
	st.closeOnce.Do(func() {
		close(st.stop)
		<-st.done
	})
	return nil
}

// Len returns the number of keys (buckets plus quota counters) held.
func (st *Local) Len() int { return int(st.keys.Load()) }

func (st *Local) reserveKey() bool {
	if st.keys.Add(1) > st.maxKeys {
		st.keys.Add(-1)
		return false
	}
	return true
}

func (st *Local) releaseKeys(n int) {
	if n > 0 {
		st.keys.Add(int64(-n))
		keysEvicted.Add(n)
	}
}

// periodSalt separates a bucket and the quotas that share one caller key.
var periodSalt = [periodCount]uint64{0, 0x6a09e667f3bcc909, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b}

// locate returns the internal key, its hash and its shard.
func (st *Local) locate(key uint64, p Period) (uint64, uint64, *shard) {
	k := key ^ periodSalt[p]
	h := mix(k)
	return k, h, &st.shards[h>>st.shift&uint64(len(st.shards)-1)]
}

// decide reports whether a request fits state w and the state after it.
func decide(w, now, cost int64, l *Limit) (int64, bool) {
	if l.Period == PeriodNone {
		return decideBucket(w, now, cost, l)
	}
	return decideQuota(w, now, cost, l)
}

// eval is decide plus the figures for headers and Retry-After.
func eval(w, now, cost int64, l *Limit) outcome {
	if l.Period == PeriodNone {
		return evalBucket(w, now, cost, l)
	}
	return evalQuota(w, now, cost, l)
}

func refund(e *entry, prev, took, now, cost int64, l *Limit) {
	if l.Period == PeriodNone {
		refundBucket(e, prev, took, now, cost, l)
	} else {
		refundQuota(e, now, cost, l)
	}
}

func checkRequest(r *Request) int64 {
	if r.Limit == nil || r.Limit.interval == 0 {
		panic("BUG: ratelimit: Request.Limit not built by NewLimit or NewQuota")
	}
	switch {
	case r.Cost == 0:
		return 1
	case r.Cost < 0:
		panic("BUG: ratelimit: negative Request.Cost")
	}
	return r.Cost
}

// testHookAfterCreate, when set by a test, runs in the window between
// creating an entry and taking from it, where the sweeper may strike.
var testHookAfterCreate func()

// scratch is one Allow call's per-request working state, kept on the stack.
type scratch struct {
	ents [MaxRequests]*entry // nil: key absent (or dead) when looked up
	prev [MaxRequests]int64  // state read in phase 1 / replaced in phase 2
	took [MaxRequests]int64  // state written in phase 2
	cost [MaxRequests]int64
}

// Allow implements Store; see the package comment for the two-phase
// check-then-take protocol and why it never double-spends.
func (st *Local) Allow(now int64, reqs []Request) Decision {
	if len(reqs) > MaxRequests {
		panic("BUG: ratelimit: more than MaxRequests requests in one Allow call")
	}
	var s scratch
	if d, ok := st.check(now, reqs, &s); !ok {
		return d
	}
	return st.take(now, reqs, &s)
}

// check is phase 1: evaluate every request without writing. A missing or
// dead entry reads as the state a fresh one would have (0: full bucket,
// empty window). It returns the denial when any request would be denied.
func (st *Local) check(now int64, reqs []Request, s *scratch) (Decision, bool) {
	worst := -1
	var worstWait int64
	for i := range reqs {
		r := &reqs[i]
		s.cost[i] = checkRequest(r)
		k, h, sh := st.locate(r.Key, r.Limit.Period)
		e := sh.lookup(k, h)
		var w int64
		if e != nil {
			if w = e.state.Load(); w == dead {
				e, w = nil, 0
			}
		}
		s.ents[i], s.prev[i] = e, w
		if _, ok := decide(w, now, s.cost[i], r.Limit); !ok {
			if o := eval(w, now, s.cost[i], r.Limit); worst < 0 || o.wait > worstWait {
				worst, worstWait = i, o.wait
			}
		}
	}
	if worst >= 0 {
		return denial(worst, eval(s.prev[worst], now, s.cost[worst], reqs[worst].Limit), reqs[worst].Limit), false
	}
	return Decision{}, true
}

// take is phase 2: CAS each state from the value check read (re-evaluating
// when another caller got there first); on a lost race, refund what this
// call took and deny.
func (st *Local) take(now int64, reqs []Request, s *scratch) Decision {
	d := Decision{Allowed: true, Denied: -1, Remaining: -1}
	for i := range reqs {
		l := reqs[i].Limit
		e, w := s.ents[i], s.prev[i]
		var (
			next int64
			ok   bool
		)
		for {
			if e == nil {
				k, h, sh := st.locate(reqs[i].Key, l.Period)
				if e = sh.getOrCreate(st, k, h, l.Period, now); e == nil {
					break
				}
				if testHookAfterCreate != nil {
					testHookAfterCreate()
				}
				// A fresh entry is evictable until taken from, so the
				// sweeper may already have killed it: look again if so.
				if w = e.state.Load(); w == dead {
					e = nil
					continue
				}
			}
			if next, ok = decide(w, now, s.cost[i], l); !ok {
				break
			}
			if e.state.CompareAndSwap(w, next) {
				break
			}
			if w = e.state.Load(); w == dead {
				e = nil
			}
		}
		if e == nil { // refused at the key cap
			keysRejected.Inc()
			s.ents[i] = nil
			if st.failOpen {
				continue
			}
			st.refundAll(now, reqs[:i], s)
			return Decision{Denied: i, RetryAfter: capRetryAfter, Limit: l.Burst, Reset: capRetryAfter}
		}
		o := eval(w, now, s.cost[i], l)
		if !ok { // a concurrent caller took the tokens after phase 1
			raceRefunds.Inc()
			st.refundAll(now, reqs[:i], s)
			return denial(i, o, l)
		}
		s.ents[i], s.prev[i], s.took[i] = e, w, next
		if d.Remaining < 0 || o.remaining < d.Remaining || (o.remaining == d.Remaining && time.Duration(o.reset) > d.Reset) {
			d.Limit, d.Remaining, d.Reset = l.Burst, o.remaining, time.Duration(o.reset)
		}
	}
	if d.Remaining < 0 { // only fail-open skips, or no requests at all
		d.Remaining = 0
	}
	return d
}

// refundAll returns what reqs (a prefix of the call's requests) took.
func (st *Local) refundAll(now int64, reqs []Request, s *scratch) {
	for j := range reqs {
		if s.ents[j] != nil {
			refund(s.ents[j], s.prev[j], s.took[j], now, s.cost[j], reqs[j].Limit)
		}
	}
}

func denial(i int, o outcome, l *Limit) Decision {
	return Decision{
		Denied:     i,
		RetryAfter: time.Duration(o.wait),
		Limit:      l.Burst,
		Remaining:  o.remaining,
		Reset:      time.Duration(o.reset),
	}
}
