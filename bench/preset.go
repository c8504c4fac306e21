package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Preset is a named run plan: scenarios, durations, repetitions and the
// capacity search. Budgets: "quick" fits 2 minutes and "full" 10 minutes on
// a 2-core machine with every peer installed (the plan printed before a run
// gives the upper bound).
type Preset struct {
	Name string `json:"name"`
	// Scenarios are run in this order.
	Scenarios []string `json:"scenarios"`
	// Warmup and Duration are the unrecorded and measured parts of each run.
	Warmup   time.Duration `json:"warmup_ns"`
	Duration time.Duration `json:"duration_ns"`
	// Reps is how many times each target runs each scenario, interleaved
	// (A B C A B C ...), so slow drift hits every target alike.
	Reps int `json:"reps"`
	// Connections is the closed-loop concurrency.
	Connections int `json:"connections"`
	// Capacity is the capacity search, with its targets; Capacity.Scenario
	// empty means no search.
	Capacity CapacitySpec `json:"capacity"`
	// CapacityTargets limits the search to these targets (nil: all).
	CapacityTargets []string `json:"capacity_targets,omitempty"`
}

// Presets are the run plans by name.
var Presets = map[string]Preset{
	"quick": {
		Name:      "quick",
		Scenarios: []string{"anon-1k", "post-16k", "full-chain", "apis-10k"},
		Warmup:    500 * time.Millisecond, Duration: 1500 * time.Millisecond, Reps: 2, Connections: 64,
		Capacity: CapacitySpec{
			Scenario: "anon-1k", StartRate: 5000, Growth: 2, MaxRate: 160000,
			StepWarmup: 250 * time.Millisecond, StepDuration: time.Second, BisectSteps: 3, Connections: 256,
		},
		CapacityTargets: []string{"sluice", "nginx"},
	},
	"full": {
		Name: "full",
		Scenarios: []string{"anon-1k", "anon-16k", "anon-256k", "post-16k", "full-chain", "hmac", "jwt",
			"apis-10k", "idle-10k", "cache-hit"},
		Warmup: 500 * time.Millisecond, Duration: 2 * time.Second, Reps: 3, Connections: 64,
		Capacity: CapacitySpec{
			Scenario: "anon-1k", StartRate: 4000, Growth: 1.6, MaxRate: 150000,
			StepWarmup: 500 * time.Millisecond, StepDuration: 1500 * time.Millisecond, BisectSteps: 4, Connections: 256,
		},
	},
}

// PresetNames returns the preset names, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(Presets))
	for n := range Presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Per-target fixed costs the plan charges on top of load time.
const (
	planStartStop   = time.Second     // start, readiness, stop of one target
	planIdleSetup   = 4 * time.Second // opening and closing 10 000 connections
	planStepOverlap = 300 * time.Millisecond
)

// PlanLine is one line of the printed plan.
type PlanLine struct {
	What     string        `json:"what"`
	Targets  []string      `json:"targets"`
	Estimate time.Duration `json:"estimate_ns"`
}

// RunPlan is what a run will do and its time upper bound.
type RunPlan struct {
	Preset string        `json:"preset"`
	Lines  []PlanLine    `json:"lines"`
	Total  time.Duration `json:"total_ns"`
}

// BuildPlan estimates the run of preset p given the targets each scenario
// will use (targetsFor) and the capacity targets.
func BuildPlan(p Preset, scenarios []*Scenario, targetsFor func(*Scenario) []string, capTargets []string) RunPlan {
	plan := RunPlan{Preset: p.Name}
	for _, sc := range scenarios {
		ts := targetsFor(sc)
		reps := p.Reps
		if sc.Reps > 0 {
			reps = min(sc.Reps, p.Reps)
		}
		per := p.Warmup + p.Duration
		if sc.IdleConns > 0 {
			per += planIdleSetup
		}
		est := time.Duration(len(ts)) * (planStartStop + time.Duration(reps)*per)
		plan.Lines = append(plan.Lines, PlanLine{
			What:     fmt.Sprintf("%s: %d reps x (%v warmup + %v)", sc.Name, reps, p.Warmup, p.Duration),
			Targets:  ts,
			Estimate: est,
		})
		plan.Total += est
	}
	if p.Capacity.Scenario != "" && len(capTargets) > 0 {
		c := p.Capacity
		step := c.StepWarmup + c.StepDuration + planStepOverlap
		est := time.Duration(len(capTargets)) * (planStartStop + time.Duration(c.maxSteps())*step)
		plan.Lines = append(plan.Lines, PlanLine{
			What: fmt.Sprintf("capacity %s: <= %d steps x %v from %.0f rps (x%.2g, max %.0f), %d bisections",
				c.Scenario, c.maxSteps(), c.StepWarmup+c.StepDuration, c.StartRate, c.Growth, c.MaxRate, c.BisectSteps),
			Targets:  capTargets,
			Estimate: est,
		})
		plan.Total += est
	}
	return plan
}

// Print writes the plan, one line per scenario.
func (rp RunPlan) Print(w io.Writer) {
	fmt.Fprintf(w, "plan (preset %s), upper bound %v:\n", rp.Preset, rp.Total.Round(time.Second))
	for _, l := range rp.Lines {
		ts := strings.Join(l.Targets, ", ")
		if ts == "" {
			ts = "(no target available)"
		}
		fmt.Fprintf(w, "  %-70s %6v  [%s]\n", l.What, l.Estimate.Round(time.Second), ts)
	}
}
