package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Preset is a named run plan: scenarios, durations, repetitions, the
// capacity search and the goal runs. Budgets: "quick" fits 2 minutes and
// "full" 10 minutes on a 2-core machine with every peer installed (the plan
// printed before a run gives the upper bound, assuming every goal is missed
// and profiled; TestPresetBudgets keeps it at most 90% of the budget).
type Preset struct {
	Name string `json:"name"`
	// Scenarios are run in this order.
	Scenarios []string `json:"scenarios"`
	// Warmup and Duration are the unrecorded and measured parts of each run.
	Warmup   time.Duration `json:"warmup_ns"`
	Duration time.Duration `json:"duration_ns"`
	// Reps is how many times each target runs each scenario, interleaved
	// (A B C C B A ...), so slow drift hits every target alike.
	Reps int `json:"reps"`
	// Connections is the closed-loop concurrency.
	Connections int `json:"connections"`
	// Capacity is the capacity search, with its targets; Capacity.Scenario
	// empty means no search.
	Capacity CapacitySpec `json:"capacity"`
	// CapacityTargets limits the search to these targets (nil: all).
	CapacityTargets []string `json:"capacity_targets,omitempty"`
	// HalfRate, after a capacity search that included nginx, offers half
	// of nginx's sustainable rate open loop to sluice and nginx, Reps
	// interleaved runs of Warmup + Duration: the p99 goal.
	HalfRate bool `json:"half_rate,omitempty"`
	// TimeSliced runs every scenario's targets time-sliced (see
	// Scenario.TimeSliced), not one after the other.
	TimeSliced bool `json:"time_sliced,omitempty"`
	// ProfileMissed re-runs the gateway with -cpuprofile (Warmup +
	// Duration, closed loop) on each scenario of a missed goal and reports
	// pprof's top functions.
	ProfileMissed bool `json:"profile_missed,omitempty"`
}

// Presets are the run plans by name.
var Presets = map[string]Preset{
	"quick": {
		Name:      "quick",
		Scenarios: []string{"anon-1k", "post-16k", "full-chain", "apis-10k"},
		Warmup:    300 * time.Millisecond, Duration: time.Second, Reps: 2, Connections: 64,
		Capacity: CapacitySpec{
			Scenario: "anon-1k", StartRate: 5000, Growth: 2, MaxRate: 160000,
			StepWarmup: 250 * time.Millisecond, StepDuration: 800 * time.Millisecond, BisectSteps: 3, Connections: 256,
		},
		CapacityTargets: []string{"sluice", "nginx"},
		HalfRate:        true, ProfileMissed: true, TimeSliced: true,
	},
	"full": {
		Name: "full",
		Scenarios: []string{"anon-1k", "anon-16k", "anon-256k", "post-16k", "full-chain", "hmac", "jwt",
			"apis-10k", "idle-10k", "cache-hit", "anon-1k-log", "log-sink-down"},
		Warmup: 400 * time.Millisecond, Duration: 2 * time.Second, Reps: 7, Connections: 64,
		Capacity: CapacitySpec{
			Scenario: "anon-1k", StartRate: 6000, Growth: 1.7, MaxRate: 100000,
			StepWarmup: 250 * time.Millisecond, StepDuration: 1250 * time.Millisecond, BisectSteps: 3, Connections: 256,
		},
		HalfRate: true, ProfileMissed: true, TimeSliced: true,
	},
}

// timeSliced says whether sc's targets run time-sliced under p (see
// Scenario.TimeSliced); idle-connection scenarios never do, each target
// holds its own 10 000 connections in turn.
func timeSliced(p Preset, sc *Scenario) bool {
	return (p.TimeSliced || sc.TimeSliced) && sc.IdleConns == 0
}

// scenarioReps is how many interleaved repetitions sc gets under p: the
// preset's, capped by sc.Reps, raised to sc.MinReps.
func scenarioReps(p Preset, sc *Scenario) int {
	reps := p.Reps
	if sc.Reps > 0 {
		reps = min(reps, sc.Reps)
	}
	return max(reps, sc.MinReps)
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
	planPprof       = 2 * time.Second // writing the profile at exit and go tool pprof
	planStopGrace   = 5 * time.Second // ProcSpec's default StopGrace
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
		reps := scenarioReps(p, sc)
		per := p.Warmup + p.Duration
		if sc.IdleConns > 0 {
			per += planIdleSetup
		}
		est := time.Duration(len(ts)) * (planStartStop + time.Duration(reps)*per)
		if timeSliced(p, sc) && len(ts) >= 2 {
			est = time.Duration(len(ts))*planStartStop + time.Duration(reps)*per
		}
		if sc.SlowStop > 0 && contains(ts, TargetSluice) {
			// The scenario's gateway is killed after the stop grace.
			est += min(sc.SlowStop, planStopGrace)
		}
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
		// The generator's calibration against the origin runs first: up
		// to twice the search's cap, in steps of half its length.
		cal := c
		cal.MaxRate = min(2*c.MaxRate, maxOpenLoopRate)
		calStep := c.StepWarmup + min(c.StepDuration, max(c.StepDuration/2, 300*time.Millisecond)) + planStepOverlap
		est += time.Duration(cal.maxSteps()) * calStep
		plan.Lines = append(plan.Lines, PlanLine{
			What: fmt.Sprintf("capacity %s: generator calibration, then <= %d steps x %v from %.0f rps (x%.2g, max %.0f), %d bisections",
				c.Scenario, c.maxSteps(), c.StepWarmup+c.StepDuration, c.StartRate, c.Growth, c.MaxRate, c.BisectSteps),
			Targets:  capTargets,
			Estimate: est,
		})
		plan.Total += est
	}
	if p.HalfRate && contains(capTargets, TargetSluice) && contains(capTargets, HalfRateReference) {
		est := 2 * (planStartStop + time.Duration(p.Reps+fifthRateReps(p.Reps))*(p.Warmup+p.Duration))
		plan.Lines = append(plan.Lines, PlanLine{
			What: fmt.Sprintf("p99 at half of %s's sustainable rate: %d reps x (%v + %v), then %d at a fifth, open loop",
				HalfRateReference, p.Reps, p.Warmup, p.Duration, fifthRateReps(p.Reps)),
			Targets:  []string{TargetSluice, HalfRateReference},
			Estimate: est,
		})
		plan.Total += est
	}
	if p.ProfileMissed {
		var names []string
		var est time.Duration
		for _, g := range GoalScenarios() {
			for _, sc := range scenarios {
				if sc.Name == g && contains(targetsFor(sc), TargetSluice) {
					names = append(names, g)
					est += planStartStop + p.Warmup + p.Duration + planPprof + sc.SlowStop
					break
				}
			}
		}
		if len(names) > 0 {
			plan.Lines = append(plan.Lines, PlanLine{
				What:     fmt.Sprintf("CPU profiles where a goal is missed (at most %s)", strings.Join(names, ", ")),
				Targets:  []string{TargetSluice},
				Estimate: est,
			})
			plan.Total += est
		}
	}
	return plan
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
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
