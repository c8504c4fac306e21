package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// measureTimeSliced runs reps repetitions of sc on two targets over the same
// window, time-sliced: each target has its own closed loop with the preset's
// connections, and a gate lets one loop at a time send, switching every
// sliceLen. Each target's CPU is read around the whole window. Medians and
// ratios against ref are taken as in measure.
func (r *runner) measureTimeSliced(ctx context.Context, sc *Scenario, live []liveTarget, reps int, ref string) []TargetResult {
	results := newTargetResults(live)
	for rep := 0; rep < reps && ctx.Err() == nil; rep++ {
		for i, run := range r.runTogether(ctx, sc, live, rep) {
			r.logRun(rep, live[i].name, run, "time-sliced")
			results[i].Runs = append(results[i].Runs, run)
		}
	}
	summarize(results, ref)
	return results
}

// runTogether is one time-sliced repetition: warmup, then the measured
// window, with every target loaded in turn.
func (r *runner) runTogether(ctx context.Context, sc *Scenario, live []liveTarget, rep int) []RunFigures {
	out := make([]RunFigures, len(live))
	cfgs := make([]LoadConfig, len(live))
	failed := false
	for i, t := range live {
		out[i].Rep = rep + 1
		if t.proc != nil && !t.proc.Alive() {
			out[i].Failed = fmt.Sprintf("%s exited: %s", t.name, t.proc.StderrTail(300))
			failed = true
			continue
		}
		cfg, err := r.loadConfig(sc, t)
		if err != nil {
			out[i].Failed = err.Error()
			failed = true
			continue
		}
		cfg.Gate = NewGate(false) // loadAll opens one at a time
		cfgs[i] = cfg
	}
	if failed {
		return failAll(out, "another target of the time-sliced run failed")
	}
	if w := r.opts.Preset.Warmup; w > 0 {
		if _, errs := loadAll(ctx, cfgs, w, rep); errs != nil {
			return failWith(out, errs)
		}
	}
	cpu0 := make([]CPUSample, len(live))
	for i, t := range live {
		if t.proc == nil {
			continue // direct: the harness is the only process
		}
		var err error
		if cpu0[i], err = SampleCPU(t.proc.PID()); err != nil {
			return failAll(out, err.Error())
		}
	}
	res, errs := loadAll(ctx, cfgs, r.opts.Preset.Duration, rep)
	if errs != nil {
		return failWith(out, errs)
	}
	for i, t := range live {
		var cpu time.Duration
		var mem MemSample
		if t.proc != nil {
			cpu1, err := SampleCPU(t.proc.PID())
			if err != nil {
				out[i].Failed = fmt.Sprintf("%s: %v (exited? %s)", t.name, err, t.proc.StderrTail(300))
				continue
			}
			cpu = cpu1.Since(cpu0[i])
			mem, _ = SampleMem(t.proc.PID())
		}
		out[i].Figures = figuresFrom(res[i], cpu, mem)
		// Each target sent during 1/len(live) of the window: its rate
		// while it had the turn is what a lone run would show.
		out[i].Figures.Throughput *= float64(len(live))
		out[i].Load = res[i]
	}
	return out
}

// sliceLen is how long one target of a time-sliced run sends before the
// next one's turn. Short enough that the machine's drift (seconds) hits
// every target alike; long enough that each slice runs on caches the
// target has to itself, as a lone gateway would (refilling them takes well
// under a millisecond), and that the requests in flight at a switch are a
// small part of a slice.
const sliceLen = 50 * time.Millisecond

// loadAll runs every cfg for d over the same window, and while they run
// opens their gates (if any) one at a time for sliceLen each, cfgs[first %
// len(cfgs)] first, so that alternating first across reps gives no target
// the first slice every time. errs is nil
// when all succeeded, else holds each run's error (nil for those that
// succeeded).
func loadAll(ctx context.Context, cfgs []LoadConfig, d time.Duration, first int) ([]*LoadResult, []error) {
	res := make([]*LoadResult, len(cfgs))
	errs := make([]error, len(cfgs))
	stop := make(chan struct{})
	switched := make(chan struct{})
	go func() {
		defer close(switched)
		t := time.NewTicker(sliceLen)
		defer t.Stop()
		for turn := 0; ; turn++ {
			for i, c := range cfgs {
				if c.Gate != nil {
					c.Gate.Set(i == (first+turn)%len(cfgs))
				}
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	defer func() {
		close(stop)
		<-switched
	}()
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
			out[i].Failed = "another target of the time-sliced run failed"
		}
	}
	return out
}
