package bench

import "fmt"

// Goal statuses.
const (
	GoalMet         = "met"
	GoalMissed      = "missed"
	GoalNotMeasured = "not measured"
)

// Goal is one target figure from BENCHMARKS.md: a ratio that must not
// exceed Limit.
type Goal struct {
	// ID is stable across runs ("cpu-anon-1k").
	ID string `json:"id"`
	// What names the ratio ("CPU per request, anon-1k: Sluice / nginx").
	What string `json:"what"`
	// Scenario is the gateway scenario profiled when the goal is missed.
	Scenario string `json:"scenario"`
	// Measured gives the two figures the ratio is made of.
	Measured string `json:"measured,omitempty"`
	// Ratio is the median of per-repetition ratios (0: not measured).
	Ratio float64 `json:"ratio,omitempty"`
	// Limit is the goal: Ratio <= Limit.
	Limit float64 `json:"limit"`
	// Status is met, missed or not measured.
	Status string `json:"status"`
	// Reason says why a goal was not measured.
	Reason string `json:"reason,omitempty"`
	// Profile is the gateway's CPU profile of Scenario, for missed goals.
	Profile *ProfileTop `json:"profile,omitempty"`
}

// goalSpec says where in the results a goal's ratio is found.
type goalSpec struct {
	id, what, scenario string
	limit              float64
	// ratio extracts the ratio and its figures, or a reason it cannot.
	ratio func(res *Results) (ratio float64, measured, reason string)
}

// goalSpecs are the goals, in report order.
var goalSpecs = []goalSpec{
	{"cpu-anon-1k", "CPU per request, anon-1k: Sluice / nginx", "anon-1k", 1.0, cpuVs("anon-1k", TargetSluice, "nginx")},
	{"cpu-full-chain", "CPU per request, full-chain: Sluice / nginx", "full-chain", 1.0, cpuVs("full-chain", TargetSluice, "nginx")},
	{"p99-half-rate", "p99 at half of nginx's sustainable rate (anon-1k, open loop): Sluice / nginx", "anon-1k", 1.0, halfRateP99},
	{"cpu-half-rate", "CPU per request at half of nginx's sustainable rate (anon-1k, open loop): Sluice / nginx", "anon-1k", 1.3, halfRateCPU},
	{"cpu-access-log", "CPU per request, access log to a file on / off (anon-1k-log / anon-1k)", "anon-1k-log", 1.05,
		cpuVs("anon-1k-log", TargetSluice, "sluice-anon-1k")},
	{"p99-sink-down", "p99, access-log sink down / logging off (log-sink-down / anon-1k)", "log-sink-down", 1.10,
		p99Vs("log-sink-down", TargetSluice, "sluice-anon-1k")},
	// Issue 16: what the gateway adds over a plain fasthttp proxy (floor.go).
	{"cpu-over-floor-anon-1k", "CPU per request over the fasthttp floor, anon-1k: Sluice / floor (overhead <= 5 %)", "anon-1k", 1.05,
		cpuOverFloor("anon-1k", TargetSluice)},
}

// GoalScenarios are the scenarios a missed goal may profile.
func GoalScenarios() []string {
	var out []string
	seen := map[string]bool{}
	for _, g := range goalSpecs {
		if !seen[g.scenario] {
			seen[g.scenario] = true
			out = append(out, g.scenario)
		}
	}
	return out
}

// ComputeGoals evaluates every goal against res.
func ComputeGoals(res *Results) []Goal {
	goals := make([]Goal, 0, len(goalSpecs))
	for _, gs := range goalSpecs {
		g := Goal{ID: gs.id, What: gs.what, Scenario: gs.scenario, Limit: gs.limit}
		ratio, measured, reason := gs.ratio(res)
		switch {
		case reason != "" || ratio <= 0:
			g.Status, g.Reason = GoalNotMeasured, reason
		case ratio <= gs.limit:
			g.Status, g.Ratio, g.Measured = GoalMet, ratio, measured
		default:
			g.Status, g.Ratio, g.Measured = GoalMissed, ratio, measured
		}
		goals = append(goals, g)
	}
	return goals
}

// pairOf finds target and reference in a scenario's results and checks
// that the ratios were taken against that reference.
func pairOf(res *Results, scenario, target, ref string) (t, r *TargetResult, reason string) {
	var sr *ScenarioResult
	for i := range res.Scenarios {
		if res.Scenarios[i].Scenario.Name == scenario {
			sr = &res.Scenarios[i]
		}
	}
	if sr == nil {
		return nil, nil, "scenario " + scenario + " not in this run"
	}
	return pairIn(sr.Targets, target, ref)
}

func pairIn(targets []TargetResult, target, ref string) (t, r *TargetResult, reason string) {
	for i := range targets {
		switch targets[i].Target {
		case target:
			t = &targets[i]
		case ref:
			r = &targets[i]
		}
	}
	for _, x := range []struct {
		name string
		tr   *TargetResult
	}{{target, t}, {ref, r}} {
		switch {
		case x.tr == nil:
			return nil, nil, x.name + " did not run"
		case x.tr.Skipped != "":
			return nil, nil, x.name + " skipped: " + oneLine(x.tr.Skipped)
		case allFailed(x.tr.Runs):
			return nil, nil, x.name + " failed every repetition"
		}
	}
	if t.VsReference == nil || t.VsReference.Reference != ref {
		return nil, nil, "no repetition of " + target + " paired with one of " + ref
	}
	return t, r, ""
}

func cpuVs(scenario, target, ref string) func(*Results) (float64, string, string) {
	return func(res *Results) (float64, string, string) {
		t, r, reason := pairOf(res, scenario, target, ref)
		if reason != "" {
			return 0, "", reason
		}
		if t.VsReference.CPUPerRequestUS <= 0 {
			return 0, "", "no CPU figures"
		}
		return t.VsReference.CPUPerRequestUS, fmt.Sprintf("%s %s vs %s %s µs/req", target, fmtCPU(t.Median.CPUPerRequestUS),
			ref, fmtCPU(r.Median.CPUPerRequestUS)), ""
	}
}

func p99Vs(scenario, target, ref string) func(*Results) (float64, string, string) {
	return func(res *Results) (float64, string, string) {
		t, r, reason := pairOf(res, scenario, target, ref)
		if reason != "" {
			return 0, "", reason
		}
		return t.VsReference.P99, fmt.Sprintf("%s p99 %s vs %s %s", target, fmtDur(t.Median.P99), ref, fmtDur(r.Median.P99)), ""
	}
}

func halfRateP99(res *Results) (float64, string, string) {
	h, t, r, reason := halfRatePair(res)
	if reason != "" {
		return 0, "", reason
	}
	of := fmtRate(h.ReferenceSustainable)
	if h.AtMaxRate {
		of = ">= " + of
	}
	return t.VsReference.P99, fmt.Sprintf("at %s req/s (half of nginx's %s): sluice p99 %s vs nginx %s",
		fmtRate(h.Rate), of, fmtDur(t.Median.P99), fmtDur(r.Median.P99)), ""
}

// halfRatePair returns the half-rate run and its Sluice and nginx results,
// or why the half-rate goals cannot be read.
func halfRatePair(res *Results) (*HalfRateResult, *TargetResult, *TargetResult, string) {
	h := res.HalfRate
	switch {
	case h == nil:
		return nil, nil, nil, "no capacity search with nginx in this run"
	case h.Skipped != "":
		return nil, nil, nil, oneLine(h.Skipped)
	}
	t, r, reason := pairIn(h.Targets, TargetSluice, HalfRateReference)
	return h, t, r, reason
}

// missedScenarios lists, once each and in goal order, the scenarios of
// missed goals.
func missedScenarios(goals []Goal) []string {
	var out []string
	seen := map[string]bool{}
	for _, g := range goals {
		if g.Status == GoalMissed && !seen[g.Scenario] {
			seen[g.Scenario] = true
			out = append(out, g.Scenario)
		}
	}
	return out
}

// halfRateCPU is issue 16's light-load CPU goal: CPU per request at half of
// nginx's sustainable rate, open loop, Sluice / nginx (<= 1.3).
func halfRateCPU(res *Results) (float64, string, string) {
	h, t, r, reason := halfRatePair(res)
	if reason != "" {
		return 0, "", reason
	}
	if t.VsReference.CPUPerRequestUS <= 0 {
		return 0, "", "no CPU figures"
	}
	return t.VsReference.CPUPerRequestUS, fmt.Sprintf("at %s req/s: sluice %s vs nginx %s µs/req",
		fmtRate(h.Rate), fmtCPU(t.Median.CPUPerRequestUS), fmtCPU(r.Median.CPUPerRequestUS)), ""
}
