package bench

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"
)

// SLO is the service level a capacity search must hold.
type SLO struct {
	// P99 is the highest acceptable 99th percentile latency (flag -slo-p99, default 10ms).
	P99 time.Duration `json:"p99_ns"`
	// MaxErrorRate is the highest acceptable error fraction (flag -slo-errors
	// 0.1 means 0.1%, stored as 0.001).
	MaxErrorRate float64 `json:"max_error_rate"`
}

func (s SLO) String() string {
	return fmt.Sprintf("p99 <= %v, errors <= %.3g%%", s.P99, s.MaxErrorRate*100)
}

// Met reports whether one open-loop run held the SLO.
func (s SLO) Met(p CapacityPoint) bool {
	return p.Completed > 0 && p.P99 <= s.P99 && p.ErrorRate <= s.MaxErrorRate
}

// CapacitySpec tunes the capacity search.
type CapacitySpec struct {
	// Scenario is the scenario whose load is offered (default anon-1k).
	Scenario string `json:"scenario"`
	// StartRate is the first offered rate in requests per second.
	StartRate float64 `json:"start_rps"`
	// Growth multiplies the rate after each step that meets the SLO (> 1).
	Growth float64 `json:"growth"`
	// MaxRate stops the search; reaching it means "at least MaxRate".
	MaxRate float64 `json:"max_rps"`
	// StepWarmup and StepDuration are the unrecorded and measured parts of
	// each step.
	StepWarmup   time.Duration `json:"step_warmup_ns"`
	StepDuration time.Duration `json:"step_duration_ns"`
	// BisectSteps bound the bisection between the last good and first bad rate.
	BisectSteps int `json:"bisect_steps"`
	// Connections caps requests in flight (open-loop workers).
	Connections int `json:"connections"`
}

// maxSteps returns the most probes a search can make, for time budgets.
func (c CapacitySpec) maxSteps() int {
	if c.Growth <= 1 || c.StartRate <= 0 || c.MaxRate <= c.StartRate {
		return 1 + c.BisectSteps
	}
	return int(math.Ceil(math.Log(c.MaxRate/c.StartRate)/math.Log(c.Growth))) + 1 + c.BisectSteps
}

func (c CapacitySpec) validate() error {
	if !(c.StartRate > 0 && c.Growth > 1 && c.MaxRate >= c.StartRate && c.MaxRate <= maxOpenLoopRate) {
		return fmt.Errorf("bench: capacity rates: start %v, growth %v, max %v", c.StartRate, c.Growth, c.MaxRate)
	}
	if c.StepDuration <= 0 || c.BisectSteps < 0 || c.BisectSteps > 20 {
		return fmt.Errorf("bench: capacity step duration %v, bisect steps %d", c.StepDuration, c.BisectSteps)
	}
	return nil
}

// CapacityPoint is one open-loop step of a capacity search.
type CapacityPoint struct {
	Offered   float64       `json:"offered_rps"`
	Achieved  float64       `json:"achieved_rps"`
	Completed uint64        `json:"completed"`
	P50       time.Duration `json:"p50_ns"`
	P90       time.Duration `json:"p90_ns"`
	P99       time.Duration `json:"p99_ns"`
	P999      time.Duration `json:"p999_ns"`
	ErrorRate float64       `json:"error_rate"`
	// CPUPerRequestUS is the target's CPU time per request in µs (0: n/a).
	CPUPerRequestUS float64 `json:"cpu_us_per_request,omitempty"`
	Met             bool    `json:"met"`
}

// CapacityResult is the outcome of a capacity search on one target.
type CapacityResult struct {
	Target string `json:"target"`
	// Skipped, when set, is why the target was not measured.
	Skipped string `json:"skipped,omitempty"`
	// Points are all probes, ascending by offered rate.
	Points []CapacityPoint `json:"points,omitempty"`
	// Sustainable is the highest offered rate that met the SLO, on one core.
	Sustainable float64 `json:"sustainable_rps"`
	// Knee is the highest offered rate before p99 doubled over its
	// low-load value (or the SLO first failed): where queueing starts.
	Knee float64 `json:"knee_rps"`
	// AtMaxRate is true when the search stopped at MaxRate while still
	// meeting the SLO: the capacity is at least Sustainable.
	AtMaxRate bool `json:"at_max_rate,omitempty"`
}

// Probe offers rate for one step and returns what happened.
type Probe func(ctx context.Context, rate float64) (CapacityPoint, error)

// FindCapacity raises the offered rate geometrically until a step misses
// the SLO, then bisects between the last good and the first bad rate.
func FindCapacity(ctx context.Context, spec CapacitySpec, slo SLO, probe Probe) (CapacityResult, error) {
	var res CapacityResult
	if err := spec.validate(); err != nil {
		return res, err
	}
	try := func(rate float64) (bool, error) {
		p, err := probe(ctx, rate)
		if err != nil {
			return false, err
		}
		p.Offered = rate
		p.Met = slo.Met(p)
		res.Points = append(res.Points, p)
		return p.Met, nil
	}
	good, bad := 0.0, 0.0
	for rate := spec.StartRate; ; rate = math.Min(rate*spec.Growth, spec.MaxRate) {
		ok, err := try(rate)
		if err != nil {
			return res, err
		}
		if !ok {
			bad = rate
			break
		}
		good = rate
		if rate >= spec.MaxRate {
			res.AtMaxRate = true
			break
		}
	}
	for i := 0; bad > 0 && i < spec.BisectSteps && bad-good > 0.02*math.Max(good, 1); i++ {
		mid := math.Round((good + bad) / 2)
		ok, err := try(mid)
		if err != nil {
			return res, err
		}
		if ok {
			good = mid
		} else {
			bad = mid
		}
	}
	sort.SliceStable(res.Points, func(i, j int) bool { return res.Points[i].Offered < res.Points[j].Offered })
	res.Sustainable = good
	res.Knee = Knee(res.Points)
	return res, nil
}

// Knee returns the highest offered rate, scanning up from the lowest, before
// the first point that misses the SLO or whose p99 exceeds twice the p99 at
// the lowest rate. points must be ascending by offered rate.
func Knee(points []CapacityPoint) float64 {
	if len(points) == 0 {
		return 0
	}
	base := points[0].P99
	knee := 0.0
	for _, p := range points {
		if !p.Met || (base > 0 && p.P99 > 2*base) {
			break
		}
		knee = p.Offered
	}
	return knee
}

// CapacityPlan turns a per-core capacity into cores and nodes for a peak.
// It assumes throughput scales linearly with cores, which holds for the
// gateway's share-nothing request path until the NIC or the upstream limits.
type CapacityPlan struct {
	// PerCore is the sustainable rate of one core, requests per second.
	PerCore float64 `json:"per_core_rps"`
	// Peak is the traffic to plan for (-peak).
	Peak float64 `json:"peak_rps"`
	// Headroom is the fraction of capacity planned to be used (-headroom).
	Headroom float64 `json:"headroom"`
	// CoresPerNode is the cores of one node given to the gateway (-cores-per-node).
	CoresPerNode int `json:"cores_per_node"`
	// Cores = ceil(Peak / (PerCore * Headroom)); Nodes = ceil(Cores / CoresPerNode).
	Cores int `json:"cores"`
	Nodes int `json:"nodes"`
	// NodesN1 adds one node so the peak survives losing any one node.
	NodesN1 int `json:"nodes_n_plus_1"`
}

// PlanCapacity computes a CapacityPlan. perCore <= 0 yields zero cores and nodes.
func PlanCapacity(perCore, peak, headroom float64, coresPerNode int) (CapacityPlan, error) {
	p := CapacityPlan{PerCore: perCore, Peak: peak, Headroom: headroom, CoresPerNode: coresPerNode}
	if !(headroom > 0 && headroom <= 1) || coresPerNode < 1 || peak < 0 {
		return p, fmt.Errorf("bench: capacity plan needs 0 < headroom <= 1, cores-per-node >= 1, peak >= 0")
	}
	if perCore <= 0 || peak == 0 {
		return p, nil
	}
	p.Cores = int(math.Ceil(peak / (perCore * headroom)))
	p.Nodes = (p.Cores + coresPerNode - 1) / coresPerNode
	p.NodesN1 = p.Nodes + 1
	return p, nil
}
