package bench

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	json "github.com/goccy/go-json"
)

// resultsSchema versions the JSON results; compare refuses other versions.
const resultsSchema = 1

// Figures are one run's (or the median of several runs') headline numbers.
type Figures struct {
	// Throughput is responses per second.
	Throughput float64 `json:"throughput_rps"`
	// Latency percentiles.
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
	// CPUPerRequestUS is the target process tree's utime+stime over the
	// measured phase divided by responses, in microseconds (0: not measured,
	// e.g. the in-process origin of "direct").
	CPUPerRequestUS float64 `json:"cpu_us_per_request"`
	// PeakRSS is the target tree's summed VmHWM in bytes (0: not measured).
	PeakRSS int64 `json:"peak_rss_bytes"`
	// IdleConnBytes is RSS growth per idle connection (idle scenarios only).
	IdleConnBytes float64 `json:"idle_conn_bytes,omitempty"`
	// Requests are responses received; Errors as in LoadResult.
	Requests  uint64  `json:"requests"`
	Errors    uint64  `json:"errors"`
	ErrorRate float64 `json:"error_rate"`
}

// RunFigures is one repetition on one target.
type RunFigures struct {
	Rep int `json:"rep"`
	Figures
	// Load has the full per-status and per-error counts.
	Load *LoadResult `json:"load,omitempty"`
	// Failed, when set, says why this repetition produced no figures.
	Failed string `json:"failed,omitempty"`
}

// Ratios compare a target with the scenario's reference target: the median
// over repetitions of the per-repetition ratio target/reference, so drift
// between repetitions cancels out.
type Ratios struct {
	Reference       string  `json:"reference"`
	Throughput      float64 `json:"throughput"`
	CPUPerRequestUS float64 `json:"cpu_per_request,omitempty"`
	P99             float64 `json:"p99"`
}

// TargetResult is one target's figures in one scenario.
type TargetResult struct {
	Target string `json:"target"`
	// Skipped, when set, says why the target did not run this scenario.
	Skipped string       `json:"skipped,omitempty"`
	Runs    []RunFigures `json:"runs,omitempty"`
	// Median is the per-figure median over the successful runs.
	Median      Figures `json:"median"`
	VsReference *Ratios `json:"vs_reference,omitempty"`
	// VsFloor is this target over the fasthttp floor (TargetFloor) that ran
	// beside it, per-repetition ratios' medians; its CPU ratio minus one is
	// the target's overhead over a plain fasthttp proxy (nil: no floor ran).
	VsFloor *Ratios `json:"vs_floor,omitempty"`
}

// ScenarioResult is one scenario across its targets.
type ScenarioResult struct {
	Scenario Scenario `json:"scenario"`
	// Skipped, when set, says why no target ran.
	Skipped   string         `json:"skipped,omitempty"`
	Reference string         `json:"reference,omitempty"`
	Targets   []TargetResult `json:"targets"`
}

// CapacityReport is the capacity search over the targets plus the plan.
type CapacityReport struct {
	Scenario string           `json:"scenario"`
	SLO      SLO              `json:"slo"`
	Spec     CapacitySpec     `json:"spec"`
	Results  []CapacityResult `json:"results"`
	// Plans per target, for the requested peak.
	Plans map[string]CapacityPlan `json:"plans,omitempty"`
	// Charts are the PNG and SVG files of latency versus offered load.
	Charts []string `json:"charts,omitempty"`
	// Calibration is the generator's open-loop ceiling straight to the
	// origin, measured before the search (nil in results from before it).
	Calibration *GeneratorCalibration `json:"calibration,omitempty"`
}

// HostInfo describes the machine and binaries a run used.
type HostInfo struct {
	CPUs           int    `json:"cpus"`
	CPUModel       string `json:"cpu_model,omitempty"`
	Kernel         string `json:"kernel,omitempty"`
	GoVersion      string `json:"go_version"`
	GatewayBinary  string `json:"gateway_binary,omitempty"`
	GatewayVersion string `json:"gateway_version,omitempty"`
}

// Results is everything one `sluice-bench run` measured; it is the JSON
// file that `sluice-bench compare` reads.
type Results struct {
	Schema   int       `json:"schema"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Preset   Preset    `json:"preset"`
	Host     HostInfo  `json:"host"`
	// StealPercent is the share of the machine's CPU time the hypervisor
	// gave to other guests while the run measured (nil: not readable). On a
	// shared VM it is what makes latency tails and CPU figures noisy.
	StealPercent *float64         `json:"steal_percent,omitempty"`
	CPU          CPUPlan          `json:"cpu_plan"`
	Plan         RunPlan          `json:"plan"`
	Scenarios    []ScenarioResult `json:"scenarios"`
	Capacity     *CapacityReport  `json:"capacity,omitempty"`
	// HalfRate is the open-loop run at half of nginx's sustainable rate.
	HalfRate *HalfRateResult `json:"half_rate,omitempty"`
	// Goals are the BENCHMARKS.md goal ratios, met or missed.
	Goals []Goal `json:"goals,omitempty"`
}

// WriteJSON writes r to path, creating its directory.
func (r *Results) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadResults reads a results file written by WriteJSON.
func ReadResults(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", path, err)
	}
	if r.Schema != resultsSchema {
		return nil, fmt.Errorf("bench: %s: results schema %d, want %d", path, r.Schema, resultsSchema)
	}
	return &r, nil
}

// median returns the median of xs (mean of the middle two for even counts).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// medianFigures takes each figure's median over the runs that did not fail.
func medianFigures(runs []RunFigures) Figures {
	var ok []Figures
	for _, r := range runs {
		if r.Failed == "" {
			ok = append(ok, r.Figures)
		}
	}
	col := func(f func(Figures) float64) float64 {
		xs := make([]float64, len(ok))
		for i, r := range ok {
			xs[i] = f(r)
		}
		return median(xs)
	}
	dur := func(f func(Figures) time.Duration) time.Duration {
		return time.Duration(col(func(x Figures) float64 { return float64(f(x)) }))
	}
	return Figures{
		Throughput:      col(func(x Figures) float64 { return x.Throughput }),
		P50:             dur(func(x Figures) time.Duration { return x.P50 }),
		P90:             dur(func(x Figures) time.Duration { return x.P90 }),
		P99:             dur(func(x Figures) time.Duration { return x.P99 }),
		P999:            dur(func(x Figures) time.Duration { return x.P999 }),
		Max:             dur(func(x Figures) time.Duration { return x.Max }),
		CPUPerRequestUS: col(func(x Figures) float64 { return x.CPUPerRequestUS }),
		PeakRSS:         int64(col(func(x Figures) float64 { return float64(x.PeakRSS) })),
		IdleConnBytes:   col(func(x Figures) float64 { return x.IdleConnBytes }),
		Requests:        uint64(col(func(x Figures) float64 { return float64(x.Requests) })),
		Errors:          uint64(col(func(x Figures) float64 { return float64(x.Errors) })),
		ErrorRate:       col(func(x Figures) float64 { return x.ErrorRate }),
	}
}

// pairRatios computes target/reference per repetition and takes medians.
// Repetitions where either side failed or a denominator is zero are left out.
func pairRatios(target, ref []RunFigures, refName string) *Ratios {
	var tp, cpu, p99 []float64
	for i := range target {
		if i >= len(ref) || target[i].Failed != "" || ref[i].Failed != "" {
			continue
		}
		t, r := target[i].Figures, ref[i].Figures
		if r.Throughput > 0 {
			tp = append(tp, t.Throughput/r.Throughput)
		}
		if r.CPUPerRequestUS > 0 && t.CPUPerRequestUS > 0 {
			cpu = append(cpu, t.CPUPerRequestUS/r.CPUPerRequestUS)
		}
		if r.P99 > 0 {
			p99 = append(p99, float64(t.P99)/float64(r.P99))
		}
	}
	if len(tp) == 0 {
		return nil
	}
	return &Ratios{Reference: refName, Throughput: median(tp), CPUPerRequestUS: median(cpu), P99: median(p99)}
}

// figuresFrom converts a load result plus process readings into Figures.
func figuresFrom(res *LoadResult, cpu time.Duration, mem MemSample) Figures {
	f := Figures{
		Throughput: res.Throughput,
		P50:        res.Latency.P50,
		P90:        res.Latency.P90,
		P99:        res.Latency.P99,
		P999:       res.Latency.P999,
		Max:        res.Latency.Max,
		PeakRSS:    mem.PeakRSS,
		Requests:   res.Completed,
		Errors:     res.Errors,
		ErrorRate:  res.ErrorRate(),
	}
	if cpu > 0 && res.Completed > 0 {
		f.CPUPerRequestUS = math.Round(float64(cpu.Nanoseconds())/float64(res.Completed)) / 1000
	}
	return f
}
