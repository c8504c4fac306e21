package policy

import (
	"strconv"
	"strings"
	"time"
)

// Upstream resilience (issue 12): the config tables for health checks,
// outlier ejection, per-target limits, breakers, balancing policies, retry
// budgets (per backend), retries and canary splits (per API), and their
// compilation. Defaults follow Envoy and HAProxy where they fit; each is
// stated once, below and in configs/reference.toml.
const (
	DefaultCheckInterval       = 2 * time.Second // HAProxy "inter"
	DefaultCheckTimeout        = 1 * time.Second
	DefaultCheckRise           = 2 // HAProxy
	DefaultCheckFall           = 3 // HAProxy
	DefaultCheckPath           = "/"
	DefaultConsecutiveFailures = 5 // Envoy consecutive_gateway_failure
	DefaultBaseEjectionTime    = 30 * time.Second
	DefaultMaxEjectionTime     = 300 * time.Second
	DefaultMaxEjectionPercent  = 50   // issue 12 (Envoy's panic threshold)
	DefaultMaxConcurrent       = 1024 // Envoy max_requests
	DefaultMaxPending          = 1024 // Envoy max_pending_requests
	DefaultBreakerRatio        = 50
	DefaultBreakerWindow       = 10 * time.Second
	DefaultBreakerMinRequests  = 20
	DefaultBreakerOpenTime     = 30 * time.Second
	DefaultBreakerProbes       = 3
	DefaultRetryBudgetPercent  = 20                     // Envoy retry_budget.budget_percent
	DefaultRetryMinConcurrency = 3                      // Envoy retry_budget.min_retry_concurrency
	DefaultRetryBackoffBase    = 25 * time.Millisecond  // Envoy
	DefaultRetryBackoffMax     = 250 * time.Millisecond // Envoy: 10 x base
	MinCheckInterval           = 100 * time.Millisecond
	MaxRetryAttempts           = 10
)

// BackendResilienceConfig is embedded in [[backends]]: the tables that keep
// a backend's bad targets from hurting its callers.
type BackendResilienceConfig struct {
	// HealthCheck, when set, probes every target on its own schedule; a
	// target failing `fall` probes in a row is taken out until it passes
	// `rise` in a row (default: no active checks).
	HealthCheck *HealthCheckConfig `toml:"health_check"`
	// Outlier is passive health: targets are ejected on the answers real
	// requests get; an ejection ends after its time, or when active checks
	// that took the target down see it come back (default on, with the
	// values below).
	Outlier *OutlierConfig `toml:"outlier"`
	// Limits caps what one target is asked to do at once.
	Limits *TargetLimitsConfig `toml:"limits"`
	// Breaker, when set, stops sending to a target whose failure ratio over
	// a window is too high, and probes it before closing (default: off).
	Breaker *BreakerConfig `toml:"breaker"`
	// Balance chooses the balancing policy (default smooth weighted round-robin).
	Balance *BalanceConfig `toml:"balance"`
	// RetryBudget bounds the retries of every API using this backend.
	RetryBudget *RetryBudgetConfig `toml:"retry_budget"`
}

// HealthCheckConfig is a [backends.health_check] table.
type HealthCheckConfig struct {
	// Type is "http" (a GET of Path) or "tcp" (a connect) (default "http").
	Type string `toml:"type"`
	// Path is the HTTP check's path (default "/").
	Path string `toml:"path"`
	// Host is the HTTP check's Host header (default the target's host:port).
	Host string `toml:"host"`
	// Interval is the time between checks of one target; the first check of
	// each target starts at a random point within it (default 2s, at least 100ms).
	Interval Duration `toml:"interval"`
	// Timeout bounds one check (default 1s, at most Interval).
	Timeout Duration `toml:"timeout"`
	// Statuses are the HTTP statuses that pass (default any 2xx or 3xx).
	Statuses []int `toml:"statuses"`
	// Rise is how many passes in a row bring a down target back (default 2).
	Rise int `toml:"rise"`
	// Fall is how many failures in a row take a target down (default 3).
	Fall int `toml:"fall"`
	// StartUnhealthy makes a target new to the gateway wait for `rise`
	// passes before it gets traffic (default false: it starts healthy).
	StartUnhealthy bool `toml:"start_unhealthy"`
}

// OutlierConfig is a [backends.outlier] table.
type OutlierConfig struct {
	// ConsecutiveFailures ejects a target after this many gateway failures
	// in a row: refused or failed connect, reset, timeout; 0 turns it off (default 5).
	ConsecutiveFailures *int `toml:"consecutive_failures"`
	// Consecutive5xx ejects a target after this many 5xx answers in a row;
	// 0 turns it off (default 0).
	Consecutive5xx int `toml:"consecutive_5xx"`
	// BaseEjectionTime is the first ejection's length; the n-th ejection in a
	// row lasts n times it (default 30s).
	BaseEjectionTime Duration `toml:"base_ejection_time"`
	// MaxEjectionTime caps an ejection (default 300s).
	MaxEjectionTime Duration `toml:"max_ejection_time"`
	// MaxEjectionPercent caps the share of the backend's targets ejected at
	// once (at least one may be). When no target is left healthy the backend
	// serves all of them anyway ("panic mode") (default 50).
	MaxEjectionPercent *int `toml:"max_ejection_percent"`
}

// TargetLimitsConfig is a [backends.limits] table. Over a limit a request
// goes to another target, or fails fast with 503 UpstreamOverloaded.
type TargetLimitsConfig struct {
	// MaxConcurrent caps requests in flight to one target (default 1024).
	MaxConcurrent int `toml:"max_concurrent"`
	// MaxPending caps requests waiting for a new connection to one target
	// (dialing); the pool itself never queues beyond pool_size (default 1024).
	MaxPending int `toml:"max_pending"`
}

// BreakerConfig is a [backends.breaker] table.
type BreakerConfig struct {
	// FailureRatio opens the breaker at this percentage of failed attempts
	// (gateway failures and 5xx) in a window (default 50).
	FailureRatio int `toml:"failure_ratio"`
	// Window is the counting window (default 10s).
	Window Duration `toml:"window"`
	// MinRequests is the least attempts in a window before it may open (default 20).
	MinRequests int `toml:"min_requests"`
	// OpenTime is how long an open breaker refuses before it half-opens (default 30s).
	OpenTime Duration `toml:"open_time"`
	// Probes is how many requests a half-open breaker lets through at once,
	// and how many must succeed to close it; one failure reopens it (default 3).
	Probes int `toml:"probes"`
}

// BalanceConfig is a [backends.balance] table.
type BalanceConfig struct {
	// Policy is "round_robin" (smooth weighted), "least_request" (two random
	// choices, weighted), "maglev" or "ring_hash" (consistent hashing on
	// HashOn), or "random" (weighted) (default "round_robin").
	Policy string `toml:"policy"`
	// HashOn is the key of the hashing policies: "client_ip",
	// "header:NAME", "cookie:NAME" or "path:NAME" (a path parameter of the
	// API); a request without the key is balanced at random (required for
	// maglev and ring_hash).
	HashOn string `toml:"hash_on"`
	// SlowStart ramps a target's share up over this window after it comes
	// back (ejection over, health check passed); 0 is off (default 0).
	SlowStart Duration `toml:"slow_start"`
}

// RetryBudgetConfig is a [backends.retry_budget] table.
type RetryBudgetConfig struct {
	// Percent is how much retries may add to the backend's active requests (default 20).
	Percent int `toml:"percent"`
	// MinConcurrency is the retries always allowed at once (default 3).
	MinConcurrency int `toml:"min_concurrency"`
}

// APIResilienceConfig is embedded in [[groups.apis]].
type APIResilienceConfig struct {
	// Retry sends a failed request again, within the API's timeout (default: no retries).
	Retry *RetryConfig `toml:"retry"`
	// Split spreads the API's traffic over several backends (canaries).
	Split *SplitConfig `toml:"split"`
}

// RetryConfig is a [groups.apis.retry] table. A refused or failed connect
// always moves on to the next target (nothing was sent); Attempts governs
// every other retry.
type RetryConfig struct {
	// Attempts is the most upstream tries per request, the first included
	// (default 1 = no retry, at most 10).
	Attempts int `toml:"attempts"`
	// RetryOn lists what retries: "connect_failure", "reset", "timeout",
	// "status" (an answer with one of Statuses) (default ["connect_failure"]).
	RetryOn []string `toml:"retry_on"`
	// Statuses are the answers "status" retries (default [502, 503, 504]).
	Statuses []int `toml:"statuses"`
	// PerTryTimeout bounds one try; the API's timeout still bounds them all
	// (default 0: each try may use what is left of the API's timeout).
	PerTryTimeout Duration `toml:"per_try_timeout"`
	// BackoffBase is the first wait between tries; each next one doubles,
	// with full jitter (default 25ms).
	BackoffBase Duration `toml:"backoff_base"`
	// BackoffMax caps the wait (default 250ms).
	BackoffMax Duration `toml:"backoff_max"`
	// AnyMethod also retries non-idempotent methods (POST, PATCH) when
	// their body is in memory. Streamed bodies are never retried (default false).
	AnyMethod bool `toml:"any_method"`
}

// SplitConfig is a [groups.apis.split] table: the API's `backend` is the
// default, Backends weigh it against others, and Routes send matching
// requests to a named backend first.
type SplitConfig struct {
	// Backends are the weighted backends, the API's own backend among them.
	Backends []SplitBackendConfig `toml:"backends"`
	// Routes pick a backend by a header, cookie or query value, in order;
	// they win over the weights.
	Routes []SplitRouteConfig `toml:"routes"`
	// HashOn makes the split sticky per client: "client_ip",
	// "header:NAME", "cookie:NAME" or "query:NAME" (default: no stickiness).
	HashOn string `toml:"hash_on"`
}

// SplitBackendConfig is one weighted backend of a split.
type SplitBackendConfig struct {
	Backend string `toml:"backend"`
	// Weight is relative: 95 and 5 send 95 % and 5 %; 0 gets only routed
	// traffic (default 1).
	Weight *int `toml:"weight"`
}

// SplitRouteConfig sends a request with a matching value to Backend.
// Exactly one of Header, Cookie and Query is set.
type SplitRouteConfig struct {
	Header  string `toml:"header"`
	Cookie  string `toml:"cookie"`
	Query   string `toml:"query"`
	Value   string `toml:"value"`
	Backend string `toml:"backend"`
}

// Resilience is a backend's compiled resilience settings. Immutable.
type Resilience struct {
	Check   *HealthCheck // nil: no active checks
	Outlier Outlier
	Limits  TargetLimits
	Breaker *BreakerSpec // nil: no breaker
	Balance Balance
	Budget  RetryBudget
	Split   *Split // set on the backend a split API compiles to
}

// HealthCheck is a compiled health_check table.
type HealthCheck struct {
	TCP            bool
	Path           string
	Host           string
	Interval       time.Duration
	Timeout        time.Duration
	Statuses       []int // empty: 200-399
	Rise, Fall     int
	StartUnhealthy bool
}

// Key identifies the check's settings: a reload that keeps them keeps the
// running checker.
func (h *HealthCheck) Key() string {
	var b strings.Builder
	b.WriteString(strconv.FormatBool(h.TCP) + "|" + h.Path + "|" + h.Host + "|" + h.Interval.String() + "|" +
		h.Timeout.String() + "|" + strconv.Itoa(h.Rise) + "|" + strconv.Itoa(h.Fall) + "|")
	for _, s := range h.Statuses {
		b.WriteString(strconv.Itoa(s) + ",")
	}
	return b.String()
}

// Passes reports whether status passes the check.
func (h *HealthCheck) Passes(status int) bool {
	if len(h.Statuses) == 0 {
		return status >= 200 && status < 400
	}
	for _, s := range h.Statuses {
		if s == status {
			return true
		}
	}
	return false
}

// Outlier is compiled passive health.
type Outlier struct {
	ConsecutiveFailures int // 0: off
	Consecutive5xx      int // 0: off
	BaseEjection        time.Duration
	MaxEjection         time.Duration
	MaxEjectionPercent  int
}

// TargetLimits are compiled per-target limits.
type TargetLimits struct {
	MaxConcurrent int64
	MaxPending    int64
}

// BreakerSpec is a compiled breaker table.
type BreakerSpec struct {
	FailureRatio int // percent
	Window       time.Duration
	MinRequests  int64
	OpenTime     time.Duration
	Probes       int64
}

// BalancePolicy names a balancing policy.
type BalancePolicy uint8

// The balancing policies.
const (
	BalanceRoundRobin BalancePolicy = iota
	BalanceLeastRequest
	BalanceMaglev
	BalanceRingHash
	BalanceRandom
)

// HashSource is where a hashing policy or a sticky split takes its key.
type HashSource uint8

// Hash key sources.
const (
	HashNone HashSource = iota
	HashClientIP
	HashHeader
	HashCookie
	HashPathParam
	HashQuery
)

// HashKey is a compiled hash_on value.
type HashKey struct {
	Source HashSource
	Name   string
	NameB  []byte
}

// Balance is a compiled balance table.
type Balance struct {
	Policy    BalancePolicy
	HashOn    HashKey
	SlowStart time.Duration
}

// RetryBudget is a compiled retry_budget table.
type RetryBudget struct {
	Percent        int64
	MinConcurrency int64
}

// RetryPolicy is an API's compiled retry table. Immutable; the data plane
// reads it per request through Exchange.Retry.
type RetryPolicy struct {
	Attempts      int
	OnConnect     bool
	OnReset       bool
	OnTimeout     bool
	OnStatus      bool
	Statuses      []int
	PerTryTimeout time.Duration
	BackoffBase   time.Duration
	BackoffMax    time.Duration
	AnyMethod     bool
}

// RetriesStatus reports whether status is one the policy retries.
func (p *RetryPolicy) RetriesStatus(status int) bool {
	if !p.OnStatus {
		return false
	}
	for _, s := range p.Statuses {
		if s == status {
			return true
		}
	}
	return false
}

// Split is a compiled canary split: the members are bound backends; the
// split backend's Targets are the members' targets in member order, so an
// Exchange's Target indexes them as for any backend.
type Split struct {
	Members []*Backend
	Weights []int
	Routes  []SplitRoute
	HashOn  HashKey
}

// SplitRoute is a compiled route of a split.
type SplitRoute struct {
	Source HashSource // HashHeader, HashCookie or HashQuery
	Name   []byte
	Value  []byte
	Member int
}

// backendResilience compiles a backend's resilience tables, defaults filled here.
func (c *compiler) backendResilience(key string, b *BackendConfig) *Resilience {
	r := &Resilience{
		Outlier: Outlier{ConsecutiveFailures: DefaultConsecutiveFailures, BaseEjection: DefaultBaseEjectionTime,
			MaxEjection: DefaultMaxEjectionTime, MaxEjectionPercent: DefaultMaxEjectionPercent},
		Limits: TargetLimits{MaxConcurrent: DefaultMaxConcurrent, MaxPending: DefaultMaxPending},
		Budget: RetryBudget{Percent: DefaultRetryBudgetPercent, MinConcurrency: DefaultRetryMinConcurrency},
	}
	if h := b.HealthCheck; h != nil {
		hk := key + ".health_check"
		hc := &HealthCheck{Path: h.Path, Host: h.Host, Interval: h.Interval.D(), Timeout: h.Timeout.D(),
			Statuses: h.Statuses, Rise: h.Rise, Fall: h.Fall, StartUnhealthy: h.StartUnhealthy}
		switch h.Type {
		case "", "http":
		case "tcp":
			hc.TCP = true
		default:
			c.add(hk+".type", "must be \"http\" or \"tcp\", not "+strconv.Quote(h.Type))
		}
		if hc.Path == "" {
			hc.Path = DefaultCheckPath
		}
		if !strings.HasPrefix(hc.Path, "/") || strings.ContainsAny(hc.Path, " \r\n") {
			c.add(hk+".path", "must be a path starting with '/', without spaces")
		}
		if strings.ContainsAny(hc.Host, " \r\n") {
			c.add(hk+".host", "must be a host name without spaces")
		}
		if hc.Interval == 0 {
			hc.Interval = DefaultCheckInterval
		}
		if hc.Timeout == 0 {
			hc.Timeout = min(DefaultCheckTimeout, hc.Interval)
		}
		if hc.Interval < MinCheckInterval {
			c.add(hk+".interval", "must be at least "+MinCheckInterval.String())
		}
		if hc.Timeout > hc.Interval {
			c.add(hk+".timeout", "must not be longer than interval")
		}
		if hc.Rise == 0 {
			hc.Rise = DefaultCheckRise
		}
		if hc.Fall == 0 {
			hc.Fall = DefaultCheckFall
		}
		if hc.Rise < 1 || hc.Rise > 100 || hc.Fall < 1 || hc.Fall > 100 {
			c.add(hk, "rise and fall must be between 1 and 100")
		}
		for i, s := range hc.Statuses {
			if s < 100 || s > 599 {
				c.add(hk+".statuses["+strconv.Itoa(i)+"]", "must be an HTTP status between 100 and 599")
			}
		}
		r.Check = hc
	}
	if o := b.Outlier; o != nil {
		ok := key + ".outlier"
		if o.ConsecutiveFailures != nil {
			r.Outlier.ConsecutiveFailures = *o.ConsecutiveFailures
		}
		r.Outlier.Consecutive5xx = o.Consecutive5xx
		if d := o.BaseEjectionTime.D(); d != 0 {
			r.Outlier.BaseEjection = d
		}
		if d := o.MaxEjectionTime.D(); d != 0 {
			r.Outlier.MaxEjection = d
		}
		if o.MaxEjectionPercent != nil {
			r.Outlier.MaxEjectionPercent = *o.MaxEjectionPercent
		}
		if r.Outlier.ConsecutiveFailures < 0 || r.Outlier.ConsecutiveFailures > 1000 ||
			r.Outlier.Consecutive5xx < 0 || r.Outlier.Consecutive5xx > 1000 {
			c.add(ok, "consecutive_failures and consecutive_5xx must be between 0 and 1000")
		}
		if r.Outlier.BaseEjection < 0 || r.Outlier.MaxEjection < r.Outlier.BaseEjection {
			c.add(ok+".max_ejection_time", "must be at least base_ejection_time")
		}
		if r.Outlier.MaxEjectionPercent < 0 || r.Outlier.MaxEjectionPercent > 100 {
			c.add(ok+".max_ejection_percent", "must be between 0 and 100")
		}
	}
	if l := b.Limits; l != nil {
		if l.MaxConcurrent != 0 {
			r.Limits.MaxConcurrent = int64(l.MaxConcurrent)
		}
		if l.MaxPending != 0 {
			r.Limits.MaxPending = int64(l.MaxPending)
		}
		if r.Limits.MaxConcurrent < 1 || r.Limits.MaxPending < 1 {
			c.add(key+".limits", "max_concurrent and max_pending must be at least 1")
		}
	}
	if br := b.Breaker; br != nil {
		bk := key + ".breaker"
		s := &BreakerSpec{FailureRatio: br.FailureRatio, Window: br.Window.D(), MinRequests: int64(br.MinRequests),
			OpenTime: br.OpenTime.D(), Probes: int64(br.Probes)}
		if s.FailureRatio == 0 {
			s.FailureRatio = DefaultBreakerRatio
		}
		if s.Window == 0 {
			s.Window = DefaultBreakerWindow
		}
		if s.MinRequests == 0 {
			s.MinRequests = DefaultBreakerMinRequests
		}
		if s.OpenTime == 0 {
			s.OpenTime = DefaultBreakerOpenTime
		}
		if s.Probes == 0 {
			s.Probes = DefaultBreakerProbes
		}
		if s.FailureRatio < 1 || s.FailureRatio > 100 {
			c.add(bk+".failure_ratio", "must be a percentage between 1 and 100")
		}
		if s.MinRequests < 1 || s.Probes < 1 || s.Window < 0 || s.OpenTime < 0 {
			c.add(bk, "min_requests and probes must be at least 1, window and open_time positive")
		}
		r.Breaker = s
	}
	if bl := b.Balance; bl != nil {
		bk := key + ".balance"
		switch bl.Policy {
		case "", "round_robin":
		case "least_request":
			r.Balance.Policy = BalanceLeastRequest
		case "maglev":
			r.Balance.Policy = BalanceMaglev
		case "ring_hash":
			r.Balance.Policy = BalanceRingHash
		case "random":
			r.Balance.Policy = BalanceRandom
		default:
			c.add(bk+".policy", "must be round_robin, least_request, maglev, ring_hash or random, not "+strconv.Quote(bl.Policy))
		}
		hashing := r.Balance.Policy == BalanceMaglev || r.Balance.Policy == BalanceRingHash
		if bl.HashOn != "" || hashing {
			hk, msg := parseHashKey(bl.HashOn, true, false)
			if msg != "" {
				c.add(bk+".hash_on", msg)
			} else if !hashing {
				c.add(bk+".hash_on", "only maglev and ring_hash use hash_on")
			}
			r.Balance.HashOn = hk
		}
		r.Balance.SlowStart = bl.SlowStart.D()
		if r.Balance.SlowStart < 0 || r.Balance.SlowStart > 30*time.Minute {
			c.add(bk+".slow_start", "must be between 0 and 30m")
		}
	}
	if rb := b.RetryBudget; rb != nil {
		if rb.Percent != 0 {
			r.Budget.Percent = int64(rb.Percent)
		}
		if rb.MinConcurrency != 0 {
			r.Budget.MinConcurrency = int64(rb.MinConcurrency)
		}
		if r.Budget.Percent < 0 || r.Budget.Percent > 100 || r.Budget.MinConcurrency < 0 {
			c.add(key+".retry_budget", "percent must be between 0 and 100, min_concurrency at least 0")
		}
	}
	return r
}

// parseHashKey reads "client_ip", "header:NAME", "cookie:NAME",
// "path:NAME" (balancers) or "query:NAME" (splits).
func parseHashKey(s string, pathOK, queryOK bool) (HashKey, string) {
	kind, name, _ := strings.Cut(s, ":")
	var k HashKey
	switch kind {
	case "client_ip":
		if name != "" {
			return k, "client_ip takes no name"
		}
		k.Source = HashClientIP
		return k, ""
	case "header":
		k.Source = HashHeader
	case "cookie":
		k.Source = HashCookie
	case "path":
		if !pathOK {
			return k, "path parameters are not a split key"
		}
		k.Source = HashPathParam
	case "query":
		if !queryOK {
			return k, "query values are not a balancing key"
		}
		k.Source = HashQuery
	default:
		return k, "want client_ip, header:NAME, cookie:NAME or " + map[bool]string{true: "path:NAME", false: "query:NAME"}[pathOK] + ", not " + strconv.Quote(s)
	}
	if !headerNameRE.MatchString(name) {
		return k, "invalid name in " + strconv.Quote(s)
	}
	k.Name, k.NameB = name, []byte(name)
	return k, ""
}

// retryPolicy compiles an API's retry table; nil when retries are off.
func (c *compiler) retryPolicy(key string, r *RetryConfig) *RetryPolicy {
	if r == nil {
		return nil
	}
	p := &RetryPolicy{Attempts: r.Attempts, Statuses: r.Statuses, PerTryTimeout: r.PerTryTimeout.D(),
		BackoffBase: r.BackoffBase.D(), BackoffMax: r.BackoffMax.D(), AnyMethod: r.AnyMethod}
	if p.Attempts == 0 {
		p.Attempts = 1
	}
	if p.Attempts < 1 || p.Attempts > MaxRetryAttempts {
		c.addOnce(key+".attempts", "must be between 1 and "+strconv.Itoa(MaxRetryAttempts))
	}
	on := r.RetryOn
	if on == nil {
		on = []string{"connect_failure"}
	}
	for i, o := range on {
		switch o {
		case "connect_failure":
			p.OnConnect = true
		case "reset":
			p.OnReset = true
		case "timeout":
			p.OnTimeout = true
		case "status":
			p.OnStatus = true
		default:
			c.addOnce(key+".retry_on["+strconv.Itoa(i)+"]", "must be connect_failure, reset, timeout or status, not "+strconv.Quote(o))
		}
	}
	if len(p.Statuses) == 0 {
		p.Statuses = []int{502, 503, 504}
	}
	for i, s := range p.Statuses {
		if s < 500 || s > 599 {
			c.addOnce(key+".statuses["+strconv.Itoa(i)+"]", "must be a 5xx status")
		}
	}
	if p.BackoffBase == 0 {
		p.BackoffBase = DefaultRetryBackoffBase
	}
	if p.BackoffMax == 0 {
		p.BackoffMax = max(DefaultRetryBackoffMax, p.BackoffBase)
	}
	if p.BackoffBase < 0 || p.BackoffMax < p.BackoffBase || p.BackoffMax > 10*time.Second {
		c.addOnce(key+".backoff_max", "must be at least backoff_base and at most 10s")
	}
	if p.PerTryTimeout < 0 || p.PerTryTimeout > MaxAPITimeout {
		c.addOnce(key+".per_try_timeout", "must be between 0 and 30s")
	}
	return p
}

// split compiles an API's split into a backend of its own whose targets are
// the members' targets; the data plane binds it over the members' chains.
func (c *compiler) split(key string, s *SplitConfig, primary string, vars map[string]string, backends map[string]*Backend) *Backend {
	key += ".split"
	sp := &Split{}
	index := map[string]int{}
	for i, m := range s.Backends {
		name, missing := substituteVars(m.Backend, vars)
		mk := key + ".backends[" + strconv.Itoa(i) + "]"
		b, ok := backends[name]
		switch {
		case len(missing) > 0:
			c.addOnce(mk+".backend", "stage variable "+quoteList(missing)+" is not defined")
			continue
		case !ok:
			c.addOnce(mk+".backend", "unknown backend "+strconv.Quote(name))
			continue
		case b.Resilience != nil && b.Resilience.Split != nil:
			c.addOnce(mk+".backend", "a split cannot contain a split")
			continue
		}
		if _, dup := index[name]; dup {
			c.addOnce(mk+".backend", "backend "+strconv.Quote(name)+" is listed twice")
			continue
		}
		w := 1
		if m.Weight != nil {
			w = *m.Weight
		}
		if w < 0 || w > 10000 {
			c.addOnce(mk+".weight", "must be between 0 and 10000")
			continue
		}
		index[name] = len(sp.Members)
		sp.Members = append(sp.Members, b)
		sp.Weights = append(sp.Weights, w)
	}
	if _, ok := index[primary]; !ok && len(sp.Members) > 0 {
		c.addOnce(key+".backends", "the API's backend "+strconv.Quote(primary)+" must be one of the split's backends")
	}
	if len(sp.Members) == 0 {
		c.addOnce(key+".backends", "a split needs at least one backend")
		return nil
	}
	for i, r := range s.Routes {
		rk := key + ".routes[" + strconv.Itoa(i) + "]"
		var sr SplitRoute
		n := 0
		if r.Header != "" {
			sr.Source, sr.Name, n = HashHeader, []byte(r.Header), n+1
		}
		if r.Cookie != "" {
			sr.Source, sr.Name, n = HashCookie, []byte(r.Cookie), n+1
		}
		if r.Query != "" {
			sr.Source, sr.Name, n = HashQuery, []byte(r.Query), n+1
		}
		if n != 1 || !headerNameRE.Match(sr.Name) {
			c.addOnce(rk, "set exactly one of header, cookie and query, to a valid name")
			continue
		}
		name, _ := substituteVars(r.Backend, vars)
		mi, ok := index[name]
		if !ok {
			c.addOnce(rk+".backend", "backend "+strconv.Quote(name)+" is not one of the split's backends")
			continue
		}
		sr.Value, sr.Member = []byte(r.Value), mi
		sp.Routes = append(sp.Routes, sr)
	}
	if s.HashOn != "" {
		hk, msg := parseHashKey(s.HashOn, false, true)
		if msg != "" {
			c.addOnce(key+".hash_on", msg)
		}
		sp.HashOn = hk
	}
	total := 0
	for _, w := range sp.Weights {
		total += w
	}
	if total == 0 {
		c.addOnce(key+".backends", "at least one weight must be positive")
		return nil
	}
	sb := &Backend{Name: primary + "+split", Resilience: &Resilience{Split: sp}}
	for _, m := range sp.Members {
		sb.Targets = append(sb.Targets, m.Targets...)
	}
	c.snap.Backends = append(c.snap.Backends, sb)
	return sb
}
