package proxy

import (
	"time"

	"github.com/sluicegw/sluice/policy"
	"github.com/valyala/fasthttp"
)

// UpstreamBackend is one backend in GET /admin/upstreams.
type UpstreamBackend struct {
	Backend  string           `json:"backend"`
	Policy   string           `json:"policy,omitempty"`
	Split    []string         `json:"split,omitempty"` // member backends of a canary split
	Active   int64            `json:"active_requests"`
	Retrying int64            `json:"retrying_requests"`
	Targets  []UpstreamTarget `json:"targets"`
}

// UpstreamTarget is one target's state: shared by every backend that
// names the address (the registry is keyed by address).
type UpstreamTarget struct {
	URL                 string    `json:"url"`
	Address             string    `json:"address"`
	Weight              int       `json:"weight"`
	State               string    `json:"state"` // "healthy", "ejected", "down" (active checks)
	Healthy             bool      `json:"healthy"`
	Ejected             bool      `json:"ejected"`
	EjectedUntil        time.Time `json:"ejected_until,omitzero"`
	Ejections           int64     `json:"ejections_in_a_row"`
	Breaker             string    `json:"breaker"`
	Active              int64     `json:"active_requests"`
	Pending             int64     `json:"pending_requests"`
	ConsecutiveFailures int64     `json:"consecutive_failures"`
	Consecutive5xx      int64     `json:"consecutive_5xx"`
	ChecksPassed        uint64    `json:"checks_passed"`
	ChecksFailed        uint64    `json:"checks_failed"`
	Attempts            uint64    `json:"attempts"`
	Failures            uint64    `json:"failures"`
}

var policyNames = map[policy.BalancePolicy]string{
	policy.BalanceRoundRobin: "round_robin", policy.BalanceLeastRequest: "least_request",
	policy.BalanceMaglev: "maglev", policy.BalanceRingHash: "ring_hash", policy.BalanceRandom: "random",
}

// Upstreams lists every backend of the serving snapshot with its targets'
// state (GET /admin/upstreams).
func (s *Server) Upstreams() []UpstreamBackend {
	snap := s.Snapshot()
	out := []UpstreamBackend{}
	if snap == nil {
		return out
	}
	now := s.ups.now()
	for _, b := range snap.Backends {
		ub := UpstreamBackend{Backend: b.Name, Targets: []UpstreamTarget{}}
		switch up := b.Upstream.(type) {
		case *chain:
			ub.Policy = policyNames[up.res.Balance.Policy]
			ub.Active, ub.Retrying = up.active.Load(), up.retrying.Load()
			for i, t := range up.targets {
				ub.Targets = append(ub.Targets, targetState(b.Targets[i], t, now))
			}
		case *splitUpstream:
			for _, m := range up.spec.Members {
				ub.Split = append(ub.Split, m.Name)
			}
		default:
			continue // mocks have no targets
		}
		out = append(out, ub)
	}
	return out
}

func targetState(spec policy.TargetSpec, t *target, now int64) UpstreamTarget {
	u := t.ejectedUntil.Load()
	ejected := u != 0 && u > now
	st := UpstreamTarget{URL: spec.URL, Address: t.addr, Weight: spec.Weight, Healthy: !t.down.Load(),
		Ejected: ejected, Ejections: t.ejections.Load(), Breaker: breakerStateName(t.br.state.Load()),
		Active: t.inflight.Load(), Pending: t.pending.Load(),
		ConsecutiveFailures: t.consecutiveFailures.Load(), Consecutive5xx: t.consecutive5xx.Load(),
		ChecksPassed: t.m.checksOK.Get(), ChecksFailed: t.m.checksFail.Get(),
		Attempts: t.m.attempts.Get(), Failures: t.m.failures.Get()}
	switch {
	case !st.Healthy:
		st.State = "down"
	case ejected:
		st.State = "ejected"
		st.EjectedUntil = time.Now().Add(time.Duration(u - now)).UTC()
	default:
		st.State = "healthy"
	}
	return st
}

func (a *Admin) upstreams(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, fasthttp.StatusOK, a.s.Upstreams())
}
