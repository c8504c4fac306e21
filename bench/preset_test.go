package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestPresetBudgets checks the budgets against the plan's upper
// bound with every target available: quick within 2 minutes, full within 10,
// each with 10% to spare for what the plan does not charge (chart drawing,
// reading /proc, a slow start of the 10 000-API gateway).
func TestPresetBudgets(t *testing.T) {
	all := []string{TargetSluice, TargetFloor, "nginx", "haproxy", "caddy", TargetDirect}
	// The runner's rules: nothing runs a scenario the gateway lacks features
	// for (when no peer can either), baseline scenarios run two gateways,
	// the floor runs with the peers but not where the cache answers.
	r := &runner{}
	targetsFor := func(sc *Scenario) []string {
		switch {
		case len(MissingFeatures(sc.Features)) > 0:
			return nil
		case sc.Peers && r.floorReason(sc) != "":
			return withoutTarget(all, TargetFloor)
		case sc.Baseline != "":
			return []string{TargetSluice, BaselineTarget(sc)}
		case sc.Peers && sc.IdleConns > 0:
			return all[:len(all)-1] // no direct
		case sc.Peers:
			return all
		}
		return []string{TargetSluice, TargetDirect}
	}
	budgets := map[string]time.Duration{"quick": 2 * time.Minute, "full": 10 * time.Minute}
	for name, budget := range budgets {
		p := Presets[name]
		var scs []*Scenario
		for _, n := range p.Scenarios {
			sc, err := ScenarioByName(n)
			if err != nil {
				t.Fatal(err)
			}
			scs = append(scs, sc)
		}
		caps := withoutTarget(all, TargetFloor) // only when named
		if len(p.CapacityTargets) > 0 {
			caps = p.CapacityTargets
		}
		plan := BuildPlan(p, scs, targetsFor, caps)
		if plan.Total > budget*9/10 || plan.Total < budget/3 {
			t.Errorf("%s: plan %v, budget %v", name, plan.Total, budget)
		}
		var out bytes.Buffer
		plan.Print(&out)
		if !containsAll(out.String(), "capacity anon-1k", "p99 at half of nginx", "CPU profiles where a goal is missed") ||
			strings.Count(out.String(), "\n") != len(scs)+4 {
			t.Errorf("%s plan:\n%s", name, out.String())
		}
		t.Logf("%s: %v", name, plan.Total)
	}
}

func TestScenarioReps(t *testing.T) {
	p := Preset{Reps: 3}
	for _, c := range []struct {
		sc   Scenario
		want int
	}{
		{Scenario{}, 3},
		{Scenario{Reps: 1}, 1},
		{Scenario{Reps: 5}, 3},
		{Scenario{MinReps: 16}, 16},
		{Scenario{Reps: 1, MinReps: 2}, 2},
	} {
		if got := scenarioReps(p, &c.sc); got != c.want {
			t.Errorf("reps %d min %d: got %d, want %d", c.sc.Reps, c.sc.MinReps, got, c.want)
		}
	}
}
