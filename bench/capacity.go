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
	// HarnessBound is set when the generator's calibrated ceiling was below
	// twice Sustainable: the search may have measured the harness. Derived
	// is then one core / DerivedCPUUS, the target's CPU µs per request at
	// DerivedAt, the highest offered rate that met the SLO (0: no CPU figure).
	HarnessBound bool    `json:"harness_bound,omitempty"`
	Derived      float64 `json:"derived_rps,omitempty"`
	DerivedCPUUS float64 `json:"derived_cpu_us_per_request,omitempty"`
	DerivedAt    float64 `json:"derived_at_rps,omitempty"`
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
	a, err := PlanCores(perCore, peak, headroom, coresPerNode) // the one sizing formula (plan.go)
	if err != nil {
		return p, err
	}
	p.Cores, p.Nodes = a.Cores, a.Nodes
	p.NodesN1 = p.Nodes + 1
	return p, nil
}

// GeneratorCalibration is the open-loop generator's ceiling straight to the
// origin stub, measured before a capacity search (issue 16): a target's
// capacity can only be read off a search whose generator offers well above
// it. A rate is held when the generator offers it: at least 98% of the
// requests the measured window schedules are sent, 99% of them at most
// LagBound after their intended time, at least 98% of those sent are
// answered, and nothing fails. (LoadResult.SendRate, over the span from the
// first to the last send, is kept for information: on a short step one
// stall of a shared machine at the end moves it by more than 2%, while the
// lag's p99 bounds how far the whole schedule slipped.)
type GeneratorCalibration struct {
	Scenario string `json:"scenario"`
	// Ceiling is the highest rate held (0: none, not even the first).
	Ceiling float64 `json:"ceiling_rps"`
	// AtMaxRate: the search stopped at its cap still holding, so the
	// ceiling is at least Ceiling.
	AtMaxRate bool          `json:"at_max_rate,omitempty"`
	LagBound  time.Duration `json:"lag_bound_ns"`
	// Points are the probes, ascending by offered rate.
	Points []CalibrationPoint `json:"points,omitempty"`
	// Skipped, when set, says why nothing was measured.
	Skipped string `json:"skipped,omitempty"`
}

// CalibrationPoint is one open-loop probe of the generator against the origin.
type CalibrationPoint struct {
	Offered  float64 `json:"offered_rps"`
	SendRate float64 `json:"send_rps"`
	// Completed is answers per second up to the last answer (informative:
	// on a short step one late answer moves it by more than 2%).
	Completed  float64       `json:"completed_rps"`
	Sent       uint64        `json:"sent"`
	Answered   uint64        `json:"answered"`
	SendLagP99 time.Duration `json:"send_lag_p99_ns"`
	MaxSendLag time.Duration `json:"max_send_lag_ns"`
	Errors     uint64        `json:"errors"`
	Held       bool          `json:"held"`
	// HarnessCPUUS is the harness process's CPU time (generator and the
	// in-process origin together) per answered request, in µs (0: not
	// measured): what one request costs the harness's core.
	HarnessCPUUS float64 `json:"harness_cpu_us_per_request,omitempty"`
}

// HarnessCPUAt returns the harness's CPU µs per request at the highest held
// rate, or at the highest rate tried when none was held (0 when none was
// measured).
func (c *GeneratorCalibration) HarnessCPUAt() (cpuUS, at float64) {
	for _, held := range []bool{true, false} {
		for _, p := range c.Points {
			if (p.Held || !held) && p.HarnessCPUUS > 0 && p.Offered >= at {
				cpuUS, at = p.HarnessCPUUS, p.Offered
			}
		}
		if cpuUS > 0 {
			break
		}
	}
	return cpuUS, at
}

// calibrationTolerance is how far (as a fraction) the achieved send and
// completion rates may fall from the offered rate on a held step.
const calibrationTolerance = 0.02

// CalibrationPointFrom judges one open-loop result against the origin; dur
// is the measured window.
func CalibrationPointFrom(offered float64, dur time.Duration, lr *LoadResult, lagBound time.Duration) CalibrationPoint {
	p := CalibrationPoint{Offered: offered, SendRate: lr.SendRate, Completed: lr.Throughput, Sent: lr.Sent, Answered: lr.Completed,
		SendLagP99: lr.SendLagP99, MaxSendLag: lr.MaxSendLag, Errors: lr.Errors}
	p.Held = lr.Errors == 0 && lr.Completed > 0 &&
		float64(lr.Sent) >= (1-calibrationTolerance)*offered*dur.Seconds() &&
		float64(lr.Completed) >= (1-calibrationTolerance)*float64(lr.Sent) &&
		lr.SendLagP99 <= lagBound
	return p
}

// FindCeiling raises the offered rate as FindCapacity does (geometric steps
// from spec.StartRate, then bisection) until a step is not held, and returns
// the highest rate held.
func FindCeiling(ctx context.Context, spec CapacitySpec, lagBound time.Duration,
	probe func(ctx context.Context, rate float64) (CalibrationPoint, error)) (GeneratorCalibration, error) {
	cal := GeneratorCalibration{Scenario: spec.Scenario, LagBound: lagBound}
	if err := spec.validate(); err != nil {
		return cal, err
	}
	try := func(rate float64) (bool, error) {
		p, err := probe(ctx, rate)
		if err != nil {
			return false, err
		}
		p.Offered = rate
		cal.Points = append(cal.Points, p)
		return p.Held, nil
	}
	good, bad := 0.0, 0.0
	for rate := spec.StartRate; ; rate = math.Min(rate*spec.Growth, spec.MaxRate) {
		ok, err := try(rate)
		if err != nil {
			return cal, err
		}
		if !ok {
			bad = rate
			break
		}
		good = rate
		if rate >= spec.MaxRate {
			cal.AtMaxRate = true
			break
		}
	}
	for i := 0; bad > 0 && i < spec.BisectSteps && bad-good > 0.02*math.Max(good, 1); i++ {
		mid := math.Round((good + bad) / 2)
		ok, err := try(mid)
		if err != nil {
			return cal, err
		}
		if ok {
			good = mid
		} else {
			bad = mid
		}
	}
	sort.SliceStable(cal.Points, func(i, j int) bool { return cal.Points[i].Offered < cal.Points[j].Offered })
	cal.Ceiling = good
	return cal, nil
}

// harnessMargin is how far above a target's sustainable rate the generator
// must reach for the search's figure to be the target's (issue 16: 2x).
const harnessMargin = 2.0

// HarnessBound reports whether a capacity search's figure may describe the
// harness rather than the target: the generator's calibrated ceiling is
// below harnessMargin x the target's sustainable rate (or unknown).
func HarnessBound(ceiling, sustainable float64) bool {
	return sustainable > 0 && ceiling < harnessMargin*sustainable
}

// DeriveCapacity estimates a target's capacity on one core from its CPU per
// request instead of the search's rate: one core's second divided by the
// CPU time per request measured at the highest offered rate that met the
// SLO (where the target works closest to its capacity and batches most).
// It returns 0s when no such point has a CPU figure.
func DeriveCapacity(points []CapacityPoint) (rate, cpuUS, at float64) {
	for _, p := range points {
		if p.Met && p.CPUPerRequestUS > 0 && p.Offered >= at {
			cpuUS, at = p.CPUPerRequestUS, p.Offered
		}
	}
	if cpuUS <= 0 {
		return 0, 0, 0
	}
	return math.Round(1e6 / cpuUS), cpuUS, at
}

// applyCalibration marks the results whose figure the generator cannot
// vouch for and derives their capacity from CPU per request. The direct
// target is the harness itself and is never marked.
func applyCalibration(results []CapacityResult, cal *GeneratorCalibration) {
	for i := range results {
		r := &results[i]
		if r.Skipped != "" || r.Target == TargetDirect || cal == nil || cal.Skipped != "" {
			continue
		}
		if !HarnessBound(cal.Ceiling, r.Sustainable) {
			continue
		}
		r.HarnessBound = true
		r.Derived, r.DerivedCPUUS, r.DerivedAt = DeriveCapacity(r.Points)
	}
}

// PerCore is the capacity to plan with: the CPU-derived figure when the
// search was harness-bound and one could be derived, else the search's.
func (r CapacityResult) PerCore() float64 {
	if r.HarnessBound && r.Derived > 0 {
		return r.Derived
	}
	return r.Sustainable
}
