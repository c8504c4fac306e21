package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// measureConcurrent runs reps repetitions of sc on two targets at once: the
// preset's connections are split between them, both warm up together, and
// each target's CPU is read around the same measured window. Medians and
// ratios against ref are taken as in measure.
func (r *runner) measureConcurrent(ctx context.Context, sc *Scenario, live []liveTarget, reps int, ref string) []TargetResult {
	results := make([]TargetResult, len(live))
	for i, t := range live {
		results[i].Target = t.name
	}
	for rep := 0; rep < reps && ctx.Err() == nil; rep++ {
		runs := r.runTogether(ctx, sc, live, rep)
		for i, run := range runs {
			if run.Failed != "" {
				fmt.Fprintf(r.log, "  rep %d %-14s failed: %s\n", rep+1, live[i].name, run.Failed)
			} else {
				fmt.Fprintf(r.log, "  rep %d %-14s %9.0f rps  p50 %-9v p99 %-9v cpu %7.2f µs/req  errors %d (concurrent)\n",
					rep+1, live[i].name, run.Throughput, run.P50, run.P99, run.CPUPerRequestUS, run.Errors)
			}
			results[i].Runs = append(results[i].Runs, run)
		}
	}
	var refRuns []RunFigures
	for i := range results {
		if results[i].Target == ref {
			refRuns = results[i].Runs
		}
	}
	for i := range results {
		results[i].Median = medianFigures(results[i].Runs)
		if results[i].Target != ref {
			results[i].VsReference = pairRatios(results[i].Runs, refRuns, ref)
		}
	}
	return results
}

// runTogether is one concurrent repetition: warmup, then the measured
// window, both with every target loaded at once.
func (r *runner) runTogether(ctx context.Context, sc *Scenario, live []liveTarget, rep int) []RunFigures {
	out := make([]RunFigures, len(live))
	cfgs := make([]LoadConfig, len(live))
	failed := false
	for i, t := range live {
		out[i].Rep = rep + 1
		if t.proc == nil || !t.proc.Alive() {
			out[i].Failed = fmt.Sprintf("%s is not a running process", t.name)
			failed = true
			continue
		}
		cfg, err := r.loadConfig(sc, t)
		if err != nil {
			out[i].Failed = err.Error()
			failed = true
			continue
		}
		cfg.Connections = max(1, r.opts.Preset.Connections/len(live))
		cfgs[i] = cfg
	}
	if failed {
		return failAll(out, "another target of the concurrent run failed")
	}
	if w := r.opts.Preset.Warmup; w > 0 {
		if _, errs := loadAll(ctx, cfgs, w); errs != nil {
			return failWith(out, errs)
		}
	}
	cpu0 := make([]CPUSample, len(live))
	for i, t := range live {
		var err error
		if cpu0[i], err = SampleCPU(t.proc.PID()); err != nil {
			return failAll(out, err.Error())
		}
	}
	res, errs := loadAll(ctx, cfgs, r.opts.Preset.Duration)
	if errs != nil {
		return failWith(out, errs)
	}
	for i, t := range live {
		cpu1, err := SampleCPU(t.proc.PID())
		if err != nil {
			out[i].Failed = fmt.Sprintf("%s: %v (exited? %s)", t.name, err, t.proc.StderrTail(300))
			continue
		}
		mem, _ := SampleMem(t.proc.PID())
		out[i].Figures = figuresFrom(res[i], cpu1.Since(cpu0[i]), mem)
		out[i].Load = res[i]
	}
	return out
}

// loadAll runs every cfg for d at the same time. errs is nil when all
// succeeded, else holds each run's error (nil for those that succeeded).
func loadAll(ctx context.Context, cfgs []LoadConfig, d time.Duration) ([]*LoadResult, []error) {
	res := make([]*LoadResult, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i := range cfgs {
		c := cfgs[i]
		c.Duration = d
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = RunLoad(ctx, c)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, errs
		}
	}
	return res, nil
}

func failAll(out []RunFigures, msg string) []RunFigures {
	for i := range out {
		if out[i].Failed == "" {
			out[i].Failed = msg
		}
	}
	return out
}

func failWith(out []RunFigures, errs []error) []RunFigures {
	for i, err := range errs {
		if err != nil {
			out[i].Failed = err.Error()
		} else {
			out[i].Failed = "another target of the concurrent run failed"
		}
	}
	return out
}
