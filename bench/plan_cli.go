package bench

import (
	"context"
	"fmt"
	"io"
	"time"
)

// cmdPlan implements "plan": a capacity plan from the operator's own config
// and access log. The figures go to stderr step by step, the progress line
// too; the plan's summary goes to stdout.
func cmdPlan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plan", stderr)
	config := fs.String("config", "", "the gateway config to plan for (required)")
	replay := fs.String("replay", "", "its access log, Sluice JSON lines, plain or gzip (required)")
	peak := fs.Float64("peak", 0, "peak requests/s to plan cores and nodes for (required)")
	sloP99 := fs.Duration("slo-p99", 20*time.Millisecond, "SLO: highest p99 latency of a load step")
	sloErrors := fs.Float64("slo-errors", 0.1, "SLO: highest error rate of a load step, in percent")
	coresPerNode := fs.Int("cores-per-node", 16, "cores per node given to the gateway")
	headroom := fs.Float64("headroom", 0.7, "fraction of measured capacity to plan on using (0 < h <= 1)")
	outDir := fs.String("out", "bench/out/plan", "directory for plan.md, plan.json, the charts and the mix-check log")
	gateway := fs.String("gateway", "./bin/sluice", "built gateway binary")
	step := fs.Duration("duration", DefaultPlanSearch.StepDuration, "measured length of each load step")
	warmup := fs.Duration("warmup", DefaultPlanSearch.StepWarmup, "unrecorded warm-up before each load step")
	startRate := fs.Float64("start-rate", DefaultPlanSearch.StartRate, "first offered rate, requests/s")
	maxRate := fs.Float64("max-rate", DefaultPlanSearch.MaxRate, "highest offered rate, requests/s")
	growth := fs.Float64("growth", DefaultPlanSearch.Growth, "rate multiplier per step until the SLO is missed")
	bisect := fs.Int("bisect", DefaultPlanSearch.BisectSteps, "bisection steps after the first missed step")
	retries := fs.Int("retries", 1, "measure a step that missed the SLO again this often, keeping the better (noisy machines)")
	maxCores := fs.Int("max-cores", 0, "most cores the scaling run gives the gateway (0: all available)")
	mixSize := fs.Int("mix-size", 1000, "length of the replayed request list (shares are rounded to 1/N)")
	conns := fs.Int("connections", 0, "most requests in flight (0: from the rate and the slowest logged backend time)")
	maxTime := fs.Duration("max-time", 2*time.Hour, "abort after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected arguments %q", fs.Args())
	}
	if *config == "" || *replay == "" || !(*peak > 0) {
		return usageErr("need -config FILE, -replay ACCESS.LOG and -peak RPS > 0")
	}
	if *sloP99 <= 0 || *sloErrors < 0 || *sloErrors > 100 {
		return usageErr("need -slo-p99 > 0 and 0 <= -slo-errors <= 100")
	}
	if !(*headroom > 0 && *headroom <= 1) || *coresPerNode < 1 || *maxCores < 0 || *conns < 0 || *retries < 0 || *retries > 5 {
		return usageErr("need 0 < -headroom <= 1, -cores-per-node >= 1, -max-cores >= 0, -connections >= 0, 0 <= -retries <= 5")
	}
	search := DefaultPlanSearch
	search.StepDuration, search.StepWarmup = *step, *warmup
	search.StartRate, search.MaxRate, search.Growth, search.BisectSteps = *startRate, *maxRate, *growth, *bisect
	search.Connections = *conns
	if *warmup < 0 {
		return usageErr("need -warmup >= 0")
	}
	if err := search.validate(); err != nil {
		return usageErr("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *maxTime)
	defer cancel()
	res, err := PlanCapacityFromLog(ctx, PlanOptions{
		Config: *config, Replay: *replay, Peak: *peak,
		SLO:          SLO{P99: *sloP99, MaxErrorRate: *sloErrors / 100},
		CoresPerNode: *coresPerNode, Headroom: *headroom, OutDir: *outDir, GatewayBin: *gateway,
		Search: search, MaxCores: *maxCores, MixSize: *mixSize, Retries: *retries, PinHarness: true,
		Log: stderr, Progress: stderr,
	})
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, res.Summary())
	return nil
}
