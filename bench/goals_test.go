package bench

import (
	"strings"
	"testing"
	"time"
)

// goalResults extends sampleResults with the scenarios and the half-rate
// run every goal reads.
func goalResults() *Results {
	res := sampleResults()
	mk := func(cpu float64, p99 time.Duration) []RunFigures {
		return []RunFigures{
			{Rep: 1, Figures: Figures{Throughput: 1000, P99: p99, CPUPerRequestUS: cpu}},
			{Rep: 2, Figures: Figures{Throughput: 1000, P99: p99, CPUPerRequestUS: cpu}},
		}
	}
	pair := func(name, target, ref string, t, r []RunFigures) ScenarioResult {
		sc, err := ScenarioByName(name)
		if err != nil {
			panic(err)
		}
		return ScenarioResult{Scenario: *sc, Reference: ref, Targets: []TargetResult{
			{Target: target, Runs: t, Median: medianFigures(t), VsReference: pairRatios(t, r, ref)},
			{Target: ref, Runs: r, Median: medianFigures(r)},
		}}
	}
	base := mk(20, 2*time.Millisecond)
	res.Scenarios = append(res.Scenarios[:1], // anon-1k: CPU 1.26 x nginx, missed
		pair("full-chain", TargetSluice, "nginx", mk(18, time.Millisecond), mk(20, time.Millisecond)), // 0.9, met
		pair("anon-1k-log", TargetSluice, "sluice-anon-1k", mk(21, 2*time.Millisecond), base),         // 1.05, met (equal)
		pair("log-sink-down", TargetSluice, "sluice-anon-1k", mk(20, 2300*time.Microsecond), base),    // 1.15, missed
	)
	h := mk(10, 3*time.Millisecond)
	n := mk(8, 2*time.Millisecond)
	res.HalfRate = &HalfRateResult{Scenario: "anon-1k", ReferenceSustainable: 50000, Rate: 25000, Targets: []TargetResult{
		{Target: TargetSluice, Runs: h, Median: medianFigures(h), VsReference: pairRatios(h, n, "nginx")},
		{Target: "nginx", Runs: n, Median: medianFigures(n)},
	}}
	return res
}

func TestComputeGoals(t *testing.T) {
	goals := ComputeGoals(goalResults())
	want := map[string]struct {
		status string
		ratio  float64
		in     string
	}{
		"cpu-anon-1k":    {GoalMissed, 1.26, "sluice 19.50 vs nginx 15.50 µs/req"},
		"cpu-full-chain": {GoalMet, 0.9, "sluice 18.00 vs nginx 20.00 µs/req"},
		"p99-half-rate":  {GoalMissed, 1.5, "at 25 000 req/s (half of nginx's 50 000): sluice p99 3.00 ms vs nginx 2.00 ms"},
		"cpu-half-rate":  {GoalMet, 1.25, "at 25 000 req/s: sluice 10.00 vs nginx 8.00 µs/req"},
		"cpu-access-log": {GoalMet, 1.05, "sluice 21.00 vs sluice-anon-1k 20.00 µs/req"},
		"p99-sink-down":  {GoalMissed, 1.15, "sluice p99 2.30 ms vs sluice-anon-1k 2.00 ms"},
		// No floor in these figures; floor_test.go computes it from some.
		"cpu-over-floor-anon-1k": {GoalNotMeasured, 0, ""},
	}
	if len(goals) != len(want) {
		t.Fatalf("%d goals", len(goals))
	}
	for _, g := range goals {
		w := want[g.ID]
		if g.Status != w.status || (g.Ratio-w.ratio) > 0.005 || (w.ratio-g.Ratio) > 0.005 || g.Measured != w.in {
			t.Errorf("%s: %+v, want %+v", g.ID, g, w)
		}
	}
	if got := missedScenarios(goals); strings.Join(got, ",") != "anon-1k,log-sink-down" {
		t.Errorf("missed scenarios %v: anon-1k once, for two goals", got)
	}
	if got := GoalScenarios(); strings.Join(got, ",") != "anon-1k,full-chain,anon-1k-log,log-sink-down" {
		t.Errorf("goal scenarios %v", got)
	}
}

func TestComputeGoalsNotMeasured(t *testing.T) {
	res := goalResults()
	res.Scenarios = res.Scenarios[:2]
	res.Scenarios[0].Targets[1] = TargetResult{Target: "nginx", Skipped: "nginx not installed"}
	res.Scenarios[1].Targets[0].Runs = []RunFigures{{Rep: 1, Failed: "boom"}}
	res.HalfRate = &HalfRateResult{Skipped: "the capacity search found no sustainable rate for nginx"}
	reasons := map[string]string{}
	for _, g := range ComputeGoals(res) {
		if g.Status != GoalNotMeasured || g.Ratio != 0 {
			t.Errorf("%s: %+v", g.ID, g)
		}
		reasons[g.ID] = g.Reason
	}
	for id, want := range map[string]string{
		"cpu-anon-1k":    "nginx skipped: nginx not installed",
		"cpu-full-chain": "sluice failed every repetition",
		"p99-half-rate":  "the capacity search found no sustainable rate for nginx",
		"cpu-half-rate":  "the capacity search found no sustainable rate for nginx",
		"cpu-access-log": "scenario anon-1k-log not in this run",
		"p99-sink-down":  "scenario log-sink-down not in this run",
	} {
		if reasons[id] != want {
			t.Errorf("%s: reason %q, want %q", id, reasons[id], want)
		}
	}
	res.HalfRate = nil
	if g := ComputeGoals(res)[2]; g.Reason != "no capacity search with nginx in this run" {
		t.Errorf("no half-rate run: %q", g.Reason)
	}
	// A ratio against another reference is not the goal's ratio.
	res = goalResults()
	res.Scenarios[0].Targets[0].VsReference.Reference = "direct"
	if g := ComputeGoals(res)[0]; g.Status != GoalNotMeasured || !strings.Contains(g.Reason, "paired") {
		t.Errorf("wrong reference: %+v", g)
	}
}
