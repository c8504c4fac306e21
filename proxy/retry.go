package proxy

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluicegw/sluice/policy"
	"github.com/valyala/fasthttp"
)

// Error codes of the resilience layer: each names why no target was asked,
// so an operator can tell a protective refusal from a broken upstream.
const (
	CodeUpstreamOverloaded = "UpstreamOverloaded"
	CodeCircuitOpen        = "CircuitOpen"
)

// errOverloaded: every candidate target is at max_concurrent or max_pending.
// errCircuitOpen: every candidate target's breaker is open.
var (
	errOverloaded  = errors.New("every target is at its request limit")
	errCircuitOpen = errors.New("every target's circuit breaker is open")
)

// resilienceError maps the resilience layer's refusals to the client's
// answer: 503 with a code of its own, at once.
func resilienceError(err error) (int, string, string, bool) {
	switch {
	case err == errOverloaded || errors.Is(err, errPendingLimit):
		upstreamErrOverloaded.Inc()
		return fasthttp.StatusServiceUnavailable, CodeUpstreamOverloaded, "every upstream target is at its request limit", true
	case err == errCircuitOpen:
		upstreamErrCircuitOpen.Inc()
		return fasthttp.StatusServiceUnavailable, CodeCircuitOpen, "every upstream target's circuit breaker is open", true
	}
	return 0, "", "", false
}

var (
	upstreamErrOverloaded  = metrics.NewCounter(`sluice_upstream_errors_total{kind="overloaded"}`)
	upstreamErrCircuitOpen = metrics.NewCounter(`sluice_upstream_errors_total{kind="circuit_open"}`)
)

// backendMetrics are a backend's retry counters, by backend name, so they
// continue across reloads.
type backendMetrics struct {
	retries         *metrics.Counter
	budgetExhausted *metrics.Counter
	panics          *metrics.Counter
}

func newBackendMetrics(name string) *backendMetrics {
	l := `{backend="` + name + `"}`
	return &backendMetrics{
		retries:         upstreamMetrics.GetOrCreateCounter(`sluice_upstream_retries_total` + l),
		budgetExhausted: upstreamMetrics.GetOrCreateCounter(`sluice_upstream_retry_budget_exhausted_total` + l),
		panics:          upstreamMetrics.GetOrCreateCounter(`sluice_upstream_panic_total` + l),
	}
}

// countsAgainstTarget tells the target's own failures (no connection,
// reset, timeout) from refusals of the gateway's own limits, the client's
// body failing, and an idle keep-alive connection the origin closed.
func countsAgainstTarget(err error) bool {
	switch err.(type) {
	case *errClientBody, *errStale:
		return false
	}
	return err != errOverloaded && err != errCircuitOpen && !errors.Is(err, errPendingLimit) &&
		!errors.Is(err, fasthttp.ErrNoFreeConns)
}

// failure kinds, for the retry decision.
type failKind uint8

const (
	failNone failKind = iota
	failConnect
	failRefused // a limit or breaker of the gateway: nothing was sent
	failReset
	failTimeout
	failStatus
	failFinal // never retried (the client's body)
)

func classify(err error) failKind {
	switch {
	case err == errOverloaded || err == errCircuitOpen || errors.Is(err, errPendingLimit) ||
		errors.Is(err, fasthttp.ErrNoFreeConns):
		return failRefused
	case isDialError(err):
		return failConnect
	case errors.Is(err, fasthttp.ErrTimeout) || isTimeout(err):
		return failTimeout
	}
	if _, ok := err.(*errClientBody); ok {
		return failFinal
	}
	return failReset
}

// Do implements policy.Upstream: the retry layer. The rules, all here:
//   - nothing was sent (a refused or failed connect, a target at its limit
//     or with an open breaker): the next untried target is tried, whatever
//     the method and whatever the retry table, each target at most once;
//   - a reused keep-alive connection that failed before any answer byte, for
//     a request that is safe to send again, is retried once on a fresh
//     connection to the same target (the origin closed it while idle);
//   - otherwise the API's retry table decides (x.Retry, nil: no retries):
//     attempts, retry_on, idempotent methods unless any_method, never a
//     streamed body; each retry goes to another target where one exists,
//     after a jittered exponential backoff, within the backend's retry
//     budget and the API's deadline (504 when it is spent);
//   - anything else is returned: the upstream may have acted on the request.
func (c *chain) Do(x *policy.Exchange) error {
	c.active.Add(1)
	rp := x.Retry
	n := len(c.targets)
	var tried uint64 // bit i: target i was tried (targets past 64 may repeat)
	var err error
	retrying := false
	tries, failovers, retries := 0, 0, 0
	fresh, first := false, true
	t := 0
	for {
		now := x.Now // the first try's is the pipeline's reading of the same clock
		if !first || now == 0 {
			now = c.now()
		}
		if !fresh {
			t, err = c.choose(x, tried, now)
			if err != nil {
				break
			}
			tried |= bit(t)
		}
		deadline := x.Deadline
		tnow := x.Start // one clock read for both checks; the first try's is the pipeline's
		if !first || tnow.IsZero() {
			tnow = time.Now()
		}
		first = false
		if rp != nil && rp.PerTryTimeout > 0 {
			if d := tnow.Add(rp.PerTryTimeout); d.Before(deadline) {
				deadline = d
			}
		}
		if !tnow.Before(x.Deadline) {
			err = fasthttp.ErrTimeout
			break
		}
		wasFresh := fresh
		fresh = false
		err = c.attempt(t, x, deadline, tnow, wasFresh, now)
		var kind failKind
		switch {
		case err == nil:
			if rp == nil || !rp.RetriesStatus(x.Resp.StatusCode()) || x.Resp.IsBodyStream() {
				goto done
			}
			kind = failStatus
		case isStale(err) && !wasFresh:
			fresh = true // same target, a new connection
			continue
		default:
			kind = classify(err)
		}
		if kind == failFinal {
			break
		}
		if kind == failConnect || kind == failRefused {
			// Nothing was sent: move on at once, without backoff, while an
			// untried target is left and the budget allows another attempt.
			if failovers < n-1 && untried(tried, n) {
				if !c.spend(&retrying) {
					break
				}
				failovers++
				continue
			}
		}
		tries++
		if rp == nil || tries >= rp.Attempts || !c.retries(rp, kind, x) {
			break
		}
		if !c.spend(&retrying) {
			break
		}
		retries++
		if !c.backoff(rp, retries, x.Deadline) {
			break // no time left for another try: the last answer or error stands
		}
		c.m.retries.Inc()
		if kind == failStatus {
			x.Resp.Reset() // the retried answer is dropped; its body was in memory
		}
		if !untried(tried, n) {
			tried = 0 // every target was tried: any may serve the next try
		}
	}
done:
	if err == nil && x.Resp.StatusCode() < 500 {
		c.earn() // only answered requests refill the budget (gRPC's retry throttling)
	}
	if retrying {
		c.retrying.Add(-1)
	}
	c.active.Add(-1)
	return err
}

func bit(i int) uint64 {
	if i >= 64 {
		return 0
	}
	return 1 << uint(i)
}

func untried(tried uint64, n int) bool {
	if n > 64 {
		return true
	}
	return tried != (uint64(1)<<uint(n))-1
}

// retries reports whether the policy retries a failure of this kind for x.
func (c *chain) retries(rp *policy.RetryPolicy, kind failKind, x *policy.Exchange) bool {
	if !x.Replayable {
		return false // a streamed body was consumed by the first try
	}
	switch kind {
	case failConnect, failRefused:
		return rp.OnConnect
	}
	if !rp.AnyMethod && !isIdempotent(x.Req) {
		return false
	}
	switch kind {
	case failReset:
		return rp.OnReset
	case failTimeout:
		return rp.OnTimeout
	case failStatus:
		return rp.OnStatus
	}
	return false
}

// The retry budget has two halves, both from the backend's retry_budget:
//   - concurrency (Envoy's): requests that are retrying may be at most
//     percent of the backend's active requests, min_concurrency always
//     allowed;
//   - volume: every request the upstream answered (a status under 500)
//     earns percent/100 of an attempt and every attempt past a request's
//     first spends one, so over any run the attempts stay within
//     (1 + percent/100) x requests plus the bucket's burst (retryBurst x
//     min_concurrency attempts, full when the chain is bound, so a reload or
//     start can fail over at once). A backend whose every target fails earns
//     nothing: once the burst is spent its requests get one attempt each
//     (like gRPC's retry throttling, which refills only on success). Failing
//     fast (refused connections) would otherwise pass many retries through
//     few slots.
//
// Failovers after a refused connect spend from the budget too: with every
// target down, that is what keeps a dead backend from seeing a storm.
const retryBurst = 10

// earn credits the volume budget with one request's share, in thousandths.
func (c *chain) earn() {
	b := c.res.Budget
	if c.tokens.Load() < b.MinConcurrency*retryBurst*1000 {
		c.tokens.Add(b.Percent * 10)
	}
}

// spend admits one more attempt of a request; retrying says whether the
// request already holds a concurrency slot (released when Do returns).
func (c *chain) spend(retrying *bool) bool {
	if !*retrying {
		b := c.res.Budget
		limit := max(b.MinConcurrency, c.active.Load()*b.Percent/100)
		if c.retrying.Add(1) > limit {
			c.retrying.Add(-1)
			c.m.budgetExhausted.Inc()
			return false
		}
		*retrying = true
	}
	if c.tokens.Add(-1000) < 0 {
		c.tokens.Add(1000)
		c.m.budgetExhausted.Inc()
		return false
	}
	return true
}

// backoff waits before retry number k: full jitter over base x 2^(k-1),
// capped at max. It returns false, without waiting, when the wait would
// end past the deadline.
func (c *chain) backoff(rp *policy.RetryPolicy, k int, deadline time.Time) bool {
	d := rp.BackoffBase << uint(min(k-1, 20))
	if d > rp.BackoffMax || d <= 0 {
		d = rp.BackoffMax
	}
	if d <= 0 {
		return time.Now().Before(deadline)
	}
	wait := time.Duration(rand.Int64N(int64(d)) + 1)
	if !time.Now().Add(wait).Before(deadline) {
		return false
	}
	time.Sleep(wait)
	return true
}

// attempt sends x to target i once: limits and breaker first, then the
// pool; the result feeds the target's passive health and breaker.
func (c *chain) attempt(i int, x *policy.Exchange, deadline, tnow time.Time, fresh bool, now int64) error {
	tg := c.targets[i]
	if tg.inflight.Add(1) > c.res.Limits.MaxConcurrent {
		tg.inflight.Add(-1)
		tg.m.overloaded.Inc()
		return errOverloaded
	}
	probe := false
	if bs := c.res.Breaker; bs != nil {
		var ok bool
		if ok, probe = tg.br.allow(bs, now, tg.m); !ok {
			tg.inflight.Add(-1)
			return errCircuitOpen
		}
	}
	if !c.clientHost {
		x.Req.Header.SetHostBytes(c.hosts[i])
	}
	x.Target = i
	x.Attempts++
	tg.m.attempts.Inc()
	err := c.pools[i].doAt(x.Req, x.Resp, deadline, tnow, fresh)
	tg.inflight.Add(-1)
	if err != nil || c.res.Breaker != nil {
		now = c.now() // the result's time, for ejection and the breaker: a try may have taken seconds
	}
	if err != nil && isStale(err) {
		if probe {
			tg.br.probes.Add(-1)
		}
		return err
	}
	status := 0
	if err == nil {
		status = x.Resp.StatusCode()
	}
	counts := err != nil && countsAgainstTarget(err)
	if counts {
		tg.m.failures.Inc()
	}
	if bs := c.res.Breaker; bs != nil && (err == nil || counts || probe) {
		tg.br.record(bs, now, counts || status >= 500, probe, tg.m)
	}
	if tg.observe(err, status, &c.outlier) {
		c.maybeEject(i, now)
	}
	return err
}

// maybeEject ejects target i unless max_ejection_percent of the backend's
// targets are ejected already (at least one may be).
func (c *chain) maybeEject(i int, now int64) {
	o := &c.res.Outlier
	n := len(c.targets)
	ejected := 0
	for _, t := range c.targets {
		if u := t.ejectedUntil.Load(); u != 0 && u > now {
			ejected++
		}
	}
	if ejected >= max(1, n*o.MaxEjectionPercent/100) {
		return
	}
	c.targets[i].eject(now, int64(o.BaseEjection), int64(o.MaxEjection))
}

// choose picks the target of the next try: the balancer's choice, or the
// next one after it, in this order of preference: healthy and untried,
// healthy, untried, any (the last two are panic mode: no healthy target is
// left, so all serve). Targets with an open breaker are skipped; when
// nothing else is left the request gets errCircuitOpen.
func (c *chain) choose(x *policy.Exchange, tried uint64, now int64) (int, error) {
	n := len(c.targets)
	first := c.bal.pick(x)
	bs := c.res.Breaker
	blocked := false
	slowSkipped := -1
	for pass := 0; pass < 4; pass++ {
		healthy := pass == 0 || pass == 1
		skipTried := pass == 0 || pass == 2
		for k := 0; k < n; k++ {
			i := first + k
			if i >= n {
				i -= n
			}
			if skipTried && tried&bit(i) != 0 {
				continue
			}
			tg := c.targets[i]
			if healthy && !tg.available(now) {
				continue
			}
			if bs != nil && tg.br.refuses(bs, now) {
				blocked = true
				continue
			}
			if pass == 0 && c.res.Balance.SlowStart > 0 && !c.admitSlow(tg, now) {
				if slowSkipped < 0 {
					slowSkipped = i
				}
				continue
			}
			if pass >= 2 {
				c.m.panics.Inc()
			}
			return i, nil
		}
		if pass == 0 && slowSkipped >= 0 {
			return slowSkipped, nil
		}
	}
	if blocked {
		return first, errCircuitOpen
	}
	return first, nil
}

// admitSlow lets a target that came back within the slow-start window take
// a request with a probability growing linearly with the time it has been
// back (at least 10 %, Envoy's min_weight_percent).
func (c *chain) admitSlow(tg *target, now int64) bool {
	since := tg.cameBack()
	w := int64(c.res.Balance.SlowStart)
	el := now - since
	if since == 0 || el >= w || el < 0 {
		return true
	}
	p := max(el*1000/w, 100)
	return rand.Int64N(1000) < p
}
