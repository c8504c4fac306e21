package proxy

import (
	"errors"

	"github.com/sluicegw/sluice/policy"
	"github.com/sluicegw/sluice/store/nonce"
	"github.com/sluicegw/sluice/store/ratelimit"
	"github.com/sluicegw/sluice/store/redisstate"
)

// Fleet routes the limit scopes [state.redis.scopes] marks "fleet" to a
// store shared through Redis (issue 15). Built once per process by
// BuildStores and handed to New in Options.Fleet; it outlives snapshots.
// Safe for concurrent use.
type Fleet struct {
	// Limits is the fleet-wide store (a redisstate.Limiter in production).
	Limits ratelimit.Store
	// Scopes[scope] is true for scopes sent to Limits (indexed by the
	// scope bytes of throttle.go: api, consumer, client_ip, quota).
	Scopes [len(scopeNames)]bool
	// Healthy reports whether Redis is in use (breaker closed); nil means
	// always. ReadyInFallback keeps /readyz at 200 when it is not.
	Healthy         func() bool
	ReadyInFallback bool
}

// ready is the fleet's share of /readyz.
func (f *Fleet) ready() bool {
	return f == nil || f.ReadyInFallback || f.Healthy == nil || f.Healthy()
}

// Stores are the state stores a process builds from [state]: the local
// limiter, the nonce store (Redis-backed when nonces are fleet-scoped) and
// the Fleet, nil without [state.redis]. Close them at shutdown, after the
// server has stopped.
type Stores struct {
	Limits ratelimit.Store
	Nonces nonce.Store
	Fleet  *Fleet
	// Conn is the Redis connection, nil without [state.redis].
	Conn *redisstate.Conn

	local   *ratelimit.Local
	limiter *redisstate.Limiter
}

// BuildStores builds the stores [state] of p describes. It never fails
// because Redis is down (the Conn starts in fallback and keeps dialing);
// it fails on an invalid [state].
func BuildStores(p *policy.Parsed) (*Stores, error) {
	r, err := policy.CompileState(p)
	if err != nil {
		return nil, err
	}
	cfg := p.Config.State
	local, err := ratelimit.NewLocal(ratelimit.Options{MaxKeys: cfg.RateLimitMaxKeys})
	if err != nil {
		return nil, err
	}
	localNonces := nonce.NewLocal(nonce.Config{MaxEntries: cfg.NonceMaxEntries})
	st := &Stores{Limits: local, Nonces: localNonces, local: local}
	if r == nil {
		return st, nil
	}
	fb, err := redisstate.ParseFallback(r.Fallback)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	conn, err := redisstate.Dial(redisstate.Options{
		Addrs: r.Addrs, MasterSet: r.MasterSet, Username: r.Username, Password: r.Password,
		TLS: r.TLS, DB: r.DB, KeyPrefix: r.KeyPrefix, DialTimeout: r.DialTimeout, Timeout: r.ReadTimeout,
	})
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	st.Conn = conn
	// The fallback shares the local limiter: fleet and local scopes never
	// use the same key (the scope is part of every key), and one key cap
	// then bounds the memory of both.
	lim, err := redisstate.NewLimiter(conn, redisstate.LimiterOptions{Fallback: fb, FleetSize: r.FleetSize, Local: local})
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	st.limiter = lim
	f := &Fleet{Limits: lim, Healthy: conn.Healthy, ReadyInFallback: r.ReadyzInFallback}
	f.Scopes[scopeAPI] = r.API
	f.Scopes[scopeConsumer] = r.Consumer
	f.Scopes[scopeClientIP] = r.ClientIP
	f.Scopes[scopeQuota] = r.Quota
	st.Fleet = f
	if r.Nonces {
		st.Nonces = redisstate.NewNonces(conn, localNonces)
	}
	return st, nil
}

// Close stops the refill worker and the Redis connection and frees the
// local stores.
func (st *Stores) Close() error {
	var errs []error
	if st.limiter != nil {
		errs = append(errs, st.limiter.Close())
	}
	if st.Conn != nil {
		errs = append(errs, st.Conn.Close())
	}
	if st.local != nil {
		errs = append(errs, st.local.Close())
	}
	return errors.Join(errs...)
}

// allowLimits charges the request's limits: all of them to s.limits
// without a Fleet, else the local-scoped ones first and, when they pass,
// the fleet-scoped ones. Local first because fleet tokens are the shared,
// scarcer budget: a request a local limit (often a client IP's) refuses
// spends nothing of the fleet's. The reverse case is not rolled back: a
// request a fleet limit refuses keeps its local tokens spent, so across
// both stores the charge is not all-or-nothing (within each it is).
// reqs and scopes are reordered in place (local ones first) so that
// Decision.Denied indexes both.
func (s *Server) allowLimits(now int64, reqs []ratelimit.Request, scopes []byte) ratelimit.Decision {
	f := s.fleet
	if f == nil {
		return s.limits.Allow(now, reqs)
	}
	// Stable partition; n is at most ratelimit.MaxRequests.
	k := 0
	for i := range reqs {
		if !f.Scopes[scopes[i]] {
			if i != k {
				r, sc := reqs[i], scopes[i]
				copy(reqs[k+1:i+1], reqs[k:i])
				copy(scopes[k+1:i+1], scopes[k:i])
				reqs[k], scopes[k] = r, sc
			}
			k++
		}
	}
	switch {
	case k == len(reqs):
		return s.limits.Allow(now, reqs)
	case k == 0:
		return f.Limits.Allow(now, reqs)
	}
	dl := s.limits.Allow(now, reqs[:k])
	if !dl.Allowed {
		return dl
	}
	df := f.Limits.Allow(now, reqs[k:])
	if !df.Allowed {
		df.Denied += k
		return df
	}
	// Both allowed: the headers describe the most restrictive limit.
	if dl.Remaining < df.Remaining {
		return dl
	}
	return df
}
