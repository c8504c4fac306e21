package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"time"
)

// HalfRateReference is the target whose capacity sets the half-rate load.
const HalfRateReference = "nginx"

// HalfRateResult is the open-loop comparison at half the reference's
// sustainable rate: latency where both targets have headroom, the figure a
// capacity plan at 50% utilisation lives with.
type HalfRateResult struct {
	// Scenario is the capacity scenario whose load is offered.
	Scenario string `json:"scenario"`
	// ReferenceSustainable is nginx's sustainable rate from the capacity
	// search; AtMaxRate means the search stopped at its cap, so it is a
	// lower bound.
	ReferenceSustainable float64 `json:"reference_sustainable_rps"`
	AtMaxRate            bool    `json:"at_max_rate,omitempty"`
	// Rate is the offered rate: half of ReferenceSustainable.
	Rate float64 `json:"rate_rps"`
	// Skipped, when set, says why nothing was measured.
	Skipped string `json:"skipped,omitempty"`
	// Targets are sluice and nginx, reference nginx, interleaved reps.
	Targets []TargetResult `json:"targets,omitempty"`
	// Divisor is the fraction's denominator: Rate = ReferenceSustainable /
	// Divisor (0 in older results: 2).
	Divisor int `json:"divisor,omitempty"`
	// Reps is the number of interleaved repetitions per target.
	Reps int `json:"reps,omitempty"`
	// FifthRate is the same comparison at a fifth of the reference's rate,
	// run on the same two processes right after (issue 16's light load:
	// where the gateway is mostly idle, wake-ups and timers dominate).
	FifthRate *HalfRateResult `json:"fifth_rate,omitempty"`
}

// fifthRateReps is the fifth-rate run's repetitions: half the preset's
// (at least 2), so that the extra light-load run costs the full preset
// about 20 s rather than 40.
func fifthRateReps(reps int) int { return max(2, (reps+1)/2) }

// Target returns the named target's result, or nil.
func (h *HalfRateResult) Target(name string) *TargetResult {
	for i := range h.Targets {
		if h.Targets[i].Target == name {
			return &h.Targets[i]
		}
	}
	return nil
}

// runHalfRate offers half of nginx's sustainable rate, open loop, to the
// gateway and nginx, interleaved for the preset's repetitions.
func (r *runner) runHalfRate(ctx context.Context, capRep *CapacityReport) *HalfRateResult {
	out := &HalfRateResult{}
	if capRep == nil {
		out.Skipped = "no capacity search ran"
		return out
	}
	out.Scenario = capRep.Scenario
	for _, c := range capRep.Results {
		if c.Target == HalfRateReference && c.Skipped == "" {
			out.ReferenceSustainable, out.AtMaxRate = c.Sustainable, c.AtMaxRate
		}
	}
	if out.ReferenceSustainable <= 0 {
		out.Skipped = "the capacity search found no sustainable rate for " + HalfRateReference
		return out
	}
	out.Rate = math.Round(out.ReferenceSustainable / 2)
	sc, err := ScenarioByName(capRep.Scenario)
	if err != nil {
		out.Skipped = err.Error()
		return out
	}
	if reason := r.gatewayReason(sc); reason != "" {
		out.Skipped = reason
		return out
	}
	pe, ok := PeerByName(HalfRateReference)
	if !ok {
		panic("BUG: no peer " + HalfRateReference)
	}
	fmt.Fprintf(r.log, "p99 at half of %s's sustainable rate: %.0f rps open loop, %s\n", HalfRateReference, out.Rate, sc.Name)
	dir, err := os.MkdirTemp("", "sluice-bench-halfrate-")
	if err != nil {
		out.Skipped = err.Error()
		return out
	}
	if !r.opts.KeepTemp {
		defer os.RemoveAll(dir)
	}
	var live []liveTarget
	defer func() { stopAll(live) }()
	gw, err := r.startGateway(ctx, sc, dir, TargetSluice, "")
	if err != nil {
		out.Skipped = err.Error()
		return out
	}
	live = append(live, gw)
	ng, err := r.startPeer(ctx, pe, sc, dir)
	if err != nil {
		out.Skipped = err.Error()
		return out
	}
	live = append(live, ng)
	spec := r.opts.Preset.Capacity
	out.Divisor, out.Reps = 2, r.opts.Preset.Reps
	out.Targets = r.measure(ctx, sc, live, out.Reps, HalfRateReference, func(cfg *LoadConfig) {
		cfg.Mode = OpenLoop
		cfg.Rate = out.Rate
		cfg.Connections = spec.Connections
		cfg.Timeout = 2 * time.Second
	})
	if ctx.Err() == nil {
		out.FifthRate = r.runFifthRate(ctx, sc, live, out)
	}
	return out
}

// runFifthRate offers a fifth of the reference's sustainable rate, open
// loop, to the targets of the half-rate run (still running), measured the
// same way with fifthRateReps repetitions.
func (r *runner) runFifthRate(ctx context.Context, sc *Scenario, live []liveTarget, half *HalfRateResult) *HalfRateResult {
	out := &HalfRateResult{
		Scenario: half.Scenario, ReferenceSustainable: half.ReferenceSustainable, AtMaxRate: half.AtMaxRate,
		Rate: math.Round(half.ReferenceSustainable / 5), Divisor: 5, Reps: fifthRateReps(r.opts.Preset.Reps),
	}
	fmt.Fprintf(r.log, "CPU and p99 at a fifth of %s's sustainable rate: %.0f rps open loop, %s\n", HalfRateReference, out.Rate, sc.Name)
	spec := r.opts.Preset.Capacity
	out.Targets = r.measure(ctx, sc, live, out.Reps, HalfRateReference, func(cfg *LoadConfig) {
		cfg.Mode = OpenLoop
		cfg.Rate = out.Rate
		cfg.Connections = spec.Connections
		cfg.Timeout = 2 * time.Second
	})
	return out
}

// writeFifthRate writes the open-loop run at a fifth of nginx's sustainable
// rate, the way writeHalfRate writes the half-rate run.
func writeFifthRate(b *strings.Builder, h *HalfRateResult, p Preset) {
	if h == nil || h.FifthRate == nil {
		return
	}
	f := h.FifthRate
	b.WriteString("\n### CPU and p99 at a fifth of nginx's sustainable rate\n\n")
	if f.Skipped != "" {
		fmt.Fprintf(b, "**Not measured:** %s.\n", strings.TrimSuffix(oneLine(f.Skipped), "."))
		return
	}
	of := fmtRate(f.ReferenceSustainable)
	if f.AtMaxRate {
		of = "at least " + of
	}
	fmt.Fprintf(b, "Open loop at %s req/s on %s, a fifth of nginx's sustainable rate (%s req/s per core): light load, "+
		"where the gateway is mostly idle and its CPU per request shows the cost of waking up for each one "+
		"(scheduler, timers, netpoll). Same two processes as the half-rate run, right after it; "+
		"%d interleaved repetitions of %v warmup + %v measured; latency from the intended send time; medians shown.\n\n",
		fmtRate(f.Rate), f.Scenario, of, f.Reps, p.Warmup, p.Duration)
	writeScenarioTable(b, ScenarioResult{Reference: HalfRateReference, Targets: f.Targets})
}
