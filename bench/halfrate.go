package bench

import (
	"context"
	"fmt"
	"math"
	"os"
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
}

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
	out.Targets = r.measure(ctx, sc, live, r.opts.Preset.Reps, HalfRateReference, func(cfg *LoadConfig) {
		cfg.Mode = OpenLoop
		cfg.Rate = out.Rate
		cfg.Connections = spec.Connections
		cfg.Timeout = 2 * time.Second
	})
	return out
}
