package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	json "github.com/goccy/go-json"
)

const usage = `sluice-bench: capacity-planning bench harness for the Sluice gateway (loopback only)

usage:
  sluice-bench run      [flags]            run a preset: scenarios x targets, capacity search, reports
  sluice-bench capacity [flags]            capacity search and plan only
  sluice-bench load     -url URL [flags]   ad-hoc load against one loopback URL
  sluice-bench plan     -config my.toml -replay access.log -peak RPS [flags]
                                           capacity plan from your config and traffic (cores, nodes)
  sluice-bench compare  [-threshold 5] OLD.json NEW.json
                                           change per figure; exit 1 on a regression over the threshold
  sluice-bench origin   -listen 127.0.0.1:PORT
                                           run the origin stub until SIGINT/SIGTERM
  sluice-bench floor    -listen 127.0.0.1:PORT -origin 127.0.0.1:PORT [-strip-prefix /anon] [-cpuprofile FILE]
                                           run the floor target until SIGINT/SIGTERM: a minimal
                                           fasthttp reverse proxy with no policy, tuned as the gateway
  sluice-bench render   -scenario NAME -out DIR
                                           write the gateway and peer configs of a scenario
  sluice-bench scenarios                   list scenarios and presets
  sluice-bench tls-load -mode MODE [flags] TLS load against one loopback address
                                           (keepalive, full, resumed) or gencert -dir DIR

run "sluice-bench COMMAND -h" for a command's flags.
`

// Main runs the sluice-bench command line and returns the exit code: 0 ok,
// 1 a regression (compare) or a failed run, 2 a usage error.
// cmd/sluice-bench passes the origin package's Start as startOrigin.
func Main(args []string, stdout, stderr io.Writer, startOrigin OriginStarter) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(ctx, args[1:], stdout, stderr, startOrigin, false)
	case "capacity":
		err = cmdRun(ctx, args[1:], stdout, stderr, startOrigin, true)
	case "load":
		err = cmdLoad(ctx, args[1:], stdout, stderr)
	case "plan":
		err = cmdPlan(ctx, args[1:], stdout, stderr)
	case "compare":
		return cmdCompare(args[1:], stdout, stderr)
	case "origin":
		err = cmdOrigin(ctx, args[1:], stdout, stderr, startOrigin)
	case "floor":
		err = cmdFloor(ctx, args[1:], stdout, stderr)
	case "render":
		err = cmdRender(args[1:], stdout, stderr)
	case "scenarios":
		cmdScenarios(stdout)
	case "tls-load":
		// No signal handling: like any load generator, Ctrl-C stops it
		// outright, and its -timeout bounds it otherwise.
		stop()
		return cmdTLSLoad(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "sluice-bench: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "sluice-bench %s: %v\n", args[0], err)
		return 2
	}
	fmt.Fprintf(stderr, "sluice-bench %s: %v\n", args[0], err)
	return 1
}

var errUsage = errors.New("usage")

func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("sluice-bench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErr("%v", err)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// cmdRun implements "run" and, with capacityOnly, "capacity".
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer, startOrigin OriginStarter, capacityOnly bool) error {
	name := "run"
	if capacityOnly {
		name = "capacity"
	}
	fs := newFlagSet(name, stderr)
	preset := fs.String("preset", "quick", "run plan: "+strings.Join(PresetNames(), ", "))
	gateway := fs.String("gateway", "./bin/sluice", "built gateway binary")
	peers := fs.String("peers", "nginx,haproxy,caddy", `peer proxies to compare ("none" for none)`)
	noDirect := fs.Bool("no-direct", false, "leave out the direct-to-origin ceiling")
	noFloor := fs.Bool("no-floor", false, "leave out the fasthttp floor (a minimal fasthttp proxy with no policy; see sluice-bench floor)")
	reference := fs.String("reference", "nginx", "target the ratios are computed against (falls back to direct)")
	outDir := fs.String("out", "bench/results", "directory for results.json and charts")
	jsonPath := fs.String("json", "", "results file (default OUT/results.json)")
	markdown := fs.String("markdown", "", "markdown file whose bench section is replaced, e.g. BENCHMARKS.md")
	sloP99 := fs.Duration("slo-p99", 10*time.Millisecond, "capacity SLO: highest p99 latency")
	sloErrors := fs.Float64("slo-errors", 0.1, "capacity SLO: highest error rate, in percent")
	peak := fs.Float64("peak", 0, "peak requests/s to plan cores and nodes for (0: no plan)")
	coresPerNode := fs.Int("cores-per-node", 8, "cores per node given to the gateway, for the plan")
	headroom := fs.Float64("headroom", 0.7, "fraction of measured capacity to plan on using (0 < h <= 1)")
	cpuprofile := fs.String("cpuprofile-dir", "", "pass -cpuprofile to the gateway, one file per scenario in this directory")
	noProfiles := fs.Bool("no-profiles", false, "skip the extra profiled gateway run for each scenario of a missed goal")
	keepTemp := fs.Bool("keep-temp", false, "keep generated configs and process logs")
	dryRun := fs.Bool("dry-run", false, "print the plan and exit")
	maxTime := fs.Duration("max-time", 0, "abort after this long (default: twice the plan's estimate, at least 1m)")
	var scenarios *string
	var noCap *bool
	var capScenario, capTargets *string
	var startRate, maxRate, growth *float64
	var step *time.Duration
	var bisect *int
	var reps *int
	var warmup, duration *time.Duration
	if capacityOnly {
		capScenario = fs.String("scenario", "anon-1k", "scenario whose load is offered")
		capTargets = fs.String("targets", "", "targets to search (default: sluice, the peers and direct, those available; floor only when named)")
		startRate = fs.Float64("start-rate", 0, "first offered rate, requests/s (default: the preset's)")
		maxRate = fs.Float64("max-rate", 0, "highest offered rate (default: the preset's)")
		growth = fs.Float64("growth", 0, "rate multiplier per step (default: the preset's)")
		step = fs.Duration("step", 0, "measured length of each step (default: the preset's)")
		bisect = fs.Int("bisect", -1, "bisection steps after the first miss (default: the preset's)")
	} else {
		scenarios = fs.String("scenarios", "", "comma-separated scenarios instead of the preset's")
		noCap = fs.Bool("no-capacity", false, "skip the capacity search")
		reps = fs.Int("reps", 0, "interleaved repetitions of each scenario per target (default: the preset's)")
		warmup = fs.Duration("warmup", 0, "unrecorded warmup of each run (default: the preset's)")
		duration = fs.Duration("duration", 0, "measured length of each run (default: the preset's)")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected arguments %q", fs.Args())
	}
	p, ok := Presets[*preset]
	if !ok {
		return usageErr("unknown preset %q (have %s)", *preset, strings.Join(PresetNames(), ", "))
	}
	if !(*headroom > 0 && *headroom <= 1) || *coresPerNode < 1 || *peak < 0 {
		return usageErr("need 0 < -headroom <= 1, -cores-per-node >= 1, -peak >= 0")
	}
	if *sloP99 <= 0 || *sloErrors < 0 || *sloErrors > 100 {
		return usageErr("need -slo-p99 > 0 and 0 <= -slo-errors <= 100")
	}
	opts := RunOptions{
		GatewayBin: *gateway, Reference: *reference, OutDir: *outDir, NoDirect: *noDirect, NoFloor: *noFloor,
		SLO:  SLO{P99: *sloP99, MaxErrorRate: *sloErrors / 100},
		Peak: *peak, CoresPerNode: *coresPerNode, Headroom: *headroom,
		CPUProfileDir: *cpuprofile, KeepTemp: *keepTemp, StartOrigin: startOrigin, Log: stderr,
	}
	opts.Peers = []string{}
	if *peers != "none" {
		opts.Peers = splitList(*peers)
	}
	if *noProfiles {
		p.ProfileMissed = false
	}
	if capacityOnly {
		// Goals need the scenarios; the half-rate run is one of them.
		p.HalfRate, p.ProfileMissed = false, false
		p.Scenarios = nil
		p.Capacity.Scenario = *capScenario
		if _, err := ScenarioByName(*capScenario); err != nil {
			return usageErr("%v", err)
		}
		p.CapacityTargets = splitList(*capTargets)
		if *startRate > 0 {
			p.Capacity.StartRate = *startRate
		}
		if *maxRate > 0 {
			p.Capacity.MaxRate = *maxRate
		}
		if *growth > 0 {
			p.Capacity.Growth = *growth
		}
		if *step > 0 {
			p.Capacity.StepDuration = *step
		}
		if *bisect >= 0 {
			p.Capacity.BisectSteps = *bisect
		}
		if err := p.Capacity.validate(); err != nil {
			return usageErr("%v", err)
		}
	} else {
		opts.Scenarios = splitList(*scenarios)
		opts.NoCapacity = *noCap
		if *reps < 0 || *warmup < 0 || *duration < 0 {
			return usageErr("need -reps, -warmup and -duration >= 0")
		}
		if *reps > 0 {
			p.Reps = *reps
		}
		if *warmup > 0 {
			p.Warmup = *warmup
		}
		if *duration > 0 {
			p.Duration = *duration
		}
	}
	opts.Preset = p
	opts.DryRun = *dryRun
	if startOrigin == nil && !opts.DryRun {
		return errors.New("no origin stub linked into this binary")
	}
	limit := *maxTime
	if limit == 0 {
		limit = time.Minute
		if est, err := EstimateRun(opts); err == nil && 2*est > limit {
			limit = 2 * est
		}
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	start := time.Now()
	res, err := Run(ctx, opts)
	if err != nil || opts.DryRun {
		return err
	}
	fmt.Fprintf(stderr, "done in %v\n", time.Since(start).Round(time.Second))
	if *jsonPath == "" {
		*jsonPath = filepath.Join(*outDir, "results.json")
	}
	if err := res.WriteJSON(*jsonPath); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "results: %s\n", *jsonPath)
	mdDir := "."
	if *markdown != "" {
		mdDir = filepath.Dir(*markdown)
	}
	md := RenderMarkdown(res, mdDir)
	if *markdown != "" {
		if err := UpdateMarkdownSection(*markdown, md); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "markdown: %s (section between %s and %s)\n", *markdown, SectionBegin, SectionEnd)
	}
	fmt.Fprint(stdout, md)
	return nil
}

// cmdLoad implements "load": one ad-hoc run.
func cmdLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("load", stderr)
	rawURL := fs.String("url", "", "loopback http:// URL to load (required)")
	conns := fs.Int("c", 0, "connections (default 64 closed loop, 256 open loop)")
	rate := fs.Float64("rate", 0, "open-loop arrival rate, requests/s (0: closed loop)")
	dur := fs.Duration("d", 5*time.Second, "measured duration")
	warmup := fs.Duration("warmup", time.Second, "unrecorded warmup")
	maxReq := fs.Uint64("n", 0, "at most this many requests (0: no cap besides duration)")
	method := fs.String("method", "GET", "request method")
	bodyBytes := fs.Int("body-bytes", 0, "request body size")
	timeout := fs.Duration("timeout", defaultTimeout, "per-request timeout")
	expect := fs.Int("expect-status", 200, "status counted as success")
	expectBody := fs.Int("expect-body-bytes", 0, "response body length counted as success (0: any)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	var headers headerFlags
	fs.Var(&headers, "H", `request header "Name: value" (repeatable)`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *rawURL == "" || fs.NArg() > 0 {
		return usageErr("-url is required and no arguments are taken")
	}
	addr, uri, err := ParseLoopbackURL(*rawURL)
	if err != nil {
		return usageErr("%v", err)
	}
	cfg := LoadConfig{
		Addr: addr, Method: *method, Paths: []string{uri}, Connections: *conns, Duration: *dur, Warmup: *warmup,
		MaxRequests: *maxReq, Timeout: *timeout, ExpectStatus: *expect, Headers: headers,
		ExpectBodyBytes: *expectBody,
	}
	if *bodyBytes > 0 {
		cfg.Body = (&Scenario{BodyBytes: *bodyBytes}).Body()
	}
	if *rate > 0 {
		cfg.Mode, cfg.Rate = OpenLoop, *rate
	}
	res, err := RunLoad(ctx, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
		return nil
	}
	PrintLoadResult(stdout, res)
	return nil
}

// PrintLoadResult writes a human-readable summary of one run.
func PrintLoadResult(w io.Writer, r *LoadResult) {
	fmt.Fprintf(w, "mode %s", r.Mode)
	if r.OfferedRate > 0 {
		fmt.Fprintf(w, ", offered %.0f req/s, achieved send rate %.0f req/s, max send lag %v", r.OfferedRate, r.SendRate, r.MaxSendLag)
	}
	fmt.Fprintf(w, "\nsent %d, completed %d in %v: %.0f responses/s\n", r.Sent, r.Completed, r.Elapsed.Round(time.Millisecond), r.Throughput)
	l := r.Latency
	fmt.Fprintf(w, "latency p50 %v  p90 %v  p99 %v  p99.9 %v  max %v  mean %v\n", l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean.Round(time.Microsecond))
	fmt.Fprint(w, "status")
	for _, c := range r.StatusCodes() {
		fmt.Fprintf(w, "  %s: %d", c, r.Status[c])
	}
	fmt.Fprintf(w, "\nerrors %d (%.3f%%)", r.Errors, r.ErrorRate()*100)
	kinds := make([]string, 0, len(r.ErrorKinds))
	for k := range r.ErrorKinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "  %s: %d", k, r.ErrorKinds[k])
	}
	fmt.Fprintln(w)
}

// headerFlags collects repeated -H "Name: value" flags.
type headerFlags []Header

func (h *headerFlags) String() string { return fmt.Sprint(*h) }

func (h *headerFlags) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("header %q: want \"Name: value\"", s)
	}
	*h = append(*h, Header{Name: name, Value: strings.TrimSpace(value)})
	return nil
}

// cmdCompare implements "compare"; it returns the exit code itself.
func cmdCompare(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("compare", stderr)
	threshold := fs.Float64("threshold", 5, "flag changes for the worse larger than this many percent")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 2 || *threshold < 0 {
		fmt.Fprintln(stderr, "usage: sluice-bench compare [-threshold PERCENT] OLD.json NEW.json")
		return 2
	}
	old, err := ReadResults(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	cur, err := ReadResults(fs.Arg(1))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	changes := Compare(old, cur, *threshold/100)
	PrintChanges(stdout, changes, *threshold/100)
	if Regressions(changes) > 0 {
		return 1
	}
	return 0
}

// cmdOrigin implements "origin": serve until a signal.
func cmdOrigin(ctx context.Context, args []string, stdout, stderr io.Writer, startOrigin OriginStarter) error {
	fs := newFlagSet("origin", stderr)
	listen := fs.String("listen", "127.0.0.1:8081", "loopback address to listen on (port 0: any)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected arguments %q", fs.Args())
	}
	if err := checkLoopbackListen(*listen); err != nil {
		return usageErr("%v", err)
	}
	if startOrigin == nil {
		return errors.New("no origin stub linked into this binary")
	}
	o, err := startOrigin(*listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "origin listening on %s\n", o.Addr())
	<-ctx.Done()
	fmt.Fprintf(stdout, "origin served %d requests\n", o.Requests())
	return o.Close()
}

// checkLoopbackListen is CheckLoopbackAddr that also allows port 0.
func checkLoopbackListen(addr string) error {
	if strings.HasSuffix(addr, ":0") {
		return CheckLoopbackAddr(strings.TrimSuffix(addr, ":0") + ":1")
	}
	return CheckLoopbackAddr(addr)
}

// cmdRender implements "render": write a scenario's configs for inspection.
func cmdRender(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("render", stderr)
	name := fs.String("scenario", "anon-1k", "scenario")
	out := fs.String("out", "", "directory to write into (required)")
	origin := fs.String("origin", "127.0.0.1:8081", "origin address written into the configs")
	listen := fs.String("listen", "127.0.0.1:8080", "listen address written into the configs")
	admin := fs.String("admin", "127.0.0.1:9901", "gateway admin address written into the config")
	check := fs.Bool("check", false, "validate each peer config with the peer's own checker, where installed")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return usageErr("-out is required and no arguments are taken")
	}
	sc, err := ScenarioByName(*name)
	if err != nil {
		return usageErr("%v", err)
	}
	for _, a := range []string{*origin, *listen, *admin} {
		if err := CheckLoopbackAddr(a); err != nil {
			return usageErr("%v", err)
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	dir, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	conf, err := RenderGatewayConfig(GatewayParams{Listen: *listen, AdminListen: *admin, Origin: *origin,
		ExtraAPIs: sc.ExtraAPIs, Features: sc.Features, Dir: dir})
	if err != nil {
		fmt.Fprintf(stdout, "sluice: not rendered: %v\n", err)
	} else {
		path := filepath.Join(dir, "sluice.toml")
		if err := os.WriteFile(path, conf, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "sluice: %s\n", path)
	}
	if !sc.Peers {
		fmt.Fprintln(stdout, "peers: no equivalent configuration for this scenario")
		return nil
	}
	for _, pe := range Peers {
		pdir := filepath.Join(dir, pe.Name)
		if err := os.MkdirAll(pdir, 0o755); err != nil {
			return err
		}
		p, err := NewPeerParams(*listen, *origin, pdir, sc.PeerJob())
		if err != nil {
			return err
		}
		path, err := pe.WriteConfig(p)
		if err != nil {
			return err
		}
		status := ""
		if *check {
			if bin, err := pe.Lookup(); err != nil {
				status = " (not checked: " + err.Error() + ")"
			} else if err := pe.Check(bin, path, p); err != nil {
				return err
			} else {
				status = " (valid)"
			}
		}
		fmt.Fprintf(stdout, "%s: %s%s\n", pe.Name, path, status)
	}
	return nil
}

// cmdScenarios implements "scenarios".
func cmdScenarios(w io.Writer) {
	fmt.Fprintln(w, "scenarios:")
	for _, sc := range Scenarios {
		feats := ""
		if len(sc.Features) > 0 {
			s := make([]string, len(sc.Features))
			for i, f := range sc.Features {
				s[i] = string(f)
			}
			feats = " [needs " + strings.Join(s, ", ") + "]"
			if m := MissingFeatures(sc.Features); len(m) > 0 {
				feats += " (not available yet)"
			}
		}
		fmt.Fprintf(w, "  %-11s %s%s\n              %s\n", sc.Name, sc.Title, feats, sc.Doc)
	}
	fmt.Fprintln(w, "presets:")
	for _, n := range PresetNames() {
		p := Presets[n]
		fmt.Fprintf(w, "  %-6s %s; %d reps x (%v + %v); capacity on %s\n", n, strings.Join(p.Scenarios, ", "),
			p.Reps, p.Warmup, p.Duration, p.Capacity.Scenario)
	}
}
