package proxy

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/policy"
	"github.com/sluicegw/sluice/store/ratelimit"
)

// DialFunc dials an upstream address; tests replace it with in-memory pipes.
type DialFunc func(addr string) (net.Conn, error)

// upstreams binds compiled backends to their forwarding chains. It keeps
// three things across reloads, separately: the per-address target registry
// (state about a target: in flight, failures, ejection, health, breaker;
// keyed by address alone), one keep-alive connection pool per target and
// pool settings, so a reload that leaves a target's settings unchanged
// reuses its warm connections, and one health checker per target and check
// settings, so a reload that keeps them keeps probing on the same schedule.
// Pools, checkers and registry entries no snapshot uses any more are dropped
// when the next snapshot is put into service. Safe for concurrent use; only
// bind and the reload bookkeeping lock.
type upstreams struct {
	mu          sync.Mutex
	dial        DialFunc
	pools       map[string]*hostPool // key: addr + settings
	reg         *registry
	gen         uint64
	streamAbove int
	uploads     atomic.Int64 // request bodies streaming upstream now (bufferBody)
	// now is the clock of ejections, breakers and slow start (Unix ns);
	// tests replace it with a fake clock's.
	now func() int64
	// checks are the running health checkers; wanted the ones the snapshot
	// being compiled asks for. Checkers start in end (a snapshot is put into
	// service), never while compiling.
	checks map[string]*checker
	wanted map[string]wantedCheck
}

type hostPool struct {
	pool *targetPool
	gen  uint64 // last reload generation that bound it
}

// newUpstreams builds the bookkeeping; now is the server's clock (a fake
// one in tests), nil the process clock.
func newUpstreams(dial DialFunc, now func() int64) *upstreams {
	if now == nil {
		now = upstreamNow
	}
	return &upstreams{dial: dial, pools: map[string]*hostPool{}, reg: newRegistry(), now: now,
		checks: map[string]*checker{}, wanted: map[string]wantedCheck{}}
}

// upstreamNow is the process clock in Unix nanoseconds, never stepping back.
func upstreamNow() int64 { return ratelimit.Nanotime() }

// begin starts a reload generation; pools and targets not bound during it
// are swept by end.
func (u *upstreams) begin(streamAbove int) {
	u.mu.Lock()
	u.gen++
	u.streamAbove = streamAbove
	u.wanted = map[string]wantedCheck{}
	u.mu.Unlock()
	u.reg.begin()
}

// end runs when a snapshot is put into service: it closes idle connections
// of pools the new snapshot no longer uses, forgets targets whose address
// left the config, and starts and stops health checkers to match the
// snapshot. The old snapshot may still finish requests on old pools.
func (u *upstreams) end() {
	u.mu.Lock()
	for k, p := range u.pools {
		if p.gen != u.gen {
			p.pool.closeIdle()
			delete(u.pools, k)
		}
	}
	u.syncChecks()
	u.mu.Unlock()
	u.reg.end()
}

// bind returns the forwarding chain for a compiled backend.
func (u *upstreams) bind(b *policy.Backend) (policy.Upstream, error) {
	if b.Mock != nil {
		return mockUpstream{b.Mock}, nil
	}
	res := b.Resilience
	if res == nil { // compiled without policy defaults (tests building a Backend by hand)
		res = &policy.Resilience{Outlier: policy.Outlier{ConsecutiveFailures: policy.DefaultConsecutiveFailures,
			BaseEjection: policy.DefaultBaseEjectionTime, MaxEjection: policy.DefaultMaxEjectionTime,
			MaxEjectionPercent: policy.DefaultMaxEjectionPercent},
			Limits: policy.TargetLimits{MaxConcurrent: policy.DefaultMaxConcurrent, MaxPending: policy.DefaultMaxPending},
			Budget: policy.RetryBudget{Percent: policy.DefaultRetryBudgetPercent, MinConcurrency: policy.DefaultRetryMinConcurrency}}
	}
	if res.Split != nil {
		return newSplit(b, res.Split)
	}
	if len(b.Targets) == 0 {
		return nil, errors.New("BUG: binding a backend without targets")
	}
	weights := make([]int, len(b.Targets))
	addrs := make([]string, len(b.Targets))
	c := &chain{name: b.Name, clientHost: b.ClientHost, res: res, now: u.now, spec: b,
		outlier: outlierLimits{failures: int64(res.Outlier.ConsecutiveFailures), c5xx: int64(res.Outlier.Consecutive5xx)},
		m:       newBackendMetrics(b.Name)}
	for i, t := range b.Targets {
		weights[i] = t.Weight
		addrs[i] = t.Addr
		tg, created := u.reg.bind(t.Addr)
		if created && res.Check != nil && res.Check.StartUnhealthy {
			tg.down.Store(true)
		}
		c.targets = append(c.targets, tg)
		c.pools = append(c.pools, u.pool(t, b, tg))
		c.hosts = append(c.hosts, []byte(t.Host))
		if res.Check != nil {
			u.want(tg, t.Host, res.Check)
		}
	}
	c.bal = newBalancer(res.Balance, weights, addrs, c.targets)
	c.tokens.Store(res.Budget.MinConcurrency * retryBurst * 1000) // a new chain starts with the full burst
	return c, nil
}

func (u *upstreams) pool(t policy.TargetSpec, b *policy.Backend, tg *target) *targetPool {
	u.mu.Lock()
	defer u.mu.Unlock()
	maxPending := int64(policy.DefaultMaxPending)
	if b.Resilience != nil {
		maxPending = b.Resilience.Limits.MaxPending
	}
	dial, tlsKey := poolDial(u.dial, t, b) // HTTPS targets: proxy/upstream_tls.go
	key := t.Addr + "|" + strconv.Itoa(b.PoolSize) + "|" + b.IdleTimeout.String() + "|" +
		b.ConnectTimeout.String() + "|" + strconv.Itoa(u.streamAbove) + "|" + strconv.FormatInt(maxPending, 10) + tlsKey
	if p, ok := u.pools[key]; ok {
		p.gen = u.gen
		return p.pool
	}
	tp := &targetPool{
		addr:           t.Addr,
		dial:           u.pendingDial(dial, tg, maxPending, b.ConnectTimeout),
		connectTimeout: b.ConnectTimeout,
		idleTimeout:    b.IdleTimeout,
		maxConns:       b.PoolSize,
		streamAbove:    u.streamAbove,
	}
	u.pools[key] = &hostPool{pool: tp, gen: u.gen}
	return tp
}

// errPendingLimit is a dial refused because max_pending requests already
// wait for a new connection to the target: the request fails fast instead
// of queueing. The pool wraps it as a dial error; it does not count against
// the target's health.
var errPendingLimit = errors.New("too many requests waiting for a connection to this target")

// pendingDial dials for a pool while counting the dials in progress against
// the target's max_pending: a request waiting for a new connection is a
// pending request (the pool never waits beyond pool_size; it fails fast).
func (u *upstreams) pendingDial(dial DialFunc, tg *target, maxPending int64, timeout time.Duration) DialFunc {
	return func(addr string) (net.Conn, error) {
		if tg.pending.Add(1) > maxPending {
			tg.pending.Add(-1)
			tg.m.overloaded.Inc()
			return nil, errPendingLimit
		}
		defer tg.pending.Add(-1)
		if dial != nil {
			return dial(addr)
		}
		return dialRaw(addr, timeout) // proxy/rawconn.go
	}
}

// chain is a backend's forwarding chain: Do is the retry layer (the one
// place the gateway sends a request a second time, retry.go), bal the
// balancer (balance*.go), and the pools the terminal. Immutable once bound
// but for atomic counters and the targets' state; safe for concurrent use.
type chain struct {
	name       string
	spec       *policy.Backend
	bal        balancer
	pools      []*targetPool
	targets    []*target // per-address state, shared with other backends
	hosts      [][]byte
	clientHost bool
	res        *policy.Resilience
	outlier    outlierLimits
	now        func() int64
	active     atomic.Int64 // requests in this chain (the retry budget's base)
	retrying   atomic.Int64 // requests that have retried, until they finish
	tokens     atomic.Int64 // volume retry budget, thousandths of an attempt (retry.go)
	m          *backendMetrics
}

// isDialError tells connection-establishment failures (nothing was sent)
// apart from failures after the request went out.
func isDialError(err error) bool {
	var d *errDial
	return errors.As(err, &d)
}

// mockUpstream is the terminal of a backend with a fixed answer: it takes
// the place of the pool, so a mock passes the same response phase as any
// upstream's answer.
type mockUpstream struct{ m *policy.MockAnswer }

func (u mockUpstream) Do(x *policy.Exchange) error {
	r := x.Resp
	r.SetStatusCode(u.m.Status)
	for _, h := range u.m.Headers {
		r.Header.SetBytesKV(h[0], h[1])
	}
	r.SetBodyRaw(u.m.Body)
	return nil
}
