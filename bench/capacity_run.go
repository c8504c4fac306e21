package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// runCapacity runs the preset's capacity search on each target, one target
// at a time, and writes the latency-versus-load charts.
func (r *runner) runCapacity(ctx context.Context, targets []string) (*CapacityReport, error) {
	spec := r.opts.Preset.Capacity
	sc, err := ScenarioByName(spec.Scenario)
	if err != nil {
		return nil, err
	}
	rep := &CapacityReport{Scenario: sc.Name, SLO: r.opts.SLO, Spec: spec, Plans: map[string]CapacityPlan{}}
	fmt.Fprintf(r.log, "capacity %s, SLO %s\n", sc.Name, r.opts.SLO)
	rep.Calibration = r.calibrate(ctx, sc)
	for _, name := range targets {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res := r.capacityOne(ctx, sc, name)
		if res.Skipped != "" {
			fmt.Fprintf(r.log, "  %-8s skipped: %s\n", name, res.Skipped)
		} else {
			fmt.Fprintf(r.log, "  %-8s sustainable %.0f rps/core, knee %.0f rps\n", name, res.Sustainable, res.Knee)
		}
		rep.Results = append(rep.Results, res)
	}
	applyCalibration(rep.Results, rep.Calibration)
	for _, res := range rep.Results {
		if res.Skipped != "" {
			continue
		}
		if res.HarnessBound {
			fmt.Fprintf(r.log, "  %-8s harness-bound: generator ceiling %.0f rps < 2 x %.0f; derived from CPU per request: %.0f rps/core (%.2f µs/req at %.0f rps)\n",
				res.Target, rep.Calibration.Ceiling, res.Sustainable, res.Derived, res.DerivedCPUUS, res.DerivedAt)
		}
		if r.opts.Peak > 0 {
			plan, err := PlanCapacity(res.PerCore(), r.opts.Peak, r.opts.Headroom, r.opts.CoresPerNode)
			if err != nil {
				return nil, err
			}
			rep.Plans[res.Target] = plan
		}
	}
	base := filepath.Join(r.opts.OutDir, "capacity-"+sc.Name)
	title := fmt.Sprintf("%s: latency vs offered load (one core)", sc.Title)
	charts, err := WriteLatencyCharts(rep.Results, title, base)
	if err != nil {
		return nil, err
	}
	rep.Charts = charts
	return rep, nil
}

// capacityOne starts one target and searches its capacity.
func (r *runner) capacityOne(ctx context.Context, sc *Scenario, name string) CapacityResult {
	res := CapacityResult{Target: name}
	dir, err := os.MkdirTemp("", "sluice-bench-capacity-")
	if err != nil {
		res.Skipped = err.Error()
		return res
	}
	if !r.opts.KeepTemp {
		defer os.RemoveAll(dir)
	}
	var t liveTarget
	switch name {
	case TargetDirect:
		t = liveTarget{name: name, addr: r.origin.Addr()}
	case TargetSluice:
		if reason := r.gatewayReason(sc); reason != "" {
			res.Skipped = reason
			return res
		}
		t, err = r.startGateway(ctx, sc, dir, TargetSluice, "")
	default:
		pe, ok := PeerByName(name)
		if !ok {
			res.Skipped = "unknown target"
			return res
		}
		t, err = r.startPeer(ctx, pe, sc, dir)
	}
	if err != nil {
		res.Skipped = err.Error()
		return res
	}
	defer t.stop()
	spec := r.opts.Preset.Capacity
	probe := func(ctx context.Context, rate float64) (CapacityPoint, error) {
		if t.proc != nil && !t.proc.Alive() {
			return CapacityPoint{}, fmt.Errorf("%s exited: %s", name, t.proc.StderrTail(300))
		}
		cfg, err := r.loadConfig(sc, t)
		if err != nil {
			return CapacityPoint{}, err
		}
		cfg.Mode = OpenLoop
		cfg.Rate = rate
		cfg.Connections = spec.Connections
		cfg.Timeout = 2 * time.Second
		if spec.StepWarmup > 0 {
			w := cfg
			w.Duration = spec.StepWarmup
			if _, err := RunLoad(ctx, w); err != nil {
				return CapacityPoint{}, err
			}
		}
		var cpu0 CPUSample
		if t.proc != nil {
			if cpu0, err = SampleCPU(t.proc.PID()); err != nil {
				return CapacityPoint{}, err
			}
		}
		cfg.Duration = spec.StepDuration
		lr, err := RunLoad(ctx, cfg)
		if err != nil {
			return CapacityPoint{}, err
		}
		p := CapacityPoint{
			Achieved: lr.Throughput, Completed: lr.Completed,
			P50: lr.Latency.P50, P90: lr.Latency.P90, P99: lr.Latency.P99, P999: lr.Latency.P999,
			ErrorRate: lr.ErrorRate(),
		}
		if t.proc != nil {
			if cpu1, err := SampleCPU(t.proc.PID()); err == nil {
				p.CPUPerRequestUS = figuresFrom(lr, cpu1.Since(cpu0), MemSample{}).CPUPerRequestUS
			}
		}
		fmt.Fprintf(r.log, "    %-8s offered %8.0f rps: achieved %8.0f, p50 %-9v p99 %-9v errors %.3f%%\n",
			name, rate, p.Achieved, p.P50, p.P99, p.ErrorRate*100)
		return p, nil
	}
	found, err := FindCapacity(ctx, spec, r.opts.SLO, probe)
	found.Target = name
	if err != nil {
		found.Skipped = err.Error()
	}
	return found
}

// calibrate measures the generator's open-loop ceiling against the origin
// stub directly, with the scenario's requests and the search's steps, so
// that the search's figures can be judged against it (applyCalibration).
// The send lag's p99 is bounded by a quarter of the SLO's p99: a generator
// that sends later than that charges a good part of the target's latency
// budget with its own delay.
func (r *runner) calibrate(ctx context.Context, sc *Scenario) *GeneratorCalibration {
	spec := r.opts.Preset.Capacity
	lagBound := r.opts.SLO.P99 / 4
	if lagBound <= 0 {
		lagBound = 2500 * time.Microsecond
	}
	// Up to twice the search's cap, so that the generator can show the
	// margin over any figure the search can find; steps of half the
	// search's length (at least 300 ms), since the verdict rests on the
	// send lag's p99 and counts, which a thousand requests already give.
	calSpec := spec
	calSpec.MaxRate = min(2*spec.MaxRate, maxOpenLoopRate)
	calSpec.StepDuration = min(spec.StepDuration, max(spec.StepDuration/2, 300*time.Millisecond))
	direct := liveTarget{name: TargetDirect, addr: r.origin.Addr()}
	probe := func(ctx context.Context, rate float64) (CalibrationPoint, error) {
		cfg, err := r.loadConfig(sc, direct)
		if err != nil {
			return CalibrationPoint{}, err
		}
		cfg.Mode, cfg.Rate, cfg.Connections, cfg.Timeout = OpenLoop, rate, spec.Connections, 2*time.Second
		if calSpec.StepWarmup > 0 {
			w := cfg
			w.Duration = calSpec.StepWarmup
			if _, err := RunLoad(ctx, w); err != nil {
				return CalibrationPoint{}, err
			}
		}
		cfg.Duration = calSpec.StepDuration
		cpu0 := selfCPU()
		lr, err := RunLoad(ctx, cfg)
		if err != nil {
			return CalibrationPoint{}, err
		}
		p := CalibrationPointFrom(rate, cfg.Duration, lr, lagBound)
		if cpu := selfCPU() - cpu0; cpu > 0 && lr.Completed > 0 {
			p.HarnessCPUUS = math.Round(float64(cpu.Nanoseconds())/float64(lr.Completed)) / 1000
		}
		fmt.Fprintf(r.log, "    generator offered %8.0f rps: sent %8.0f rps, answered %d of %d, send lag p99 %-9v max %-9v errors %d, "+
			"harness CPU %.2f µs/req, held %v\n",
			rate, p.SendRate, p.Answered, p.Sent, p.SendLagP99, p.MaxSendLag.Round(time.Microsecond), p.Errors, p.HarnessCPUUS, p.Held)
		return p, nil
	}
	fmt.Fprintf(r.log, "  calibrating the open-loop generator against the origin (%s)\n", sc.Name)
	cal, err := FindCeiling(ctx, calSpec, lagBound, probe)
	if err != nil {
		cal.Skipped = err.Error()
		fmt.Fprintf(r.log, "  generator calibration failed: %v\n", err)
		return &cal
	}
	at := ""
	if cal.AtMaxRate {
		at = " (at least: the calibration's cap, twice the search's)"
	}
	fmt.Fprintf(r.log, "  generator ceiling %.0f rps%s\n", cal.Ceiling, at)
	return &cal
}

// selfCPU is this process's user and system CPU time so far (getrusage:
// threads that exited count too).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
