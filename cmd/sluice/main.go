// Command sluice is the gateway: run, check, routes, sign, version.
// Logic lives in proxy/ and policy/; this file is flags, signals and wiring.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	json "github.com/goccy/go-json"

	"github.com/sluicegw/sluice/bench/origin"
	"github.com/sluicegw/sluice/configs"
	"github.com/sluicegw/sluice/policy"
	"github.com/sluicegw/sluice/proxy"
	"github.com/sluicegw/sluice/store/redisstate"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `sluice - a self-hosted API gateway

usage:
  sluice run [-config FILE] [-log-level LEVEL] [-cpuprofile FILE]
                                  serve (no -config: the embedded quickstart)
  sluice check FILE               validate a config; exit 1 with every error
  sluice routes [-json] FILE      print the compiled route table
  sluice sign -key K -secret S -url URL [flags]
                                  sign a request for HMAC (Alibaba-compatible)
                                  APIs; prints a curl command (sluice sign -h)
  sluice version                  print the version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var code int
	switch os.Args[1] {
	case "run":
		code = cmdRun(os.Args[2:])
	case "check":
		code = cmdCheck(os.Args[2:], os.Stdout, os.Stderr)
	case "routes":
		code = cmdRoutes(os.Args[2:], os.Stdout, os.Stderr)
	case "sign":
		code = cmdSign(os.Args[2:], os.Stdout, os.Stderr)
	case "version", "-version", "--version":
		fmt.Println(versionString())
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "sluice: unknown command %q\n\n%s", os.Args[1], usage)
		code = 2
	}
	os.Exit(code)
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += "+" + s.Value[:12]
			}
		}
	}
	return "sluice " + v + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}

// compileFile parses and compiles a file for check and routes.
func compileFile(path string) (*policy.Snapshot, error) {
	p, err := policy.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return policy.Compile(p, policy.Options{})
}

func printErrors(w io.Writer, err error) {
	var list policy.Errors
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintln(w, e.Error())
		}
		return
	}
	fmt.Fprintln(w, err)
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: sluice check FILE")
		return 2
	}
	snap, err := compileFile(fs.Arg(0))
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	// Warnings (certificates expiring within 30 days, insecure_skip_verify)
	// do not fail the check.
	printErrors(stderr, snap.TLS.Warnings)
	fmt.Fprintf(stdout, "%s: ok: %d groups, %d APIs, %d backends\n", fs.Arg(0),
		len(snap.Groups), countAPIs(snap), len(snap.Backends))
	return 0
}

// countAPIs counts configured APIs (an API published to three stages is one).
func countAPIs(snap *policy.Snapshot) int {
	n := 0
	for _, g := range snap.Config.Groups {
		n += len(g.APIs)
	}
	return n
}

func cmdRoutes(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("routes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: sluice routes [-json] FILE")
		return 2
	}
	snap, err := compileFile(fs.Arg(0))
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	rows := snap.RouteTable()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rows)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSTAGE\tMETHOD\tPATH\tAPI\tBACKEND\tUPSTREAM PATH\tTARGETS")
	for _, r := range rows {
		up := r.Upath
		if up == "" {
			up = "(as requested)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s/%s\t%s\t%s\t%s\n", strings.Join(r.Hosts, ","), r.Stage, r.Method, r.Path,
			r.Group, r.API, r.Backend, up, strings.Join(r.Targets, ","))
	}
	_ = tw.Flush()
	return 0
}

func cmdRun(args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "config file (default: the embedded quickstart)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file until exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintln(os.Stderr, "sluice: invalid -log-level:", *level)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Error("cannot create CPU profile", "error", err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Error("cannot start CPU profile", "error", err)
			return 1
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}

	src := proxy.Source{Name: "quickstart.toml (embedded)", Embedded: configs.Quickstart}
	if *cfgPath != "" {
		src = proxy.Source{Name: *cfgPath, Path: *cfgPath}
	}
	// The stores outlive every snapshot, so [state] is read once here to
	// build them; a reload that changes it warns that a restart is needed.
	parsed, err := src.Parse()
	if err != nil {
		printErrors(os.Stderr, err)
		return 1
	}
	stores, err := proxy.BuildStores(parsed)
	if err != nil {
		// A bad [state] stops here, before the full compile: compile (no
		// network I/O) to report every mistake of the file, not only these.
		if _, cerr := policy.Compile(parsed, policy.Options{}); cerr != nil {
			err = cerr
		}
		printErrors(os.Stderr, err)
		return 1
	}
	// Closed after the server has stopped (defers run last in, first out:
	// this one runs after the shutdown below returns).
	defer func() { _ = stores.Close() }()
	if stores.Conn != nil {
		log.Info("fleet state on Redis", "addresses", strings.Join(parsed.Config.State.Redis.Addresses, ","),
			"redis_up", stores.Conn.Healthy())
		stopLog := make(chan struct{})
		defer close(stopLog)
		go logBreaker(log, stores.Conn, stores.Conn.Healthy(), stopLog)
	}
	srv := proxy.New(proxy.Options{Logger: log, Limits: stores.Limits, Nonces: stores.Nonces, Fleet: stores.Fleet})
	rl := proxy.NewReloader(srv, src)
	snap, err := rl.Reload()
	if err != nil {
		printErrors(os.Stderr, err)
		return 1
	}

	if addr := snap.Server.DemoOrigin; addr != "" {
		o, err := origin.Start(addr)
		if err != nil {
			log.Error("cannot start the demo origin", "addr", addr, "error", err)
			return 1
		}
		defer o.Close()
		log.Info("demo origin listening", "addr", o.Addr())
	}

	lns, err := srv.Listen()
	if err != nil {
		log.Error("cannot listen", "error", err)
		return 1
	}
	adminLn, err := net.Listen("tcp", snap.Server.AdminListen)
	if err != nil {
		log.Error("cannot listen on the admin address", "addr", snap.Server.AdminListen, "error", err)
		return 1
	}
	admin := proxy.NewAdmin(srv, rl)
	go func() { _ = admin.Serve(adminLn) }()
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		log.Info("listening", "addr", ln.Addr().String())
		go func() { errc <- srv.Serve(ln) }()
	}
	log.Info("admin listening", "addr", adminLn.Addr().String())

	ctx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	go rl.Watch(ctx, time.Second)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	for {
		select {
		case err := <-errc:
			if err != nil {
				log.Error("listener failed", "error", err)
				return 1
			}
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				_, _ = rl.Reload()
				continue
			case syscall.SIGUSR1:
				log.Info("reopening access log files")
				srv.ReopenLogs()
				continue
			}
			timeout := srv.Snapshot().Server.ShutdownTimeout
			log.Info("shutting down", "signal", sig.String(), "in_flight", srv.InFlight(), "timeout", timeout)
			sctx, cancel := context.WithTimeout(context.Background(), timeout)
			err := srv.Shutdown(sctx)
			cancel()
			_ = admin.Shutdown()
			if err != nil {
				log.Warn("shutdown timed out; in-flight requests were cut", "error", err)
			}
			log.Info("stopped")
			return 0
		}
	}
}

// logBreaker logs when the node switches to its Redis fallback and back: a
// log line per switch, not per failed call. It waits on the Conn's change
// signal; a 100 ms poll woke an idle gateway ten times a second for nothing.
// up is the state last logged (read before the goroutine starts, so a
// switch right after start is not missed).
func logBreaker(log *slog.Logger, c *redisstate.Conn, up bool, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-c.Changed():
		}
		// up takes the state read here, not a later read: a switch after
		// this read has its own pending signal, so it is logged next.
		now := c.Healthy()
		switch {
		case up && !now:
			log.Warn("Redis unreachable: fleet limits on their fallback", "error", c.LastError())
		case !up && now:
			log.Info("Redis back: fleet limits shared again")
		}
		up = now
	}
}
