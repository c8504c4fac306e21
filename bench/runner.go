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
	// TargetFloor is the fasthttp floor: a minimal reverse proxy with no
	// policy, tuned as the gateway (floor.go).
	TargetFloor = "floor"
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
	// NoFloor leaves out the fasthttp floor (floor.go).
	NoFloor bool
	// FloorBin is a binary whose "floor" command runs the floor (default:
	// this program, os.Executable(), which is sluice-bench; a test sets
	// its own binary).
	FloorBin string
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
	name    string
	addr    string
	proc    *Proc  // nil for direct
	release func() // frees what the target held besides its process, or nil
}

// stop stops the target's process and frees what it held.
func (t liveTarget) stop() {
	if t.proc != nil {
		t.proc.Stop()
	}
	if t.release != nil {
		t.release()
	}
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
	if res.Plan.Total == 0 {
		// No target can run anything: report the reasons, start nothing.
		for _, sc := range scenarios {
			res.Scenarios = append(res.Scenarios, r.runScenario(ctx, sc))
		}
		res.Goals = ComputeGoals(res)
		res.Finished = time.Now().UTC()
		return res, nil
	}
	r.origin, err = opts.StartOrigin("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: start origin: %w", err)
	}
	defer closeOrigin(r.origin, r.log)
	if err := CheckLoopbackAddr(r.origin.Addr()); err != nil {
		return nil, err
	}
	steal0, stealErr := ReadCPUTimes()

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
		if opts.Preset.HalfRate && ctx.Err() == nil {
			res.HalfRate = r.runHalfRate(ctx, rep)
		}
	}
	if len(res.Scenarios) > 0 {
		res.Goals = ComputeGoals(res)
		if opts.Preset.ProfileMissed && ctx.Err() == nil {
			r.profileMissed(ctx, res.Goals)
		}
	}
	if steal1, err := ReadCPUTimes(); err == nil && stealErr == nil {
		if pct, ok := StealPercent(steal0, steal1); ok {
			res.StealPercent = &pct
		}
	}
	res.Finished = time.Now().UTC()
	return res, nil
}

// closeOrigin closes o, giving up after 5 s: fasthttp's Shutdown can wait
// forever when it races the server's start (a run that measured nothing),
// and a stuck close must not hang the harness after its work is done.
func closeOrigin(o Origin, log io.Writer) {
	done := make(chan struct{})
	go func() {
		o.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		fmt.Fprintln(log, "origin did not shut down within 5s; left to exit with the process")
	}
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
		if b := r.baseline(sc); b != nil && r.gatewayReason(b) == "" {
			ts = append(ts, BaselineTarget(sc))
		}
	}
	if r.floorApplies(sc) && r.floorReason(sc) == "" {
		ts = append(ts, TargetFloor)
	}
	if sc.Peers {
		for _, name := range r.opts.Peers {
			pe, _ := PeerByName(name)
			if _, err := pe.Lookup(); err == nil {
				ts = append(ts, name)
			}
		}
	}
	if r.wantDirect(sc, len(ts)) {
		ts = append(ts, TargetDirect)
	}
	return ts
}

// wantDirect reports whether the direct ceiling runs beside other targets:
// not alone (a scenario no proxy can run measures nothing), not in a
// baseline comparison (the reference there is the baseline gateway), and
// not with idle connections: the in-process origin would hold both ends of
// every one, twice the descriptors, and an origin that runs out stops
// accepting for the rest of the run.
func (r *runner) wantDirect(sc *Scenario, others int) bool {
	return !r.opts.NoDirect && others > 0 && sc.Baseline == "" && sc.IdleConns == 0
}

// baseline returns sc's baseline scenario, or nil.
func (r *runner) baseline(sc *Scenario) *Scenario {
	if sc.Baseline == "" {
		return nil
	}
	b, err := ScenarioByName(sc.Baseline)
	if err != nil {
		panic("BUG: scenario " + sc.Name + " has unknown baseline " + sc.Baseline)
	}
	return b
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
		// The floor's capacity is not a plan anyone needs; it joins the
		// search only when asked for by name.
		return withoutTarget(avail, TargetFloor)
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
	defer stopAll(live)
	reps := scenarioReps(r.opts.Preset, sc)
	out.Reference = r.referenceFor(sc, live)
	if timeSliced(r.opts.Preset, sc) && len(live) >= 2 && out.Reference != "" {
		out.Targets = append(r.measureTimeSliced(ctx, sc, live, reps, out.Reference), skipped...)
	} else {
		out.Targets = append(r.measure(ctx, sc, live, reps, out.Reference, nil), skipped...)
	}
	addFloorRatios(out.Targets)
	if len(live) == 0 {
		out.Skipped = "no target could run this scenario"
	}
	return out
}

// stopAll stops the targets.
func stopAll(live []liveTarget) {
	for _, t := range live {
		t.stop()
	}
}

// measure runs reps interleaved repetitions of sc on the live targets
// (A B C C B A A B C ...), then takes medians and ratios against ref. mod, when
// set, adjusts each run's load (open loop for the half-rate runs).
func (r *runner) measure(ctx context.Context, sc *Scenario, live []liveTarget, reps int, ref string, mod func(*LoadConfig)) []TargetResult {
	results := newTargetResults(live)
	for rep := 0; rep < reps && ctx.Err() == nil; rep++ {
		for i := range live {
			// A B C, then C B A: a drift that is linear over two reps hits
			// every target alike, not the one that always runs last.
			j := i
			if rep%2 == 1 {
				j = len(live) - 1 - i
			}
			run := r.runOnce(ctx, sc, live[j], rep, mod)
			r.logRun(rep, live[j].name, run, "")
			results[j].Runs = append(results[j].Runs, run)
		}
	}
	summarize(results, ref)
	return results
}

// newTargetResults returns one empty result per live target, in order.
func newTargetResults(live []liveTarget) []TargetResult {
	results := make([]TargetResult, len(live))
	for i, t := range live {
		results[i].Target = t.name
	}
	return results
}

// logRun prints one repetition's figures; how, when set, says how it ran.
func (r *runner) logRun(rep int, name string, run RunFigures, how string) {
	if run.Failed != "" {
		fmt.Fprintf(r.log, "  rep %d %-14s failed: %s\n", rep+1, name, run.Failed)
		return
	}
	if how != "" {
		how = " (" + how + ")"
	}
	fmt.Fprintf(r.log, "  rep %d %-14s %9.0f rps  p50 %-9v p99 %-9v cpu %7.2f µs/req  errors %d%s\n",
		rep+1, name, run.Throughput, run.P50, run.P99, run.CPUPerRequestUS, run.Errors, how)
}

// summarize takes each target's medians and, unless ref is empty, its
// median per-repetition ratios against ref.
func summarize(results []TargetResult, ref string) {
	var refRuns []RunFigures
	for i := range results {
		if results[i].Target == ref {
			refRuns = results[i].Runs
		}
	}
	for i := range results {
		results[i].Median = medianFigures(results[i].Runs)
		if ref != "" && results[i].Target != ref {
			results[i].VsReference = pairRatios(results[i].Runs, refRuns, ref)
		}
	}
}

// referenceFor picks the reference among the started targets: the
// baseline gateway in a baseline comparison, else the -reference target,
// else direct.
func (r *runner) referenceFor(sc *Scenario, live []liveTarget) string {
	has := func(name string) bool {
		for _, t := range live {
			if t.name == name {
				return true
			}
		}
		return false
	}
	switch {
	case sc.Baseline != "":
		if has(BaselineTarget(sc)) {
			return BaselineTarget(sc)
		}
		return ""
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
	} else if t, err := r.startGateway(ctx, sc, dir, TargetSluice, r.profilePath(sc.Name)); err != nil {
		skip(TargetSluice, err.Error())
	} else {
		live = append(live, t)
		if b := r.baseline(sc); b != nil {
			name := BaselineTarget(sc)
			if reason := r.gatewayReason(b); reason != "" {
				skip(name, reason)
			} else if t, err := r.startGateway(ctx, b, dir, name, ""); err != nil {
				skip(name, err.Error())
			} else {
				live = append(live, t)
			}
		}
	}
	if r.floorApplies(sc) {
		if reason := r.floorReason(sc); reason != "" {
			skip(TargetFloor, reason)
		} else if t, err := r.startFloor(ctx, dir); err != nil {
			skip(TargetFloor, err.Error())
		} else {
			live = append(live, t)
		}
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
	if !sc.Peers && len(r.opts.Peers) > 0 && sc.Baseline == "" {
		skipped = append(skipped, TargetResult{Target: "peers", Skipped: "no equivalent peer configuration for this scenario"})
	}
	if r.wantDirect(sc, len(live)) {
		live = append(live, liveTarget{name: TargetDirect, addr: r.origin.Addr()})
	}
	return live, skipped
}

// profilePath is where -cpuprofile-dir puts the gateway's profile of a
// scenario, or "" when profiling every scenario is off.
func (r *runner) profilePath(scenario string) string {
	if r.opts.CPUProfileDir == "" {
		return ""
	}
	return filepath.Join(r.opts.CPUProfileDir, "sluice-"+scenario+".pprof")
}

// startGateway renders the gateway config for sc and starts the gateway as
// target name, in its own directory under dir; profile, when set, is passed
// as -cpuprofile (written when the gateway exits).
func (r *runner) startGateway(ctx context.Context, sc *Scenario, dir, name, profile string) (t liveTarget, err error) {
	gdir := filepath.Join(dir, name)
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
	// Held for the target's life: a dead log sink stays dead.
	refused, err := ReserveRefusedAddr()
	if err != nil {
		return liveTarget{}, err
	}
	defer func() {
		if err != nil {
			refused.Close()
		}
	}()
	params := GatewayParams{
		Listen: listen, AdminListen: admin, Origin: r.origin.Addr(), PoolSize: 1024,
		ExtraAPIs: sc.ExtraAPIs, Features: sc.Features, Dir: gdir, RefusedAddr: refused.Addr(),
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
	if profile != "" {
		if err := os.MkdirAll(filepath.Dir(profile), 0o755); err != nil {
			return liveTarget{}, err
		}
		abs, err := filepath.Abs(profile)
		if err != nil {
			return liveTarget{}, err
		}
		argv = append(argv, "-cpuprofile", abs)
	}
	spec := ProcSpec{
		Name:         TargetSluice,
		Argv:         argv,
		Env:          []string{"GOMAXPROCS=1"},
		Dir:          gdir,
		Ready:        HTTPReady(admin, "/readyz"),
		ReadyTimeout: 30 * time.Second,
	}
	if profile != "" {
		// The profile is written at a clean exit: wait out the gateway's
		// own shutdown bound (30s) rather than SIGKILL it after 5s; a
		// dead log sink's retries can hold shutdown for seconds.
		spec.StopGrace = 35 * time.Second
	}
	proc, err := StartProc(ctx, spec, r.plan)
	if err != nil {
		return liveTarget{}, fmt.Errorf("gateway did not start with the generated config: %w", err)
	}
	return liveTarget{name: name, addr: listen, proc: proc, release: func() { refused.Close() }}, nil
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
	p, err := NewPeerParams(listen, r.origin.Addr(), pdir, sc.PeerJob())
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
		if fc.ExpectStatus != 0 && strings.HasPrefix(t.name, TargetSluice) {
			cfg.ExpectStatus = fc.ExpectStatus
		}
	}
	return cfg, nil
}

// runOnce runs one repetition of sc on t and reads the target's CPU and
// memory around the measured phase.
func (r *runner) runOnce(ctx context.Context, sc *Scenario, t liveTarget, rep int, mod func(*LoadConfig)) RunFigures {
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
	if mod != nil {
		mod(&cfg)
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
