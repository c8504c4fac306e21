package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestPresetBudgets checks the budgets against the plan's upper
// bound with every target available: quick within 2 minutes, full within 10.
func TestPresetBudgets(t *testing.T) {
	all := []string{TargetSluice, "nginx", "haproxy", "caddy", TargetDirect}
	targetsFor := func(sc *Scenario) []string {
		if sc.Peers {
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
		caps := all
		if len(p.CapacityTargets) > 0 {
			caps = p.CapacityTargets
		}
		plan := BuildPlan(p, scs, targetsFor, caps)
		if plan.Total > budget || plan.Total < budget/3 {
			t.Errorf("%s: plan %v, budget %v", name, plan.Total, budget)
		}
		var out bytes.Buffer
		plan.Print(&out)
		if !strings.Contains(out.String(), "capacity anon-1k") || strings.Count(out.String(), "\n") != len(scs)+2 {
			t.Errorf("%s plan:\n%s", name, out.String())
		}
		t.Logf("%s: %v", name, plan.Total)
	}
}
