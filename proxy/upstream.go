package proxy

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/sluicegw/sluice/policy"
	"github.com/valyala/fasthttp"
)

// DialFunc dials an upstream address; tests replace it with in-memory pipes.
type DialFunc func(addr string) (net.Conn, error)

// upstreams binds compiled backends to their forwarding chains. It keeps
// two things across reloads, separately: the per-address target registry
// (state about a target: in flight, failures; keyed by address alone), and
// one keep-alive connection pool per target and pool settings, so a reload
// that leaves a target's settings unchanged reuses its warm connections.
// Pools and registry entries no snapshot uses any more are dropped after the
// next reload. Safe for concurrent use; only bind and the reload bookkeeping
// lock.
type upstreams struct {
	mu          sync.Mutex
	dial        DialFunc
	pools       map[string]*hostPool // key: addr + settings
	reg         *registry
	gen         uint64
	streamAbove int
}

type hostPool struct {
	pool *targetPool
	gen  uint64 // last reload generation that bound it
}

func newUpstreams(dial DialFunc) *upstreams {
	return &upstreams{dial: dial, pools: map[string]*hostPool{}, reg: newRegistry()}
}

// begin starts a reload generation; pools and targets not bound during it
// are swept by end.
func (u *upstreams) begin(streamAbove int) {
	u.mu.Lock()
	u.gen++
	u.streamAbove = streamAbove
	u.mu.Unlock()
	u.reg.begin()
}

// end closes idle connections of pools the new snapshot no longer uses and
// forgets targets whose address left the config. The old snapshot may still
// finish requests on them.
func (u *upstreams) end() {
	u.mu.Lock()
	for k, p := range u.pools {
		if p.gen != u.gen {
			p.pool.closeIdle()
			delete(u.pools, k)
		}
	}
	u.mu.Unlock()
	u.reg.end()
}

// bind returns the forwarding chain for a compiled backend.
func (u *upstreams) bind(b *policy.Backend) (policy.Upstream, error) {
	if b.Mock != nil {
		return mockUpstream{b.Mock}, nil
	}
	if len(b.Targets) == 0 {
		return nil, errors.New("BUG: binding a backend without targets")
	}
	weights := make([]int, len(b.Targets))
	c := &chain{name: b.Name, clientHost: b.ClientHost}
	for i, t := range b.Targets {
		weights[i] = t.Weight
		c.pools = append(c.pools, u.pool(t, b))
		c.targets = append(c.targets, u.reg.bind(t.Addr))
		c.hosts = append(c.hosts, []byte(t.Host))
	}
	c.bal = newSWRR(weights)
	return c, nil
}

func (u *upstreams) pool(t policy.TargetSpec, b *policy.Backend) *targetPool {
	u.mu.Lock()
	defer u.mu.Unlock()
	dial, tlsKey := poolDial(u.dial, t, b) // HTTPS targets: proxy/upstream_tls.go
	key := t.Addr + "|" + strconv.Itoa(b.PoolSize) + "|" + b.IdleTimeout.String() + "|" +
		b.ConnectTimeout.String() + "|" + strconv.Itoa(u.streamAbove) + tlsKey
	if p, ok := u.pools[key]; ok {
		p.gen = u.gen
		return p.pool
	}
	tp := &targetPool{
		addr:           t.Addr,
		dial:           dial,
		connectTimeout: b.ConnectTimeout,
		idleTimeout:    b.IdleTimeout,
		maxConns:       b.PoolSize,
		streamAbove:    u.streamAbove,
	}
	u.pools[key] = &hostPool{pool: tp, gen: u.gen}
	return tp
}

// chain is a backend's forwarding chain: Do is the retry layer (the one
// place the gateway sends a request a second time), bal the balancer, and
// the pools the terminal. Immutable once bound but for the balancer's and
// the targets' atomic state; safe for concurrent use.
type chain struct {
	name       string
	bal        balancer
	pools      []*targetPool
	targets    []*target // per-address state, shared with other backends
	hosts      [][]byte
	clientHost bool
}

// Do implements policy.Upstream. The retry rules, all here:
//   - a dial failure means nothing was sent: the next target is tried,
//     whatever the method, each target at most once;
//   - a reused keep-alive connection that failed before any answer byte, for
//     a request that is safe to send again, is retried once on a fresh
//     connection to the same target (the origin closed it while idle);
//   - anything else is returned: the upstream may have acted on the request.
func (c *chain) Do(x *policy.Exchange) error {
	n := len(c.pools)
	t := c.bal.pick()
	var err error
	fresh := false
	for tried := 0; tried < n; {
		if !time.Now().Before(x.Deadline) {
			return fasthttp.ErrTimeout
		}
		if !c.clientHost {
			x.Req.Header.SetHostBytes(c.hosts[t])
		}
		x.Target = t
		x.Attempts++
		tg := c.targets[t]
		tg.inflight.Add(1)
		err = c.pools[t].do(x.Req, x.Resp, x.Deadline, fresh)
		tg.inflight.Add(-1)
		tg.observe(err)
		switch {
		case err == nil:
			return nil
		case isStale(err) && !fresh:
			fresh = true // same target, a new connection
		case isDialError(err):
			tried++
			t = (t + 1) % n
			fresh = false
		default:
			return err
		}
	}
	return err
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
