package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Origin is the origin stub the targets proxy to (package bench/origin
// implements it; tests use their own). Safe for concurrent use.
type Origin interface {
	Addr() string
	Close() error
	Requests() uint64
}

// OriginStarter starts an origin listening on addr ("127.0.0.1:0" for any port).
type OriginStarter func(addr string) (Origin, error)

// Target names besides the peers.
const (
	TargetSluice = "sluice"
	TargetDirect = "direct"
)

// RunOptions configure Run.
type RunOptions struct {
	// Preset is the run plan (required).
	Preset Preset
	// Scenarios, when set, replaces the preset's scenario list.
	Scenarios []string
	// GatewayBin is the built gateway binary (default ./bin/sluice).
	GatewayBin string
	// Peers are the peer names to include (default all of Peers).
	Peers []string
	// NoDirect leaves out the direct-to-origin ceiling.
	NoDirect bool
	// Reference is the target ratios are computed against (default nginx,
	// falling back to direct when nginx did not run).
	Reference string
	// SLO is the capacity search's objective.
	SLO SLO
	// Peak, CoresPerNode and Headroom feed the capacity plan (Peak 0: no plan).
	Peak         float64
	CoresPerNode int
	Headroom     float64
	// NoCapacity skips the capacity search.
	NoCapacity bool
	// OutDir receives charts (default bench/results).
	OutDir string
	// CPUProfileDir, when set, passes -cpuprofile to the gateway, one file
	// per scenario.
	CPUProfileDir string
	// KeepTemp keeps the generated configs and logs for inspection.
	KeepTemp bool
	// DryRun prints the plan and returns results holding only the plan.
	DryRun bool
	// StartOrigin starts the origin stub (required).
	StartOrigin OriginStarter
	// Log receives progress lines (default io.Discard).
	Log io.Writer
}

// runner carries one Run's state.
type runner struct {
	opts   RunOptions
	plan   CPUPlan
	cpus   int
	origin Origin
	log    io.Writer
}

// liveTarget is a started target for one scenario.
type liveTarget struct {
	name string
	addr string
	proc *Proc // nil for direct
}

// Run executes opts.Preset: it pins itself, starts the origin, runs every
// scenario on every available target with interleaved repetitions, runs the
// capacity search and returns the results. The plan is printed to opts.Log
// before anything runs.
func Run(ctx context.Context, opts RunOptions) (*Results, error) {
	r, scenarios, err := newRunner(opts)
	if err != nil {
		return nil, err
	}
	opts = r.opts
	res := &Results{
		Schema:  resultsSchema,
		Started: time.Now().UTC(),
		Preset:  opts.Preset,
		CPU:     r.plan,
		Host:    hostInfo(r.cpus, opts.GatewayBin),
	}
	capTargets := r.capacityTargets()
	if opts.NoCapacity {
		capTargets = nil
	}
	res.Plan = BuildPlan(opts.Preset, scenarios, r.plannedTargets, capTargets)
	fmt.Fprintf(r.log, "cpus: %s\n", r.plan)
	res.Plan.Print(r.log)
	if opts.DryRun {
		return res, nil
	}

	if r.plan.Pinned {
		// Restore the caller's CPUs when done: Run may be one step of a
		// longer program (or a test binary).
		allowed, procs := append(append([]int(nil), r.plan.Harness...), r.plan.Target), runtime.GOMAXPROCS(0)
		defer func() {
			_ = PinSelf(allowed)
			runtime.GOMAXPROCS(procs)
		}()
		if err := PinSelf(r.plan.Harness); err != nil {
			return nil, err
		}
	}
	if opts.StartOrigin == nil {
		return nil, errors.New("bench: RunOptions.StartOrigin is required")
	}
	r.origin, err = opts.StartOrigin("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: start origin: %w", err)
	}
	defer r.origin.Close()
	if err := CheckLoopbackAddr(r.origin.Addr()); err != nil {
		return nil, err
	}

	for _, sc := range scenarios {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res.Scenarios = append(res.Scenarios, r.runScenario(ctx, sc))
	}
	if !opts.NoCapacity && opts.Preset.Capacity.Scenario != "" {
		rep, err := r.runCapacity(ctx, capTargets)
		if err != nil {
			return nil, err
		}
		res.Capacity = rep
	}
	res.Finished = time.Now().UTC()
	return res, nil
}

// newRunner fills defaults into opts and resolves the scenarios.
func newRunner(opts RunOptions) (*runner, []*Scenario, error) {
	if opts.Preset.Reps < 1 || opts.Preset.Duration <= 0 {
		return nil, nil, fmt.Errorf("bench: preset %q needs reps >= 1 and a duration", opts.Preset.Name)
	}
	if opts.GatewayBin == "" {
		opts.GatewayBin = "./bin/sluice"
	}
	if opts.Peers == nil {
		for _, p := range Peers {
			opts.Peers = append(opts.Peers, p.Name)
		}
	}
	for _, name := range opts.Peers {
		if _, ok := PeerByName(name); !ok {
			return nil, nil, fmt.Errorf("bench: unknown peer %q", name)
		}
	}
	if opts.Reference == "" {
		opts.Reference = "nginx"
	}
	if opts.OutDir == "" {
		opts.OutDir = "bench/results"
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Headroom == 0 {
		opts.Headroom = 0.7
	}
	if opts.CoresPerNode == 0 {
		opts.CoresPerNode = 8
	}
	if opts.SLO.P99 == 0 {
		opts.SLO = SLO{P99: 10 * time.Millisecond, MaxErrorRate: 0.001}
	}
	names := opts.Scenarios
	if len(names) == 0 {
		names = opts.Preset.Scenarios
	}
	var scenarios []*Scenario
	for _, n := range names {
		sc, err := ScenarioByName(n)
		if err != nil {
			return nil, nil, err
		}
		scenarios = append(scenarios, sc)
	}
	allowed, err := AllowedCPUs()
	if err != nil {
		return nil, nil, err
	}
	return &runner{opts: opts, plan: PlanCPUs(allowed), cpus: len(allowed), log: opts.Log}, scenarios, nil
}

// EstimateRun returns the plan's time upper bound for opts without running.
func EstimateRun(opts RunOptions) (time.Duration, error) {
	r, scenarios, err := newRunner(opts)
	if err != nil {
		return 0, err
	}
	caps := r.capacityTargets()
	if r.opts.NoCapacity {
		caps = nil
	}
	return BuildPlan(r.opts.Preset, scenarios, r.plannedTargets, caps).Total, nil
}

// plannedTargets lists the targets a scenario will try, for the plan.
func (r *runner) plannedTargets(sc *Scenario) []string {
	var ts []string
	if r.gatewayReason(sc) == "" {
		ts = append(ts, TargetSluice)
	}
	if sc.Peers {
		for _, name := range r.opts.Peers {
			pe, _ := PeerByName(name)
			if _, err := pe.Lookup(); err == nil {
				ts = append(ts, name)
			}
		}
	}
	if !r.opts.NoDirect {
		ts = append(ts, TargetDirect)
	}
	return ts
}

// capacityTargets lists the targets of the capacity search that can run.
func (r *runner) capacityTargets() []string {
	sc, err := ScenarioByName(r.opts.Preset.Capacity.Scenario)
	if err != nil {
		return nil
	}
	avail := r.plannedTargets(sc)
	want := r.opts.Preset.CapacityTargets
	if len(want) == 0 {
		return avail
	}
	var ts []string
	for _, t := range avail {
		for _, w := range want {
			if t == w {
				ts = append(ts, t)
			}
		}
	}
	return ts
}

// gatewayReason says why the gateway cannot run sc, or "" if it can.
func (r *runner) gatewayReason(sc *Scenario) string {
	if st, err := os.Stat(r.opts.GatewayBin); err != nil || !st.Mode().IsRegular() {
		return fmt.Sprintf("gateway binary %s not found (build it first: make build)", r.opts.GatewayBin)
	}
	if missing := MissingFeatures(sc.Features); len(missing) > 0 {
		s := make([]string, len(missing))
		for i, f := range missing {
			s[i] = string(f)
		}
		return "needs feature " + strings.Join(s, ", ") + " (not in the gateway yet; no config block in bench/gatewayconf.go)"
	}
	return ""
}

// runScenario starts the scenario's targets, runs the interleaved
// repetitions and stops the targets.
func (r *runner) runScenario(ctx context.Context, sc *Scenario) ScenarioResult {
	out := ScenarioResult{Scenario: *sc}
	fmt.Fprintf(r.log, "scenario %s: %s\n", sc.Name, sc.Title)
	dir, err := os.MkdirTemp("", "sluice-bench-"+sc.Name+"-")
	if err != nil {
		out.Skipped = err.Error()
		return out
	}
	if !r.opts.KeepTemp {
		defer os.RemoveAll(dir)
	} else {
		fmt.Fprintf(r.log, "  configs and logs kept in %s\n", dir)
	}

	live, skipped := r.startTargets(ctx, sc, dir)
	defer func() {
		for _, t := range live {
			if t.proc != nil {
				t.proc.Stop()
			}
		}
	}()
	results := make(map[string]*TargetResult, len(live))
	for _, t := range live {
		results[t.name] = &TargetResult{Target: t.name}
	}
	reps := r.opts.Preset.Reps
	if sc.Reps > 0 {
		reps = min(reps, sc.Reps)
	}
	for rep := 0; rep < reps && ctx.Err() == nil; rep++ {
		for _, t := range live {
			run := r.runOnce(ctx, sc, t, rep)
			if run.Failed != "" {
				fmt.Fprintf(r.log, "  rep %d %-8s failed: %s\n", rep+1, t.name, run.Failed)
			} else {
				fmt.Fprintf(r.log, "  rep %d %-8s %9.0f rps  p50 %-9v p99 %-9v cpu %7.2f µs/req  errors %d\n",
					rep+1, t.name, run.Throughput, run.P50, run.P99, run.CPUPerRequestUS, run.Errors)
			}
			results[t.name].Runs = append(results[t.name].Runs, run)
		}
	}
	out.Reference = r.referenceFor(live)
	for _, t := range live {
		tr := results[t.name]
		tr.Median = medianFigures(tr.Runs)
		if out.Reference != "" && t.name != out.Reference {
			tr.VsReference = pairRatios(tr.Runs, results[out.Reference].Runs, out.Reference)
		}
		out.Targets = append(out.Targets, *tr)
	}
	out.Targets = append(out.Targets, skipped...)
	if len(live) == 0 {
		out.Skipped = "no target could run this scenario"
	}
	return out
}

// referenceFor picks the reference among the started targets.
func (r *runner) referenceFor(live []liveTarget) string {
	has := func(name string) bool {
		for _, t := range live {
			if t.name == name {
				return true
			}
		}
		return false
	}
	switch {
	case has(r.opts.Reference):
		return r.opts.Reference
	case has(TargetDirect):
		return TargetDirect
	}
	return ""
}

// startTargets starts the gateway, the peers (when the scenario allows a
// fair comparison) and the direct target; it returns those that run and,
// as skipped results, those that could not, with the reason.
func (r *runner) startTargets(ctx context.Context, sc *Scenario, dir string) ([]liveTarget, []TargetResult) {
	var live []liveTarget
	var skipped []TargetResult
	skip := func(name, reason string) {
		fmt.Fprintf(r.log, "  %-8s skipped: %s\n", name, reason)
		skipped = append(skipped, TargetResult{Target: name, Skipped: reason})
	}
	if reason := r.gatewayReason(sc); reason != "" {
		skip(TargetSluice, reason)
	} else if t, err := r.startGateway(ctx, sc, dir); err != nil {
		skip(TargetSluice, err.Error())
	} else {
		live = append(live, t)
	}
	for _, name := range r.opts.Peers {
		if !sc.Peers {
			break
		}
		pe, _ := PeerByName(name)
		if t, err := r.startPeer(ctx, pe, sc, dir); err != nil {
			skip(name, err.Error())
		} else {
			live = append(live, t)
		}
	}
	if !sc.Peers && len(r.opts.Peers) > 0 {
		skipped = append(skipped, TargetResult{Target: "peers", Skipped: "no equivalent plain-proxy configuration for this scenario"})
	}
	if !r.opts.NoDirect {
		live = append(live, liveTarget{name: TargetDirect, addr: r.origin.Addr()})
	}
	return live, skipped
}

// startGateway renders the gateway config for sc and starts the gateway.
func (r *runner) startGateway(ctx context.Context, sc *Scenario, dir string) (liveTarget, error) {
	gdir := filepath.Join(dir, TargetSluice)
	if err := os.MkdirAll(gdir, 0o755); err != nil {
		return liveTarget{}, err
	}
	listen, err := FreeAddr()
	if err != nil {
		return liveTarget{}, err
	}
	admin, err := FreeAddr()
	if err != nil {
		return liveTarget{}, err
	}
	params := GatewayParams{
		Listen: listen, AdminListen: admin, Origin: r.origin.Addr(), PoolSize: 1024,
		ExtraAPIs: sc.ExtraAPIs, Features: sc.Features, Dir: gdir,
	}
	conf, err := RenderGatewayConfig(params)
	if err != nil {
		return liveTarget{}, err
	}
	confPath := filepath.Join(gdir, "sluice.toml")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		return liveTarget{}, err
	}
	bin, err := filepath.Abs(r.opts.GatewayBin)
	if err != nil {
		return liveTarget{}, err
	}
	argv := []string{bin, "run", "-config", confPath}
	if r.opts.CPUProfileDir != "" {
		if err := os.MkdirAll(r.opts.CPUProfileDir, 0o755); err != nil {
			return liveTarget{}, err
		}
		prof, err := filepath.Abs(filepath.Join(r.opts.CPUProfileDir, "sluice-"+sc.Name+".pprof"))
		if err != nil {
			return liveTarget{}, err
		}
		argv = append(argv, "-cpuprofile", prof)
	}
	proc, err := StartProc(ctx, ProcSpec{
		Name:         TargetSluice,
		Argv:         argv,
		Env:          []string{"GOMAXPROCS=1"},
		Dir:          gdir,
		Ready:        HTTPReady(admin, "/readyz"),
		ReadyTimeout: 30 * time.Second,
	}, r.plan)
	if err != nil {
		return liveTarget{}, fmt.Errorf("gateway did not start with the generated config: %w", err)
	}
	return liveTarget{name: TargetSluice, addr: listen, proc: proc}, nil
}

// startPeer writes the peer's config for sc and starts it.
func (r *runner) startPeer(ctx context.Context, pe Peer, sc *Scenario, dir string) (liveTarget, error) {
	bin, err := pe.Lookup()
	if err != nil {
		return liveTarget{}, err
	}
	pdir := filepath.Join(dir, pe.Name)
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		return liveTarget{}, err
	}
	listen, err := FreeAddr()
	if err != nil {
		return liveTarget{}, err
	}
	p, err := NewPeerParams(listen, r.origin.Addr(), pdir, sc.AccessLog)
	if err != nil {
		return liveTarget{}, err
	}
	conf, err := pe.WriteConfig(p)
	if err != nil {
		return liveTarget{}, err
	}
	proc, err := StartProc(ctx, pe.Spec(bin, conf, p), r.plan)
	if err != nil {
		return liveTarget{}, err
	}
	return liveTarget{name: pe.Name, addr: listen, proc: proc}, nil
}

// loadConfig builds the closed-loop load of sc against t.
func (r *runner) loadConfig(sc *Scenario, t liveTarget) (LoadConfig, error) {
	cfg := LoadConfig{
		Addr:            t.addr,
		Method:          sc.Method,
		Paths:           sc.Paths(),
		Body:            sc.Body(),
		Mode:            ClosedLoop,
		Connections:     r.opts.Preset.Connections,
		ExpectBodyBytes: sc.ExpectBodyBytes(),
	}
	if t.name == TargetDirect && sc.PathCount > 1 {
		// The origin answers any path; the extra-API paths are gateway routes.
		cfg.Paths = []string{sc.Path}
	}
	// Authentication material goes to every target so the load generator's
	// work is the same whichever target it drives.
	for _, f := range sc.Features {
		fc, ok := GatewayFeatures[f]
		if !ok {
			continue
		}
		p := GatewayParams{Origin: r.origin.Addr()}
		if fc.Headers != nil {
			cfg.Headers = append(cfg.Headers, fc.Headers(p)...)
		}
		if fc.NewSigner != nil {
			s, err := fc.NewSigner(p)
			if err != nil {
				return cfg, err
			}
			cfg.Sign = s
		}
		if fc.ExpectStatus != 0 && t.name == TargetSluice {
			cfg.ExpectStatus = fc.ExpectStatus
		}
	}
	return cfg, nil
}

// runOnce runs one repetition of sc on t and reads the target's CPU and
// memory around the measured phase.
func (r *runner) runOnce(ctx context.Context, sc *Scenario, t liveTarget, rep int) RunFigures {
	out := RunFigures{Rep: rep + 1}
	fail := func(err error) RunFigures {
		out.Failed = err.Error()
		return out
	}
	if t.proc != nil && !t.proc.Alive() {
		return fail(fmt.Errorf("%s exited: %s", t.name, t.proc.StderrTail(300)))
	}
	cfg, err := r.loadConfig(sc, t)
	if err != nil {
		return fail(err)
	}
	if sc.IdleConns > 0 {
		var before MemSample
		if t.proc != nil {
			before, _ = SampleMem(t.proc.PID())
		}
		idle, err := OpenIdleConns(ctx, t.addr, "", cfg.Paths[0], sc.IdleConns, 60*time.Second)
		if err != nil {
			return fail(err)
		}
		defer idle.Close()
		if t.proc != nil {
			time.Sleep(100 * time.Millisecond) // let the target finish its bookkeeping
			after, err := SampleMem(t.proc.PID())
			if err == nil && after.RSS > before.RSS {
				out.IdleConnBytes = float64(after.RSS-before.RSS) / float64(idle.Len())
			}
		}
	}
	if r.opts.Preset.Warmup > 0 {
		w := cfg
		w.Duration = r.opts.Preset.Warmup
		if _, err := RunLoad(ctx, w); err != nil {
			return fail(err)
		}
	}
	var cpu0 CPUSample
	if t.proc != nil {
		if cpu0, err = SampleCPU(t.proc.PID()); err != nil {
			return fail(err)
		}
	}
	cfg.Duration = r.opts.Preset.Duration
	res, err := RunLoad(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	var cpu time.Duration
	var mem MemSample
	if t.proc != nil {
		cpu1, err := SampleCPU(t.proc.PID())
		if err != nil {
			return fail(fmt.Errorf("%s: %w (exited? %s)", t.name, err, t.proc.StderrTail(300)))
		}
		cpu = cpu1.Since(cpu0)
		mem, _ = SampleMem(t.proc.PID())
	}
	idleBytes := out.IdleConnBytes
	out.Figures = figuresFrom(res, cpu, mem)
	out.IdleConnBytes = idleBytes
	out.Load = res
	return out
}

// hostInfo describes this machine and the gateway binary.
func hostInfo(cpus int, gatewayBin string) HostInfo {
	h := HostInfo{CPUs: cpus, GoVersion: runtime.Version(), GatewayBinary: gatewayBin}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	if _, err := os.Stat(gatewayBin); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, gatewayBin, "version").Output(); err == nil {
			h.GatewayVersion = strings.TrimSpace(string(out))
		}
	}
	return h
}
