package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/sluicegw/sluice/bench/origin"
	"github.com/sluicegw/sluice/policy"
	"github.com/valyala/fasthttp"
)

// PlanOptions are the inputs of `sluice-bench plan`: a capacity plan for the
// operator's own config and traffic.
type PlanOptions struct {
	// Config is the operator's gateway config, Replay its access log (plain
	// or gzip).
	Config, Replay string
	// Peak is the request rate to plan for (requests/s, > 0).
	Peak float64
	// SLO is what every accepted load step must hold.
	SLO SLO
	// CoresPerNode are the cores of one node given to the gateway.
	CoresPerNode int
	// Headroom is the fraction of measured capacity planned to be used.
	Headroom float64
	// OutDir receives plan.md, plan.json, the chart and the mix-check log.
	OutDir string
	// GatewayBin is the sluice binary.
	GatewayBin string
	// Search tunes each capacity search (rates, step length, bisection).
	Search CapacitySpec
	// MaxCores caps the cores the scaling runs give the gateway (0: all
	// this process may use).
	MaxCores int
	// Retries is how often a step that missed the SLO is measured again
	// before it counts as missed (default 0; the command's -retries is 1).
	Retries int
	// MixSize is the length of the replayed request list (default 1000):
	// each kind of request gets round(share x MixSize) entries.
	MixSize int
	// PinHarness pins the load generator and origin off the gateway's CPUs
	// while the gateway runs on fewer than all of them. Tests leave it off:
	// they share the test process with other tests.
	PinHarness bool
	// Log gets the step-by-step figures; Progress the one-line progress
	// indicator (overwritten with \r on a terminal). Either may be nil.
	Log, Progress io.Writer
}

// PlanCoreRun is the capacity search with the gateway on Cores cores.
type PlanCoreRun struct {
	Cores int            `json:"cores"`
	CPUs  []int          `json:"cpus"`
	Found CapacityResult `json:"capacity"`
	// PerCore is Found.Sustainable / Cores.
	PerCore float64 `json:"per_core_rps"`
	// Shared is true when the gateway had every CPU of the machine, so the
	// load generator and origin ran on its cores.
	Shared bool `json:"shared_with_generator"`
	// CPUPerRequestUS is the gateway's CPU time per request at the
	// sustainable rate; CPUBound = Cores / that: the rate at which the
	// gateway's cores would be busy, a cross-check on a latency-bound
	// figure taken on a noisy machine (not used by the plan).
	CPUPerRequestUS float64 `json:"cpu_us_per_request,omitempty"`
	CPUBound        float64 `json:"cpu_bound_rps,omitempty"`
	// CPUWait[i] is, for Found.Points[i], the time the gateway's threads
	// spent runnable but waiting for a CPU, as a fraction of the step (-1:
	// unknown). The gateway's own threads queue behind each other too, but
	// a step that misses the SLO with the gateway's CPU far from busy and
	// long waits lost its CPU to other work on the machine.
	CPUWait []float64 `json:"cpu_wait_fraction"`
}

// runQueueWait is the time all threads of pid spent runnable but not
// running (the second field of /proc/PID/task/TID/schedstat).
func runQueueWait(pid int) (time.Duration, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited meanwhile
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			return 0, errors.New("bench: malformed schedstat")
		}
		ns, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, errors.New("bench: malformed schedstat")
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

// betterPoint reports whether q is a better measurement than p of the same
// step: it meets the SLO where p does not, or has the lower p99.
func betterPoint(slo SLO, q, p CapacityPoint) bool {
	if slo.Met(q) != slo.Met(p) {
		return slo.Met(q)
	}
	return q.P99 < p.P99
}

// MixRow compares one API's share in the log with its share in the replay
// as the replaying gateway logged it.
type MixRow struct {
	API      string  `json:"api"`
	Logged   float64 `json:"logged_share"`
	Replayed float64 `json:"replayed_share"`
	// DiffPP is Replayed - Logged in percentage points.
	DiffPP float64 `json:"diff_pp"`
}

// PlanArithmetic is the plan's sizing.
type PlanArithmetic struct {
	PerCore      float64 `json:"per_core_rps"`
	Peak         float64 `json:"peak_rps"`
	Headroom     float64 `json:"headroom"`
	CoresPerNode int     `json:"cores_per_node"`
	// Cores = ceil(Peak / (PerCore x Headroom));
	// Nodes = ceil(Peak / (PerCore x CoresPerNode x Headroom)).
	Cores int `json:"cores"`
	Nodes int `json:"nodes"`
}

// PlanResult is everything a plan measured and decided.
type PlanResult struct {
	Options  PlanOptions    `json:"-"`
	Mix      *TrafficMix    `json:"mix"`
	MixCheck []MixRow       `json:"mix_check"`
	MaxDiff  float64        `json:"mix_max_diff_pp"`
	Statuses map[string]int `json:"replayed_statuses"`
	Runs     []PlanCoreRun  `json:"runs"`
	// Scaling is capacity on all measured cores over capacity on one core;
	// Efficiency is Scaling / cores.
	Scaling    float64 `json:"scaling"`
	Efficiency float64 `json:"efficiency"`
	// PerCoreBasis says which measurement the plan's per-core figure is.
	PerCoreBasis string         `json:"per_core_basis"`
	Plan         PlanArithmetic `json:"plan"`
	Notes        []string       `json:"notes"`
	Charts       []string       `json:"charts"`
	Report       string         `json:"report"`
	JSON         string         `json:"json"`
	MixLog       string         `json:"mix_check_log"`
	CPUs         int            `json:"machine_cpus"`
	Started      time.Time      `json:"started"`
	Took         time.Duration  `json:"took_ns"`
}

// DefaultPlanSearch is the capacity search of a plan: it starts low, since
// a config with slow backends or heavy policies may sustain little, and
// bisects to 2%.
var DefaultPlanSearch = CapacitySpec{
	Scenario: "replay", StartRate: 250, Growth: 2, MaxRate: 400_000,
	StepWarmup: time.Second, StepDuration: 5 * time.Second, BisectSteps: 5, Connections: 0,
}

// PlanCores returns ceil(peak / (perCore x headroom)) and
// ceil(peak / (perCore x coresPerNode x headroom)). A quotient within 1e-9
// (relative) of a whole number counts as that number: 0.7 has no exact
// binary form, and an exact multiple must not round up to one node more.
func PlanCores(perCore, peak, headroom float64, coresPerNode int) (PlanArithmetic, error) {
	a := PlanArithmetic{PerCore: perCore, Peak: peak, Headroom: headroom, CoresPerNode: coresPerNode}
	switch {
	case !(perCore > 0) || math.IsInf(perCore, 0):
		return a, fmt.Errorf("bench: per-core capacity %v: nothing met the SLO, no plan", perCore)
	case !(peak > 0) || math.IsInf(peak, 0):
		return a, fmt.Errorf("bench: peak %v must be > 0", peak)
	case !(headroom > 0 && headroom <= 1):
		return a, fmt.Errorf("bench: headroom %v must be in (0, 1]", headroom)
	case coresPerNode < 1:
		return a, fmt.Errorf("bench: cores per node %d must be >= 1", coresPerNode)
	}
	a.Cores = ceilWhole(peak / (perCore * headroom))
	a.Nodes = ceilWhole(peak / (perCore * float64(coresPerNode) * headroom))
	return a, nil
}

func ceilWhole(x float64) int {
	if r := math.Round(x); math.Abs(x-r) <= 1e-9*math.Max(1, math.Abs(x)) {
		return int(r)
	}
	return int(math.Ceil(x))
}

// coreCounts returns the core counts to measure: 1 and all of max.
func coreCounts(max int) []int {
	if max <= 1 {
		return []int{1}
	}
	return []int{1, max}
}

// PlanCapacityFromLog builds a capacity plan; see PlanOptions. It writes plan.md,
// plan.json and the latency charts into OutDir.
func PlanCapacityFromLog(ctx context.Context, opt PlanOptions) (*PlanResult, error) {
	if err := opt.normalize(); err != nil {
		return nil, err
	}
	res := &PlanResult{Options: opt, Started: time.Now(), Statuses: map[string]int{}}
	var prog *progress // set once the number of steps is known
	logf := func(format string, a ...any) { prog.logf(opt.Log, format, a...) }

	parsed, raw, err := loadOperatorConfig(opt.Config)
	if err != nil {
		return nil, err
	}
	creds := newReplayCreds(parsed.Config)
	// Render once up front: a mistake in the config (unknown key, bad
	// value) is reported at its line before the log is read.
	placeholders := make([]string, replayOriginCount(parsed.Config))
	for i := range placeholders {
		placeholders[i] = "127.0.0.1:" + strconv.Itoa(3+i)
	}
	if _, _, err := renderReplayConfig(parsed, raw, replayParams{Listen: "127.0.0.1:1", Admin: "127.0.0.1:2",
		Origins: placeholders, LogPath: filepath.Join(os.TempDir(), "sluice-plan-check.log")}, creds); err != nil {
		return nil, err
	}
	mix, err := DeriveMix(opt.Replay, func(r *LogRecord) error {
		if r.API == "" {
			return nil
		}
		stages, ok := creds.APIs[r.Group+"/"+r.API]
		if !ok {
			return fmt.Errorf("API %q of group %q is not in %s (its APIs: %s): the log and the config do not belong together",
				r.API, r.Group, opt.Config, creds.apiNames())
		}
		if r.Stage != "" && !contains(stages, r.Stage) {
			return fmt.Errorf("API %s/%s is not published to stage %s in %s", r.Group, r.API, r.Stage, opt.Config)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Mix = mix
	if mix.Records == 0 {
		return nil, fmt.Errorf("bench: %s has %d WebSocket tunnel records and no HTTP request: nothing to replay", opt.Replay, mix.Tunnels)
	}
	logf("plan: %d records of %s, %d APIs, %d kinds of request\n", mix.Records, opt.Replay, len(mix.APIs), len(mix.kinds))

	list, err := buildReplay(mix, creds, opt.MixSize)
	if err != nil {
		return nil, err
	}
	if mix.Tunnels > 0 {
		list.note("%d WebSocket tunnel records (status 101) are not replayed: the load generator opens no tunnels; the shares are of the %d HTTP requests",
			mix.Tunnels, mix.Records)
	}
	if mix.Folded > 0 {
		list.note("%d logged requests (%.2f%%) of consumers beyond the first %d kinds of request are replayed as an earlier consumer of the same API, stage, method, auth outcome and status",
			mix.Folded, 100*float64(mix.Folded)/float64(mix.Records), maxMixKinds)
	}
	if list.Dropped > 0 {
		list.note("%d logged requests (%.2f%%) belong to kinds too rare for one of the %d replayed requests and are not replayed",
			list.Dropped, 100*float64(list.Dropped)/float64(mix.Records), opt.MixSize)
	}

	origins, err := startReplayOrigins(parsed.Config)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, o := range origins {
			o.Close()
		}
	}()
	originAddrs := make([]string, len(origins))
	for i, o := range origins {
		originAddrs[i] = o.Addr()
	}
	work, err := os.MkdirTemp("", "sluice-plan-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	if err := os.MkdirAll(opt.OutDir, 0o755); err != nil {
		return nil, err
	}

	allowed, err := AllowedCPUs()
	if err != nil || len(allowed) == 0 {
		allowed = []int{0}
	}
	res.CPUs = len(allowed)
	maxCores := len(allowed)
	if opt.MaxCores > 0 {
		maxCores = min(maxCores, opt.MaxCores)
	}
	counts := coreCounts(maxCores)
	prog = newProgress(opt.Progress, 1+len(counts)*opt.Search.maxSteps())

	// The statuses a replay may answer without error: those the log has
	// (the origin answers with them), and 429: the replay runs the
	// config's limits at many times the logged rate with the logged
	// consumers only, which production's larger population would not.
	okStatus := map[int]bool{429: true}
	for _, s := range mix.Statuses {
		c, _ := strconv.Atoi(s.Name)
		okStatus[c] = true
	}

	// 1. Mix check: one pass over the list at a low rate, with an access
	// log, so the replayed mix is read from what the gateway itself logged.
	prog.step("mix check", 0)
	if err := res.mixCheck(ctx, opt, parsed, raw, creds, list, originAddrs, work); err != nil {
		return nil, err
	}
	logf("plan: mix check: replayed mix within %.2f percentage points of the log's per API\n", res.MaxDiff)
	var warnings []string
	for _, n := range res.Notes {
		if strings.HasPrefix(n, "warning: ") {
			warnings = append(warnings, n)
			logf("plan: %s\n", n)
		}
	}

	// 2. Capacity on 1 core and on all of them.
	for _, n := range counts {
		cpus := allowed[len(allowed)-n:]
		run, err := res.capacityOn(ctx, opt, parsed, raw, creds, list, originAddrs, work, cpus, allowed, okStatus, prog, logf)
		if err != nil {
			return nil, err
		}
		res.Runs = append(res.Runs, run)
	}
	prog.done()

	// 3. The plan.
	one := res.Runs[0]
	last := res.Runs[len(res.Runs)-1]
	res.PerCoreBasis = fmt.Sprintf("measured on 1 core (%.0f rps)", one.PerCore)
	perCore := one.PerCore
	switch {
	case one.Found.AtMaxRate:
		// Both figures are lower bounds: a ratio of them says nothing.
		res.PerCoreBasis = fmt.Sprintf("at least %.0f rps measured on 1 core: the search reached -max-rate still meeting the SLO, so the plan is an upper bound; raise -max-rate for a tighter one; scaling not measured", one.PerCore)
	case last.Cores > 1 && one.Found.Sustainable > 0:
		res.Scaling = last.Found.Sustainable / one.Found.Sustainable
		res.Efficiency = res.Scaling / float64(last.Cores)
		switch {
		case last.Found.AtMaxRate:
			res.PerCoreBasis = fmt.Sprintf("measured on 1 core (%.0f rps): on %d cores the search reached -max-rate, so throughput scaled at least %.2fx and the 1-core figure is used",
				one.PerCore, last.Cores, res.Scaling)
		case last.PerCore < one.PerCore:
			perCore = last.PerCore
			res.PerCoreBasis = fmt.Sprintf("measured on %d cores (%.0f rps / %d = %.0f rps per core): throughput scaled %.2fx from 1 to %d cores, sub-linearly, so the %d-core figure is used",
				last.Cores, last.Found.Sustainable, last.Cores, last.PerCore, res.Scaling, last.Cores, last.Cores)
		default:
			res.PerCoreBasis = fmt.Sprintf("measured on 1 core (%.0f rps): throughput scaled %.2fx from 1 to %d cores (at least linearly), so the 1-core figure is used",
				one.PerCore, res.Scaling, last.Cores)
		}
	case last.PerCore > 0:
		perCore = last.PerCore
		res.PerCoreBasis = fmt.Sprintf("measured on %d cores (%.0f rps / %d): no step on 1 core met the SLO", last.Cores, last.Found.Sustainable, last.Cores)
	}
	for _, r := range res.Runs {
		if r.Found.AtMaxRate {
			res.Notes = append(res.Notes, fmt.Sprintf("The %d-core search reached -max-rate %.0f still meeting the SLO: capacity is at least that", r.Cores, opt.Search.MaxRate))
		}
	}
	res.Notes = append(res.Notes, creds.Notes...)
	res.Notes = append(res.Notes, list.Notes...)

	// The chart and plan.json are written even without a plan: the points
	// show what missed the SLO.
	results := make([]CapacityResult, len(res.Runs))
	for i, r := range res.Runs {
		results[i] = r.Found
	}
	base := filepath.Join(opt.OutDir, "plan-latency")
	if res.Charts, err = WriteLatencyCharts(results, "Replayed traffic: latency vs offered load", base); err != nil {
		return res, err
	}
	res.JSON = filepath.Join(opt.OutDir, "plan.json")
	if perCore <= 0 {
		res.Took = time.Since(res.Started)
		if err := res.writeJSON(); err != nil {
			return res, err
		}
		why := ""
		if len(warnings) > 0 {
			why = "; " + strings.Join(warnings, "; ")
		}
		return res, fmt.Errorf("bench: no load step met the SLO (%s), not even at the lowest rate tried: no plan (the steps are in %s and %s)%s",
			opt.SLO, res.JSON, strings.Join(res.Charts, ", "), why)
	}
	if res.Plan, err = PlanCores(perCore, opt.Peak, opt.Headroom, opt.CoresPerNode); err != nil {
		return res, err
	}
	res.Took = time.Since(res.Started)
	res.Report = filepath.Join(opt.OutDir, "plan.md")
	if err := os.WriteFile(res.Report, []byte(res.Markdown()), 0o644); err != nil {
		return res, err
	}
	return res, res.writeJSON()
}

// writeJSON writes res to res.JSON.
func (res *PlanResult) writeJSON() error {
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(res.JSON, append(js, '\n'), 0o644)
}

// normalize fills defaults and checks the options.
func (o *PlanOptions) normalize() error {
	if o.Config == "" || o.Replay == "" {
		return errors.New("bench: plan needs a config (-config) and an access log (-replay)")
	}
	if o.OutDir == "" {
		o.OutDir = "bench/out/plan"
	}
	if o.MixSize == 0 {
		o.MixSize = 1000
	}
	if o.MixSize < 10 || o.MixSize > 100000 {
		return fmt.Errorf("bench: mix size %d out of range [10, 100000]", o.MixSize)
	}
	if o.SLO.P99 <= 0 {
		return fmt.Errorf("bench: SLO p99 %v must be > 0", o.SLO.P99)
	}
	if _, err := PlanCores(1, math.Max(o.Peak, 0), o.Headroom, o.CoresPerNode); err != nil {
		return err
	}
	if o.Search == (CapacitySpec{}) {
		o.Search = DefaultPlanSearch
	}
	if err := o.Search.validate(); err != nil {
		return err
	}
	if o.GatewayBin == "" {
		o.GatewayBin = "./bin/sluice"
	}
	bin, err := filepath.Abs(o.GatewayBin)
	if err != nil {
		return err
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		return fmt.Errorf("bench: gateway binary %s not found (build it: make build, or pass -gateway)", o.GatewayBin)
	}
	o.GatewayBin = bin
	for _, p := range []string{o.Config, o.Replay} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	return nil
}

// maxReplayOrigins bounds the replay origins a plan starts.
const maxReplayOrigins = 32

// startReplayOrigins starts one replay origin per backend target of cfg
// (at most maxReplayOrigins, at least one), each on its own loopback port.
// The gateway keys its upstream pools by target address: behind a single
// origin, every backend and target would share one pool of pool_size
// connections, where production has one per target, and a replay with
// backend latency would run out of connections far below the gateway's
// capacity.
func startReplayOrigins(cfg *policy.Config) ([]*origin.Server, error) {
	n := replayOriginCount(cfg)
	out := make([]*origin.Server, 0, n)
	for range n {
		o, err := origin.StartReplay("127.0.0.1:0")
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// replayOriginCount is how many replay origins a plan of cfg starts.
func replayOriginCount(cfg *policy.Config) int {
	n := 0
	for _, b := range cfg.Backends {
		n += len(b.Targets)
	}
	return min(max(n, 1), maxReplayOrigins)
}

// planGateway is one started gateway of a plan.
type planGateway struct {
	proc   *Proc
	listen string
	log    string
}

// startPlanGateway renders the replay config and starts the gateway with
// GOMAXPROCS = procs, pinned to the CPUs pin (nil: not pinned).
func startPlanGateway(ctx context.Context, opt PlanOptions, parsed *policy.Parsed, raw []byte, creds *replayCreds,
	origins []string, dir string, forceLog bool, procs int, pin []int) (*planGateway, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	listen, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "access.log")
	conf, _, err := renderReplayConfig(parsed, raw, replayParams{Listen: listen, Admin: admin, Origins: origins,
		LogPath: logPath, ForceLog: forceLog}, creds)
	if err != nil {
		return nil, err
	}
	confPath := filepath.Join(dir, "sluice.toml")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		return nil, err
	}
	argv := []string{opt.GatewayBin, "run", "-config", confPath}
	// taskset pins from the first instruction; PinTree below catches
	// threads started before, and works where taskset is missing.
	if ts, err := exec.LookPath("taskset"); err == nil && pin != nil {
		argv = append([]string{ts, "-c", cpuList(pin)}, argv...)
	}
	proc, err := StartProc(ctx, ProcSpec{
		Name: TargetSluice, Argv: argv, Env: []string{"GOMAXPROCS=" + strconv.Itoa(procs)},
		Dir: dir, Ready: HTTPReady(admin, "/readyz"), ReadyTimeout: 30 * time.Second,
	}, CPUPlan{})
	if err != nil {
		return nil, fmt.Errorf("the gateway did not start with the replay config (%s): %w", confPath, err)
	}
	if pin != nil {
		if err := PinTree(proc.PID(), pin); err != nil {
			proc.Stop()
			return nil, err
		}
	}
	return &planGateway{proc: proc, listen: listen, log: logPath}, nil
}

func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}

// mixCheck replays the list once at a low rate through a gateway that logs,
// and compares the per-API shares it logged with the log's.
func (res *PlanResult) mixCheck(ctx context.Context, opt PlanOptions, parsed *policy.Parsed, raw []byte, creds *replayCreds,
	list *replayList, origins []string, work string) error {
	gw, err := startPlanGateway(ctx, opt, parsed, raw, creds, origins, filepath.Join(work, "mix-check"), true, 1, nil)
	if err != nil {
		return err
	}
	defer gw.proc.Stop()
	n := len(list.Specs)
	rate := math.Max(opt.Search.StartRate, float64(n)/3)
	cfg := list.load(gw.listen, rate, opt.SLO.P99, 0)
	// The check counts answers, not latency: a loaded machine's slow
	// answer must not fall out of the shares.
	cfg.Timeout = max(cfg.Timeout, 5*time.Second)
	cfg.MaxRequests = uint64(n)
	// The last request is sent after n/rate and may wait the slowest
	// logged backend answer before it is counted.
	cfg.Duration = time.Duration(float64(n)/rate*float64(time.Second)) + cfg.Timeout
	lr, err := RunLoad(ctx, cfg)
	if err != nil {
		return err
	}
	if lr.Completed < uint64(n)*9/10 {
		return fmt.Errorf("bench: mix check: only %d of %d replayed requests were answered (%v): %s",
			lr.Completed, n, lr.ErrorKinds, gw.proc.StderrTail(400))
	}
	// SIGTERM drains the access-log ring into the file before exit.
	gw.proc.Stop()
	res.MixLog = filepath.Join(opt.OutDir, "plan-mix-check.log")
	if err := copyFile(gw.log, res.MixLog); err != nil {
		return fmt.Errorf("bench: mix check: the replay's access log: %w", err)
	}
	replayed := map[APIRef]int{}
	statuses := map[APIRef]map[int]int{}
	total, err := ReadAccessLogFile(res.MixLog, func(_ int, r *LogRecord) error {
		ref := APIRef{Group: r.Group, API: r.API}
		replayed[ref]++
		if statuses[ref] == nil {
			statuses[ref] = map[int]int{}
		}
		statuses[ref][r.Status]++
		res.Statuses[strconv.Itoa(r.Status)]++
		return nil
	})
	if err != nil {
		return fmt.Errorf("bench: mix check: %w", err)
	}
	res.MixCheck, res.MaxDiff = compareMix(res.Mix.APIShares(), replayed, total)
	res.Notes = append(res.Notes, unreplayedStatuses(res.Mix, statuses)...)
	return nil
}

// unreplayedStatuses names the APIs whose replayed requests, in the mix
// check, got statuses the log never has for that API (other than 429,
// which the replay's rate explains) for over 2% of them: the replay does
// not reproduce those requests (a required body parameter, a form body, a
// composite call needing a field), and every load step counts them as
// errors. Said up front, a plan that finds no step meeting the SLO says
// why.
func unreplayedStatuses(mix *TrafficMix, replayed map[APIRef]map[int]int) []string {
	var notes []string
	for _, a := range mix.APIs {
		logged := map[int]bool{fasthttp.StatusTooManyRequests: true}
		for _, s := range a.Statuses {
			c, _ := strconv.Atoi(s.Name)
			logged[c] = true
		}
		got := replayed[a.Ref]
		n, odd := 0, 0
		var codes []int
		for code, c := range got {
			n += c
			if !logged[code] {
				odd += c
				codes = append(codes, code)
			}
		}
		if n == 0 || float64(odd) <= 0.02*float64(n) {
			continue
		}
		sort.Ints(codes)
		var parts []string
		for _, c := range codes {
			parts = append(parts, fmt.Sprintf("%d x%d", c, got[c]))
		}
		notes = append(notes, fmt.Sprintf("warning: API %s answered %.0f%% of its replayed requests with statuses its log does not have (%s; logged: %s): the replay does not reproduce these requests (a required body parameter, a form body, a composite call needing a field?) and every load step counts them as errors",
			a.Ref, 100*float64(odd)/float64(n), strings.Join(parts, ", "), topShares(a.Statuses, 4, "-")))
	}
	return notes
}

// Bounds of a replay step's connections; see replayList.load.
const (
	minReplayConns = 256
	maxReplayConns = 4096
)

// load is the open-loop LoadConfig of a replay of the list at rate. The
// origin holds each answer for its logged backend time, so the requests in
// flight grow with it: rate x (slowest logged backend answer + SLO), twice
// over, within the generator's limits (conns > 0 overrides). A request's
// timeout outlasts the slowest logged answer: a rare slow API (a report
// taking 3 s) cut off by a shorter timeout would count as errors on every
// step and leave no plan, although production answered it.
func (rl *replayList) load(addr string, rate float64, slo time.Duration, conns int) LoadConfig {
	if conns <= 0 {
		conns = int(math.Ceil(rate * (rl.MaxDelay + slo).Seconds() * 2))
		conns = min(max(conns, minReplayConns), maxReplayConns)
	}
	return LoadConfig{Addr: addr, Mode: OpenLoop, Rate: rate, Requests: rl.Specs, Sign: rl.signer(),
		Connections: conns, Timeout: max(2*time.Second, rl.MaxDelay+slo+time.Second)}
}

// compareMix lines up the log's per-API shares with the replay's counts.
func compareMix(logged map[APIRef]float64, replayed map[APIRef]int, total int) ([]MixRow, float64) {
	refs := map[APIRef]bool{}
	for r := range logged {
		refs[r] = true
	}
	for r := range replayed {
		refs[r] = true
	}
	var rows []MixRow
	worst := 0.0
	for r := range refs {
		row := MixRow{API: r.String(), Logged: logged[r]}
		if total > 0 {
			row.Replayed = float64(replayed[r]) / float64(total)
		}
		row.DiffPP = 100 * (row.Replayed - row.Logged)
		worst = math.Max(worst, math.Abs(row.DiffPP))
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Logged != rows[j].Logged {
			return rows[i].Logged > rows[j].Logged
		}
		return rows[i].API < rows[j].API
	})
	return rows, worst
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// capacityOn searches the sustainable rate with the gateway on cpus.
func (res *PlanResult) capacityOn(ctx context.Context, opt PlanOptions, parsed *policy.Parsed, raw []byte, creds *replayCreds,
	list *replayList, origins []string, work string, cpus, allowed []int, okStatus map[int]bool, prog *progress,
	logf func(string, ...any)) (PlanCoreRun, error) {
	n := len(cpus)
	run := PlanCoreRun{Cores: n, CPUs: cpus, Shared: n == len(allowed)}
	label := fmt.Sprintf("%d core", n)
	if n > 1 {
		label += "s"
	}
	var pin []int
	if !run.Shared {
		pin = cpus
	}
	gw, err := startPlanGateway(ctx, opt, parsed, raw, creds, origins,
		filepath.Join(work, "cores-"+strconv.Itoa(n)), false, n, pin)
	if err != nil {
		return run, err
	}
	defer gw.proc.Stop()
	if opt.PinHarness && !run.Shared {
		rest := allowed[:len(allowed)-n]
		if err := PinSelf(rest); err == nil {
			defer PinSelf(allowed)
		}
	}
	signer := list.signer()
	waits := map[float64]float64{} // rate -> run-queue wait of the kept measurement
	measure := func(ctx context.Context, rate float64) (CapacityPoint, error) {
		if !gw.proc.Alive() {
			return CapacityPoint{}, fmt.Errorf("the gateway exited: %s", gw.proc.StderrTail(400))
		}
		cfg := list.load(gw.listen, rate, opt.SLO.P99, opt.Search.Connections)
		cfg.Sign = signer
		if opt.Search.StepWarmup > 0 {
			w := cfg
			w.Duration = opt.Search.StepWarmup
			if _, err := RunLoad(ctx, w); err != nil {
				return CapacityPoint{}, err
			}
		}
		cpu0, cpuErr := SampleCPU(gw.proc.PID())
		wait0, waitErr := runQueueWait(gw.proc.PID())
		cfg.Duration = opt.Search.StepDuration
		lr, err := RunLoad(ctx, cfg)
		if err != nil {
			return CapacityPoint{}, err
		}
		wait1, waitErr1 := runQueueWait(gw.proc.PID())
		// Keep the replay's access log from filling the disk: the file
		// sink appends (O_APPEND), so truncating it is safe.
		_ = os.Truncate(gw.log, 0)
		bad := lr.Errors
		for code, c := range lr.Status {
			if k, _ := strconv.Atoi(code); !okStatus[k] {
				bad += c
			}
		}
		p := CapacityPoint{Achieved: lr.Throughput, Completed: lr.Completed,
			P50: lr.Latency.P50, P90: lr.Latency.P90, P99: lr.Latency.P99, P999: lr.Latency.P999}
		if lr.Sent > 0 {
			p.ErrorRate = float64(bad) / float64(lr.Sent)
		}
		if cpuErr == nil {
			if cpu1, err := SampleCPU(gw.proc.PID()); err == nil {
				p.CPUPerRequestUS = figuresFrom(lr, cpu1.Since(cpu0), MemSample{}).CPUPerRequestUS
			}
		}
		wait := -1.0
		if waitErr == nil && waitErr1 == nil && lr.Elapsed > 0 {
			wait = float64(wait1-wait0) / float64(lr.Elapsed)
		}
		waits[rate] = wait
		logf("plan: %-8s offered %8.0f rps: achieved %8.0f, p50 %-9v p99 %-9v errors %.3f%%, %.1f µs CPU/request, waited for a CPU %.1f%% of the step\n",
			label, rate, p.Achieved, p.P50, p.P99, p.ErrorRate*100, p.CPUPerRequestUS, 100*wait)
		return p, nil
	}
	// A step that misses the SLO is measured again (opt.Retries times) and
	// the better measurement kept: on a shared machine one scheduling
	// stall of another process puts a step's p99 over the SLO, and a
	// single early miss would end the search far below the gateway's rate.
	// A real limit misses every time, so this does not inflate capacity.
	probe := func(ctx context.Context, rate float64) (CapacityPoint, error) {
		prog.step(label, rate)
		p, err := measure(ctx, rate)
		w := waits[rate]
		for i := 0; err == nil && i < opt.Retries && !opt.SLO.Met(p); i++ {
			logf("plan: %-8s missed the SLO at %.0f rps: measuring again (%d of %d)\n", label, rate, i+1, opt.Retries)
			var q CapacityPoint
			if q, err = measure(ctx, rate); err == nil && betterPoint(opt.SLO, q, p) {
				p, w = q, waits[rate]
			}
		}
		waits[rate] = w
		return p, err
	}
	found, err := FindCapacity(ctx, opt.Search, opt.SLO, probe)
	if err != nil {
		return run, err
	}
	found.Target = "sluice, " + label
	run.Found = found
	for _, p := range found.Points {
		run.CPUWait = append(run.CPUWait, waits[p.Offered])
	}
	run.PerCore = found.Sustainable / float64(n)
	for _, p := range found.Points {
		if p.Met && p.Offered == found.Sustainable && p.CPUPerRequestUS > 0 {
			run.CPUPerRequestUS = p.CPUPerRequestUS
			run.CPUBound = float64(n) * 1e6 / p.CPUPerRequestUS
		}
	}
	logf("plan: %s: sustainable %.0f rps (%.0f per core)\n", label, found.Sustainable, run.PerCore)
	return run, nil
}
