package redisstate

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/sluicegw/sluice/store/ratelimit"
)

// Fallback is what a Limiter decides while its Conn's breaker is open.
type Fallback uint8

// Fallback policies.
const (
	// FallbackLocal enforces each limit divided by the fleet size on this
	// node alone (rate/N, burst/N, quota/N, each at least 1), so the fleet as
	// a whole stays near the limit when the load is spread evenly.
	FallbackLocal Fallback = iota
	// FallbackAllow admits every request.
	FallbackAllow
	// FallbackDeny refuses every request.
	FallbackDeny
)

// ParseFallback reads the config spelling: "local" (also ""), "allow", "deny".
func ParseFallback(s string) (Fallback, error) {
	switch s {
	case "", "local":
		return FallbackLocal, nil
	case "allow":
		return FallbackAllow, nil
	case "deny":
		return FallbackDeny, nil
	}
	return 0, errors.New(`redisstate: fallback must be "local", "allow" or "deny"`)
}

// LimiterOptions configures a Limiter. The zero value is usable.
type LimiterOptions struct {
	// Fallback is the outage policy (default FallbackLocal).
	Fallback Fallback
	// FleetSize is N, the number of nodes sharing the limits: FallbackLocal
	// divides limits by it, and a bucket lease never exceeds Burst/N
	// (default 1).
	FleetSize int
	// Local is the store FallbackLocal uses; nil makes one the Limiter
	// owns. A store shared with local limits must not see the same keys.
	Local *ratelimit.Local
	// RefillPeriod is how long a batch should last at the key's observed
	// rate: the batch is rate*RefillPeriod tokens, 1 for a cold key
	// (default 250ms).
	RefillPeriod time.Duration
	// MaxBatch caps a batch (default 1000).
	MaxBatch int64
	// LeaseTTL is how long unspent bucket tokens stay usable; quota tokens
	// stay usable until their window ends (default 1s).
	LeaseTTL time.Duration
	// MaxDebt is how many tokens per key a node may admit ahead of Redis
	// (a cold key's first request, or while a refill is in flight); debt is
	// charged to Redis by the next refill (default 1; negative means 0).
	MaxDebt int64
	// QueueSize bounds the refill queue; a full queue drops the refill
	// (counted) and the next request asks again (default 4096).
	QueueSize int
	// SweepInterval is how often idle leases are dropped (default 10s).
	SweepInterval time.Duration
	// Clock gives now in the units of Allow's now (default ratelimit.Nanotime).
	Clock func() int64
}

// Defaults filled in by NewLimiter.
const (
	DefaultRefillPeriod  = 250 * time.Millisecond
	DefaultMaxBatch      = 1000
	DefaultLeaseTTL      = time.Second
	DefaultQueueSize     = 4096
	DefaultSweepInterval = 10 * time.Second

	// pendingRetry is the Retry-After of a request denied while its key's
	// first refill is in flight.
	pendingRetry = 10 * time.Millisecond
	// fallbackDenyRetry is the Retry-After under FallbackDeny.
	fallbackDenyRetry = time.Second
	// maxRefillBatch is how many leases one round trip refills.
	maxRefillBatch = 64
)

// Limiter is a ratelimit.Store whose buckets and quotas are shared by a
// fleet through Redis. The request path spends tokens leased from Redis
// with lock-free atomics and never waits for Redis: refills run on a
// background worker, triggered when a lease falls below its low-water mark.
// See the package comment for the protocol and its overshoot bound.
// Safe for concurrent use; create one per process, hand it to every
// snapshot (it outlives them) and Close it at shutdown.
type Limiter struct {
	conn  *Conn
	opt   LimiterOptions
	local *ratelimit.Local
	owned bool // local made here, closed by Close

	leases leaseMap
	queue  chan *lease

	scaledMu sync.Mutex
	scaled   sync.Map // *ratelimit.Limit -> *ratelimit.Limit divided by FleetSize

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	holdMu sync.Mutex
	held   chan struct{} // non-nil while refills are held (HoldRefills); closed to release
}

var _ ratelimit.Store = (*Limiter)(nil)

// HoldRefills stops the refill worker before its next call to Redis while
// hold is true; leases due for a refill wait, and requests spend what their
// leases hold, then are denied locally. It exists for tests that count the
// request path's allocations alone (the worker's would count too: Go counts
// allocations per process); an operator has no use for it.
func (l *Limiter) HoldRefills(hold bool) {
	l.holdMu.Lock()
	defer l.holdMu.Unlock()
	switch {
	case hold && l.held == nil:
		l.held = make(chan struct{})
	case !hold && l.held != nil:
		close(l.held)
		l.held = nil
	}
}

// NewLimiter builds a Limiter on c and starts its refill worker and sweeper.
func NewLimiter(c *Conn, o LimiterOptions) (*Limiter, error) {
	if c == nil {
		return nil, errors.New("redisstate: nil Conn")
	}
	if o.FleetSize < 0 || o.RefillPeriod < 0 || o.MaxBatch < 0 || o.LeaseTTL < 0 || o.QueueSize < 0 || o.SweepInterval < 0 {
		return nil, errors.New("redisstate: negative limiter option")
	}
	if o.Fallback > FallbackDeny {
		return nil, errors.New("redisstate: unknown fallback")
	}
	if o.FleetSize == 0 {
		o.FleetSize = 1
	}
	if o.RefillPeriod == 0 {
		o.RefillPeriod = DefaultRefillPeriod
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.MaxDebt == 0 {
		o.MaxDebt = 1
	} else if o.MaxDebt < 0 {
		o.MaxDebt = 0
	}
	if o.QueueSize == 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	if o.Clock == nil {
		o.Clock = ratelimit.Nanotime
	}
	l := &Limiter{conn: c, opt: o, local: o.Local, queue: make(chan *lease, o.QueueSize), stop: make(chan struct{})}
	if l.local == nil {
		loc, err := ratelimit.NewLocal(ratelimit.Options{Clock: o.Clock})
		if err != nil {
			return nil, err
		}
		l.local, l.owned = loc, true
	}
	l.leases.init()
	l.wg.Add(2)
	go l.refiller()
	go l.sweeper()
	return l, nil
}

// Close stops the background work (a refill in flight finishes first) and
// closes the fallback store if the Limiter made it. Allow keeps working
// from the leases held, then from debt and cached denials.
func (l *Limiter) Close() error {
	l.once.Do(func() {
		close(l.stop)
		l.wg.Wait()
		if l.owned {
			l.local.Close()
		}
	})
	return nil
}

// Leases returns the number of leases held (keys seen recently).
func (l *Limiter) Leases() int { return int(l.leases.count.Load()) }

// limScratch is one Allow call's per-request state, on the stack.
type limScratch struct {
	ls   [ratelimit.MaxRequests]*lease
	prev [ratelimit.MaxRequests]int64
	cost [ratelimit.MaxRequests]int64
}

// evalLease decides one request of cost against a lease whose token count
// is v. It returns the new count, or the wait when denied.
func (l *Limiter) evalLease(ls *lease, v, now, cost int64) (nv int64, ok bool, wait int64) {
	if v == deadTokens {
		return v, false, int64(pendingRetry) // evicted under the caller: rare, deny once
	}
	avail := v
	if now >= ls.expires.Load() && avail > 0 {
		avail = 0 // the lease expired: its leftovers are void
	}
	if avail >= cost {
		return v - cost, true, 0
	}
	if du := ls.denyUntil.Load(); now < du {
		return v, false, du - now
	}
	if avail-cost >= -l.opt.MaxDebt {
		return avail - cost, true, 0
	}
	return v, false, int64(pendingRetry)
}

// Allow implements ratelimit.Store. While the breaker is closed it spends
// leased tokens (all of reqs or none, like ratelimit.Local); while it is
// open it applies the fallback policy. It never blocks on Redis and does
// not allocate once each key has a lease.
func (l *Limiter) Allow(now int64, reqs []ratelimit.Request) ratelimit.Decision {
	if len(reqs) > ratelimit.MaxRequests {
		panic("BUG: redisstate: more than MaxRequests requests in one Allow call")
	}
	if !l.conn.Healthy() {
		return l.fallback(now, reqs)
	}
	var s limScratch
	// Phase 1: evaluate without writing, as ratelimit.Local does, so that
	// a flood of denials writes nothing shared.
	worst, worstWait := -1, int64(0)
	for i := range reqs {
		r := &reqs[i]
		if r.Limit == nil || r.Limit.Burst < 1 {
			panic("BUG: redisstate: Request.Limit not built by NewLimit or NewQuota")
		}
		cost := r.Cost
		if cost == 0 {
			cost = 1
		} else if cost < 0 {
			panic("BUG: redisstate: negative Request.Cost")
		}
		ls := l.leases.get(r.Key, r.Limit.Period)
		if ls.limit.Load() != r.Limit {
			ls.limit.Store(r.Limit) // first use, or a reload changed the limit
		}
		if !ls.used.Load() {
			ls.used.Store(true) // written once per sweep, not per request
		}
		v := ls.tokens.Load()
		s.ls[i], s.prev[i], s.cost[i] = ls, v, cost
		if cost > r.Limit.Burst {
			if worst < 0 || int64(time.Second) > worstWait {
				worst, worstWait = i, int64(time.Second)
			}
			continue
		}
		if _, ok, wait := l.evalLease(ls, v, now, cost); !ok && (worst < 0 || wait > worstWait) {
			worst, worstWait = i, wait
		}
	}
	if worst >= 0 {
		l.refillIfLow(now, reqs, &s)
		return l.denial(now, reqs, &s, worst, worstWait)
	}
	// Phase 2: CAS each count from what phase 1 read; on a lost race that
	// turns into a denial, give back what this call took.
	for i := range reqs {
		ls, v, cost := s.ls[i], s.prev[i], s.cost[i]
		for range 64 { // bounded: each retry means another caller progressed
			nv, ok, wait := l.evalLease(ls, v, now, cost)
			if !ok {
				for j := range i {
					refundLease(s.ls[j], s.cost[j])
				}
				l.refillIfLow(now, reqs, &s)
				return l.denial(now, reqs, &s, i, wait)
			}
			if ls.tokens.CompareAndSwap(v, nv) {
				break
			}
			v = ls.tokens.Load()
		}
		ls.spent.Add(cost)
	}
	l.refillIfLow(now, reqs, &s)
	d := ratelimit.Decision{Allowed: true, Denied: -1, Remaining: -1}
	for i := range reqs {
		lim := reqs[i].Limit
		rem, reset := l.headerFigures(s.ls[i], lim, now)
		if d.Remaining < 0 || rem < d.Remaining || (rem == d.Remaining && reset > d.Reset) {
			d.Limit, d.Remaining, d.Reset = lim.Burst, rem, reset
		}
	}
	if d.Remaining < 0 {
		d.Remaining = 0
	}
	return d
}

func refundLease(ls *lease, cost int64) {
	for {
		v := ls.tokens.Load()
		if v == deadTokens || ls.tokens.CompareAndSwap(v, v+cost) {
			return
		}
	}
}

// headerFigures estimates the fleet-wide remaining units (what Redis had
// left at the last refill plus this node's unspent tokens) and the time
// until the bucket is full or the window ends.
func (l *Limiter) headerFigures(ls *lease, lim *ratelimit.Limit, now int64) (int64, time.Duration) {
	rem := ls.fleetLeft.Load()
	if v := ls.tokens.Load(); v > 0 && now < ls.expires.Load() {
		rem += v
	}
	rem = min(rem, lim.Burst)
	if lim.Period != ratelimit.PeriodNone {
		p := periodNanos(lim.Period)
		return rem, time.Duration(p - now%p)
	}
	return rem, time.Duration(float64(lim.Burst-rem) * 1e9 / lim.Rate)
}

func (l *Limiter) denial(now int64, reqs []ratelimit.Request, s *limScratch, i int, wait int64) ratelimit.Decision {
	rem, reset := l.headerFigures(s.ls[i], reqs[i].Limit, now)
	return ratelimit.Decision{Denied: i, RetryAfter: time.Duration(wait), Limit: reqs[i].Limit.Burst, Remaining: rem, Reset: reset}
}

// refillIfLow queues a refill for every lease of the call that is below
// its low-water mark or expired, unless Redis's last answer said to wait
// or one is already queued. It never blocks: a full queue drops the refill.
func (l *Limiter) refillIfLow(now int64, reqs []ratelimit.Request, s *limScratch) {
	for i := range reqs {
		ls := s.ls[i]
		v := ls.tokens.Load()
		if v >= ls.low.Load() && now < ls.expires.Load() {
			continue
		}
		if now < ls.denyUntil.Load() || ls.queued.Load() || !ls.queued.CompareAndSwap(false, true) {
			continue
		}
		select {
		case l.queue <- ls:
		default:
			ls.queued.Store(false)
			refillDropped.Inc()
		}
	}
}

// fallback decides while the breaker is open.
func (l *Limiter) fallback(now int64, reqs []ratelimit.Request) ratelimit.Decision {
	switch l.opt.Fallback {
	case FallbackAllow:
		fallbackAllow.Inc()
		d := ratelimit.Decision{Allowed: true, Denied: -1}
		if len(reqs) > 0 {
			d.Limit, d.Remaining = reqs[0].Limit.Burst, reqs[0].Limit.Burst
		}
		return d
	case FallbackDeny:
		fallbackDeny.Inc()
		d := ratelimit.Decision{Denied: 0, RetryAfter: fallbackDenyRetry, Reset: fallbackDenyRetry}
		if len(reqs) > 0 {
			d.Limit = reqs[0].Limit.Burst
		}
		return d
	}
	fallbackLocal.Inc()
	var scaled [ratelimit.MaxRequests]ratelimit.Request
	for i := range reqs {
		scaled[i] = reqs[i]
		scaled[i].Limit = l.scaledLimit(reqs[i].Limit)
	}
	return l.local.Allow(now, scaled[:len(reqs)])
}

// scaledLimit returns lim divided by the fleet size, built once per Limit
// (a map lookup by pointer does not allocate). Limits of replaced
// snapshots stay in the map; there are few per reload.
func (l *Limiter) scaledLimit(lim *ratelimit.Limit) *ratelimit.Limit {
	if l.opt.FleetSize == 1 {
		return lim
	}
	if v, ok := l.scaled.Load(lim); ok {
		return v.(*ratelimit.Limit)
	}
	l.scaledMu.Lock()
	defer l.scaledMu.Unlock()
	if v, ok := l.scaled.Load(lim); ok {
		return v.(*ratelimit.Limit)
	}
	n := int64(l.opt.FleetSize)
	var sl *ratelimit.Limit
	var err error
	if lim.Period == ratelimit.PeriodNone {
		sl, err = ratelimit.NewLimit(lim.Rate/float64(n), max(1, lim.Burst/n))
	} else {
		sl, err = ratelimit.NewQuota(lim.Period, max(1, lim.Burst/n))
	}
	if err != nil {
		sl = lim // a rate too small to divide: enforce the whole limit
	}
	l.scaled.Store(lim, sl)
	return sl
}

func periodNanos(p ratelimit.Period) int64 {
	switch p {
	case ratelimit.PeriodMinute:
		return 60e9
	case ratelimit.PeriodHour:
		return 3600e9
	case ratelimit.PeriodDay:
		return 86400e9
	}
	return 0
}

func (l *Limiter) sweeper() {
	defer l.wg.Done()
	t := time.NewTicker(l.opt.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.leases.sweep()
		}
	}
}

// refiller drains the queue and refills up to maxRefillBatch leases per
// round trip (one pipeline; a Cluster client splits it by slot).
func (l *Limiter) refiller() {
	defer l.wg.Done()
	batch := make([]*lease, 0, maxRefillBatch)
	for {
		select {
		case <-l.stop:
			return
		case ls := <-l.queue:
			batch = append(batch[:0], ls)
		}
		l.holdMu.Lock()
		held := l.held
		l.holdMu.Unlock()
		if held != nil {
			select {
			case <-held:
			case <-l.stop:
				return
			}
		}
	drain:
		for len(batch) < maxRefillBatch {
			select {
			case ls := <-l.queue:
				batch = append(batch, ls)
			default:
				break drain
			}
		}
		l.refill(batch)
	}
}

// batchSize updates the lease's rate estimate (an average of the rate
// between refills) and returns how many tokens to ask for.
func (l *Limiter) batchSize(ls *lease, lim *ratelimit.Limit, now int64) int64 {
	sp := ls.spent.Load()
	if dt := now - ls.lastRefill; ls.lastRefill != 0 && dt > 0 {
		inst := float64(sp-ls.lastSpent) * 1e9 / float64(dt)
		ls.rate = (ls.rate + inst) / 2
	}
	ls.lastRefill, ls.lastSpent = now, sp
	want := int64(math.Ceil(ls.rate * l.opt.RefillPeriod.Seconds()))
	n := int64(l.opt.FleetSize)
	limit := l.opt.MaxBatch
	if lim.Period == ratelimit.PeriodNone {
		// A node never holds more than its share of the burst.
		limit = min(limit, max(1, lim.Burst/n))
	} else if left := ls.fleetLeft.Load(); ls.batch > 0 {
		// Near the end of a quota, shrink batches so unspent leases strand
		// few units on idle nodes.
		limit = min(limit, max(1, left/(2*n)))
	}
	b := max(1, min(want, limit))
	ls.batch = b
	ls.low.Store(max(1, b/2))
	return b
}

// waitTarget is how many tokens a node whose refill came back short waits
// for: a batch for every node, so that the nodes of a saturated key come
// back to whole batches, but never more than the burst nor more than the
// fleet rate refills in RefillPeriod, so a slow limit (1/s) is not turned
// into a bursty one (5 every 5 s).
func (l *Limiter) waitTarget(ls *lease, lim *ratelimit.Limit) int64 {
	byRate := int64(math.Ceil(lim.Rate * l.opt.RefillPeriod.Seconds()))
	return max(1, min(lim.Burst, ls.n*int64(l.opt.FleetSize), byRate))
}

func (l *Limiter) keyFor(ls *lease, lim *ratelimit.Limit, now int64) (string, int64) {
	if ls.redisKey == "" {
		b := make([]byte, 0, len(l.conn.Prefix())+24)
		b = append(b, l.conn.Prefix()...)
		// The hash tag keeps one caller key's bucket and quota windows in
		// one Cluster slot.
		b = append(b, '{')
		b = strconv.AppendUint(b, ls.key, 16)
		b = append(b, '}', ':')
		ls.redisKey = string(b)
	}
	if lim.Period == ratelimit.PeriodNone {
		return ls.redisKey + "b", 0
	}
	win := now / periodNanos(lim.Period)
	return ls.redisKey + "q" + lim.Period.String()[:1] + ":" + strconv.FormatInt(win, 10), win
}

// refill asks Redis for tokens for each lease in one pipeline and installs
// the answers. On failure the breaker opens (Conn.observe) and the leases
// keep what they had; Allow falls back until the prober closes it.
func (l *Limiter) refill(batch []*lease) {
	defer func() {
		for _, ls := range batch {
			ls.queued.Store(false)
		}
	}()
	cl := l.conn.Client()
	if cl == nil || !l.conn.Healthy() {
		return
	}
	now := l.opt.Clock()
	cmds := make(rueidis.Commands, 0, len(batch))
	evals := make([]rueidis.Completed, 0, len(batch))
	for _, ls := range batch {
		lim := ls.limit.Load()
		// Void expired leftovers before asking, so the answer's tokens are
		// never mixed with tokens of an old lease or window.
		for {
			v := ls.tokens.Load()
			if v <= 0 || now < ls.expires.Load() || ls.tokens.CompareAndSwap(v, 0) {
				break
			}
		}
		v := ls.tokens.Load()
		ls.debt = max(0, -v)
		if v == deadTokens {
			ls.debt = 0
		}
		ls.n = l.batchSize(ls, lim, now)
		key, win := l.keyFor(ls, lim, now)
		ls.win = win
		var args []string
		sha, script := bucketSHA, bucketScript
		if lim.Period == ratelimit.PeriodNone {
			iv := math.Round(1e9/lim.Rate) / 1e3 // µs per token, as ratelimit.NewLimit rounds
			args = []string{
				strconv.FormatFloat(iv, 'g', -1, 64),
				strconv.FormatFloat(iv*float64(lim.Burst), 'g', -1, 64),
				strconv.FormatInt(ls.n, 10), strconv.FormatInt(ls.debt, 10),
				strconv.FormatInt(l.waitTarget(ls, lim), 10),
			}
		} else {
			p := periodNanos(lim.Period)
			ttl := ((win+1)*p-now)/1e6 + 60e3
			sha, script = quotaSHA, quotaScript
			args = []string{
				strconv.FormatInt(lim.Burst, 10), strconv.FormatInt(ls.n, 10),
				strconv.FormatInt(ls.debt, 10), strconv.FormatInt(ttl, 10),
			}
		}
		cmds = append(cmds, cl.B().Evalsha().Sha1(sha).Numkeys(1).Key(key).Arg(args...).Build())
		evals = append(evals, cl.B().Eval().Script(script).Numkeys(1).Key(key).Arg(args...).Build())
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.conn.Timeout())
	defer cancel()
	start := time.Now()
	res := cl.DoMulti(ctx, cmds...)
	var retry []int
	var firstErr error
	for i, r := range res {
		if err := r.Error(); err != nil {
			if re, ok := rueidis.IsRedisErr(err); ok && re.IsNoScript() {
				retry = append(retry, i) // a new or restarted server: send the body once
				continue
			}
			firstErr = err
		}
	}
	if l.conn.observe(start, len(cmds), firstErr) != nil {
		return
	}
	if len(retry) > 0 {
		again := make(rueidis.Commands, 0, len(retry))
		for _, i := range retry {
			again = append(again, evals[i])
		}
		start = time.Now()
		res2 := cl.DoMulti(ctx, again...)
		for k, i := range retry {
			res[i] = res2[k]
			if err := res2[k].Error(); err != nil && firstErr == nil {
				firstErr = err
			}
		}
		if l.conn.observe(start, len(again), firstErr) != nil {
			return
		}
	}
	for i, ls := range batch {
		vals, err := res[i].AsIntSlice()
		if err != nil || len(vals) != 3 {
			l.conn.Failed(errors.New("redisstate: unexpected lease script reply"))
			return
		}
		l.install(ls, now, vals[0], vals[1], vals[2])
	}
}

// install credits a refill's answer: granted tokens plus the debt Redis
// just charged. The expiry moves first, so a request that sees the new
// tokens never sees them as expired.
func (l *Limiter) install(ls *lease, now, granted, waitUS, left int64) {
	lim := ls.limit.Load()
	if lim.Period == ratelimit.PeriodNone {
		ls.expires.Store(now + int64(l.opt.LeaseTTL))
	} else {
		ls.expires.Store((ls.win + 1) * periodNanos(lim.Period))
	}
	ls.fleetLeft.Store(left)
	if add := granted + ls.debt; add > 0 {
		for {
			v := ls.tokens.Load()
			if v == deadTokens || ls.tokens.CompareAndSwap(v, v+add) {
				break
			}
		}
	}
	switch {
	case granted >= ls.n:
		ls.denyUntil.Store(0)
	case lim.Period == ratelimit.PeriodNone:
		ls.denyUntil.Store(now + waitUS*1e3)
	default:
		ls.denyUntil.Store((ls.win + 1) * periodNanos(lim.Period))
	}
	leasesTotal.Inc()
	leaseTokensTotal.Add(int(granted))
}
