package redisstate

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Options configures a Conn. The zero value needs only Addrs.
type Options struct {
	// Addrs are host:port seeds: one standalone server, any nodes of a
	// Cluster (detected automatically), or Sentinels when MasterSet is set.
	Addrs []string
	// MasterSet names the Sentinel master set; empty means no Sentinel.
	MasterSet string
	// Username and Password authenticate (ACL user, or password only).
	Username string
	Password string
	// TLS, when non-nil, is used for every connection to Redis.
	TLS *tls.Config
	// DB selects the database (standalone and Sentinel only; default 0).
	DB int
	// KeyPrefix starts every key this package writes (default "sluice:").
	KeyPrefix string
	// DialTimeout bounds connecting (default 20ms: Redis is expected on the
	// same network, and a slow dial only delays the breaker's recovery).
	DialTimeout time.Duration
	// Timeout bounds every call, refills and nonce checks alike (default
	// 10ms). A call that exceeds it counts as a failure and opens the breaker.
	Timeout time.Duration
	// ProbeInterval is how often an open breaker PINGs Redis (default 200ms).
	ProbeInterval time.Duration
}

// Defaults filled in by Dial.
const (
	DefaultKeyPrefix     = "sluice:"
	DefaultDialTimeout   = 20 * time.Millisecond
	DefaultTimeout       = 10 * time.Millisecond
	DefaultProbeInterval = 200 * time.Millisecond
)

// Conn is one Redis deployment shared by a Limiter and a Nonces, with the
// circuit breaker that decides whether either may use it. The breaker is
// closed (Redis in use) or open (every user applies its fallback at once,
// no call is attempted); any failed or timed-out call opens it, and a
// background prober closes it again once Redis answers a PING. Safe for
// concurrent use; create one per process and Close it at shutdown. It
// outlives snapshots.
type Conn struct {
	opt    Options
	client atomic.Pointer[rueidis.Client] // nil until the first successful dial

	open    atomic.Bool
	lastErr atomic.Pointer[error] // the failure that last opened the breaker
	wake    chan struct{}         // prober: the breaker just opened
	changed chan struct{}         // Changed: the breaker opened or closed
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// Dial builds a Conn. It never fails because Redis is down: the Conn then
// starts with its breaker open and keeps dialing in the background, so a
// gateway can start during a Redis outage. It fails only on invalid options.
func Dial(o Options) (*Conn, error) {
	if len(o.Addrs) == 0 {
		return nil, errors.New("redisstate: no Redis address")
	}
	if o.DialTimeout < 0 || o.Timeout < 0 || o.ProbeInterval < 0 {
		return nil, errors.New("redisstate: negative duration")
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ProbeInterval == 0 {
		o.ProbeInterval = DefaultProbeInterval
	}
	c := &Conn{opt: o, wake: make(chan struct{}, 1), changed: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if err := c.connect(); err != nil {
		c.trip(err)
	}
	go c.prober()
	return c, nil
}

func (c *Conn) connect() error {
	o := c.opt
	co := rueidis.ClientOption{
		InitAddress:  o.Addrs,
		Username:     o.Username,
		Password:     o.Password,
		TLSConfig:    o.TLS,
		SelectDB:     o.DB,
		Dialer:       net.Dialer{Timeout: o.DialTimeout, KeepAlive: time.Second},
		DisableCache: true,
		// The store retries on its own schedule (next refill, next probe);
		// a client-side retry would only hold a nonce check past Timeout.
		DisableRetry: true,
		// Detect a dead peer on an idle-looking connection quickly; the
		// breaker, not this, is what keeps requests from waiting.
		ConnWriteTimeout: max(10*o.Timeout, time.Second),
		ClientName:       "sluice",
	}
	if o.MasterSet != "" {
		co.Sentinel = rueidis.SentinelOption{MasterSet: o.MasterSet, Username: o.Username, Password: o.Password, TLSConfig: o.TLS, Dialer: co.Dialer}
	}
	cl, err := rueidis.NewClient(co)
	if err != nil {
		return err
	}
	c.client.Store(&cl)
	return nil
}

// Healthy reports whether the breaker is closed, i.e. Redis is in use.
func (c *Conn) Healthy() bool { return !c.open.Load() }

// LastError returns the failure that last opened the breaker, or nil.
func (c *Conn) LastError() error {
	if p := c.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Prefix returns the key prefix.
func (c *Conn) Prefix() string { return c.opt.KeyPrefix }

// Timeout returns the per-call timeout.
func (c *Conn) Timeout() time.Duration { return c.opt.Timeout }

// Client returns the rueidis client, or nil before the first successful
// dial. Callers must check Healthy first and report failures with Failed.
func (c *Conn) Client() rueidis.Client {
	if p := c.client.Load(); p != nil {
		return *p
	}
	return nil
}

// trip opens the breaker: from now on no caller waits for Redis.
func (c *Conn) trip(err error) {
	if c.open.CompareAndSwap(false, true) {
		c.lastErr.Store(&err)
		openBreakers.Add(1)
		breakerOpensTotal.Inc()
		select {
		case c.wake <- struct{}{}:
		default:
		}
		c.signalChange()
	}
}

// Changed returns a channel that receives after the breaker opens or
// closes, so that one watcher (cmd/sluice's breaker log) waits for changes
// instead of polling Healthy on a ticker (issue 16: a timer that fires on
// an idle gateway costs a wake-up of two threads). Signals coalesce: a
// receiver reads Healthy for the state now, and two quick switches may
// show as none. Only one receiver is supported.
func (c *Conn) Changed() <-chan struct{} { return c.changed }

func (c *Conn) signalChange() {
	select {
	case c.changed <- struct{}{}:
	default: // one pending signal is enough: the receiver reads Healthy
	}
}

// observe records one call of d that ended with err (nil: success), and
// trips the breaker on failure. It returns err.
func (c *Conn) observe(start time.Time, n int, err error) error {
	callsTotal.Add(n)
	callDuration.UpdateDuration(start)
	if err != nil {
		callErrorsTotal.Inc()
		c.trip(err)
	}
	return err
}

// Failed reports a failed call made with Client by other code.
func (c *Conn) Failed(err error) {
	callErrorsTotal.Inc()
	c.trip(err)
}

// prober waits for the breaker to open, then PINGs every ProbeInterval
// (dialing first if there is no client yet) and closes it on an answer.
func (c *Conn) prober() {
	defer close(c.done)
	t := time.NewTicker(c.opt.ProbeInterval)
	defer t.Stop()
	for {
		if !c.open.Load() {
			select {
			case <-c.stop:
				return
			case <-c.wake:
			}
		}
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		if c.probe() && c.open.CompareAndSwap(true, false) {
			openBreakers.Add(-1)
			c.signalChange()
		}
	}
}

func (c *Conn) probe() bool {
	cl := c.Client()
	if cl == nil {
		if c.connect() != nil {
			return false
		}
		cl = c.Client()
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opt.Timeout+c.opt.DialTimeout)
	defer cancel()
	start := time.Now()
	err := cl.Do(ctx, cl.B().Ping().Build()).Error()
	callsTotal.Inc()
	callDuration.UpdateDuration(start)
	return err == nil
}

// Close stops the prober and closes the client. Users (Limiter, Nonces)
// must be closed first.
func (c *Conn) Close() error {
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		if cl := c.Client(); cl != nil {
			cl.Close()
		}
		if c.open.Load() {
			openBreakers.Add(-1)
		}
	})
	return nil
}
