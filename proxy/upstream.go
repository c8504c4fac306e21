package proxy

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/policy"
	"github.com/valyala/fasthttp"
)

// DialFunc dials an upstream address; tests replace it with in-memory pipes.
type DialFunc func(addr string) (net.Conn, error)

// upstreams keeps one keep-alive connection pool per target across
// reloads: a reload that leaves a target's settings unchanged reuses its warm
// connections. Pools no snapshot uses any more have their idle connections
// closed after the next reload. Safe for concurrent use; only bind and the
// reload bookkeeping lock.
type upstreams struct {
	mu          sync.Mutex
	dial        DialFunc
	pools       map[string]*hostPool // key: addr + settings
	gen         uint64
	streamAbove int
	uploads     atomic.Int64 // request bodies streaming upstream now (bufferBody)
}

type hostPool struct {
	pool *targetPool
	gen  uint64 // last reload generation that bound it
}

func newUpstreams(dial DialFunc) *upstreams {
	return &upstreams{dial: dial, pools: map[string]*hostPool{}}
}

// begin starts a reload generation; pools not bound during it are swept by end.
func (u *upstreams) begin(streamAbove int) {
	u.mu.Lock()
	u.gen++
	u.streamAbove = streamAbove
	u.mu.Unlock()
}

// end closes idle connections of pools the new snapshot no longer uses. The
// old snapshot may still finish requests on them.
func (u *upstreams) end() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, p := range u.pools {
		if p.gen != u.gen {
			p.pool.closeIdle()
			delete(u.pools, k)
		}
	}
}

// bind returns the policy.Upstream for a compiled backend.
func (u *upstreams) bind(b *policy.Backend) (policy.Upstream, error) {
	if len(b.Targets) == 0 {
		return nil, errors.New("BUG: binding a backend without targets")
	}
	weights := make([]int, len(b.Targets))
	bp := &backendPool{name: b.Name, clientHost: b.ClientHost}
	for i, t := range b.Targets {
		weights[i] = t.Weight
		bp.targets = append(bp.targets, u.pool(t, b))
		bp.hosts = append(bp.hosts, []byte(t.Host))
		bp.urls = append(bp.urls, t.URL)
	}
	bp.seq = swrrSequence(weights)
	return bp, nil
}

func (u *upstreams) pool(t policy.TargetSpec, b *policy.Backend) *targetPool {
	u.mu.Lock()
	defer u.mu.Unlock()
	key := t.Addr + "|" + strconv.Itoa(b.PoolSize) + "|" + b.IdleTimeout.String() + "|" +
		b.ConnectTimeout.String() + "|" + strconv.Itoa(u.streamAbove)
	if p, ok := u.pools[key]; ok {
		p.gen = u.gen
		return p.pool
	}
	tp := &targetPool{
		addr:           t.Addr,
		dial:           u.dial,
		connectTimeout: b.ConnectTimeout,
		idleTimeout:    b.IdleTimeout,
		maxConns:       b.PoolSize,
		streamAbove:    u.streamAbove,
	}
	u.pools[key] = &hostPool{pool: tp, gen: u.gen}
	return tp
}

// backendPool spreads a backend's requests over its targets. Immutable but
// for the round-robin counter; safe for concurrent use.
type backendPool struct {
	name       string
	targets    []*targetPool
	hosts      [][]byte
	urls       []string
	seq        []uint16
	next       atomic.Uint64
	clientHost bool
}

// Do implements policy.Upstream, and is the one place requests are retried.
// A stale keep-alive connection (isStale) is retried once on a fresh dial to
// the same target. A dial failure means nothing was sent, so the request
// moves on to the next target whatever its method; any other failure is
// returned, because the upstream may have acted on the request.
func (p *backendPool) Do(req *fasthttp.Request, resp *fasthttp.Response, timeout time.Duration) (int, error) {
	n := len(p.targets)
	start := int(p.seq[p.next.Add(1)%uint64(len(p.seq))])
	var err error
	deadline := time.Now().Add(timeout)
	for i := 0; i < n; i++ {
		t := (start + i) % n
		if !p.clientHost {
			req.Header.SetHostBytes(p.hosts[t])
		}
		err = p.targets[t].do(req, resp, deadline, false)
		if isStale(err) {
			// A reused connection died before any answer byte: once more on
			// a fresh dial, never on another idle connection.
			err = p.targets[t].do(req, resp, deadline, true)
		}
		if err == nil || !isDialError(err) {
			return t, err
		}
	}
	return (start + n - 1) % n, err
}

// isDialError tells connection-establishment failures (nothing was sent)
// apart from failures after the request went out.
func isDialError(err error) bool {
	var d *errDial
	return errors.As(err, &d)
}
