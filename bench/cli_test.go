package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb, startRealOrigin)
	return code, out.String(), errb.String()
}

func TestMainUsage(t *testing.T) {
	if code, _, errs := runMain(t); code != 2 || !strings.Contains(errs, "usage:") {
		t.Errorf("no args: %d %s", code, errs)
	}
	if code, _, _ := runMain(t, "frobnicate"); code != 2 {
		t.Errorf("unknown command: %d", code)
	}
	if code, out, _ := runMain(t, "help"); code != 0 || !containsAll(out, "run", "capacity", "load", "compare", "origin", "render", "scenarios", "tls-load") {
		t.Errorf("help: %d %s", code, out)
	}
	if code, _, _ := runMain(t, "run", "-h"); code != 0 {
		t.Errorf("run -h: %d", code)
	}
	for _, args := range [][]string{
		{"run", "-preset", "huge"},
		{"run", "-headroom", "1.5"},
		{"run", "-cores-per-node", "0"},
		{"run", "-slo-p99", "0s"},
		{"run", "extra"},
		{"run", "-nope"},
		{"capacity", "-scenario", "nope"},
		{"capacity", "-growth", "0.5"},
		{"load"},
		{"load", "-url", "http://10.1.1.1/"},
		{"load", "-url", "http://127.0.0.1:1/", "-H", "bad header"},
		{"origin", "-listen", "0.0.0.0:8080"},
		{"render"},
		{"render", "-out", t.TempDir(), "-origin", "8.8.8.8:80"},
	} {
		if code, _, errs := runMain(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errs)
		}
	}
}

func TestMainDryRun(t *testing.T) {
	for _, preset := range []string{"quick", "full"} {
		code, _, errs := runMain(t, "run", "-preset", preset, "-dry-run", "-gateway", "/nonexistent")
		if code != 0 || !containsAll(errs, "plan (preset "+preset+")", "anon-1k", "cpus:") {
			t.Errorf("%s dry run: %d\n%s", preset, code, errs)
		}
	}
	code, _, errs := runMain(t, "capacity", "-dry-run", "-scenario", "anon-16k", "-targets", "direct")
	if code != 0 || !containsAll(errs, "capacity anon-16k", "[direct]") {
		t.Errorf("capacity dry run: %d\n%s", code, errs)
	}
}

func TestMainLoad(t *testing.T) {
	o := startTestOrigin(t, 0)
	code, out, errs := runMain(t, "load", "-url", "http://"+o.Addr()+"/x?size=10", "-n", "200", "-c", "4",
		"-d", "5s", "-warmup", "0s", "-H", "X-Test: 1")
	if code != 0 || !containsAll(out, "mode closed", "sent 200, completed 200", "200: 200", "errors 0") {
		t.Errorf("load: %d\n%s%s", code, out, errs)
	}
	// -expect-body-bytes counts a response of another length as an error.
	code, out, errs = runMain(t, "load", "-url", "http://"+o.Addr()+"/x?size=10", "-n", "50", "-c", "2",
		"-d", "5s", "-warmup", "0s", "-expect-body-bytes", "11")
	if code != 0 || !containsAll(out, "completed 50", "errors 50", "body: 50") {
		t.Errorf("load -expect-body-bytes: %d\n%s%s", code, out, errs)
	}
	code, out, _ = runMain(t, "load", "-url", "http://"+o.Addr()+"/x?status=404", "-rate", "500", "-d", "200ms",
		"-warmup", "0s", "-json", "-method", "POST", "-body-bytes", "100")
	var res LoadResult
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil || res.Mode != "open" || res.Status["404"] == 0 ||
		res.ErrorKinds["status"] != res.Status["404"] {
		t.Errorf("json load: %d %v %+v", code, err, res)
	}
}

func TestMainRender(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := runMain(t, "render", "-scenario", "anon-1k", "-out", dir, "-check")
	if code != 0 || !containsAll(out, "sluice: ", "nginx: ", "haproxy: ", "caddy: ") {
		t.Fatalf("render: %d\n%s%s", code, out, errs)
	}
	for _, f := range []string{"sluice.toml", "nginx/nginx.conf", "haproxy/haproxy.cfg", "caddy/Caddyfile"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	// full-chain: every peer's policy config passes its own checker.
	fdir := t.TempDir()
	code, out, errs = runMain(t, "render", "-scenario", "full-chain", "-out", fdir, "-check")
	if code != 0 || !containsAll(out, "sluice: ", "nginx: ", "haproxy: ", "caddy: ") || strings.Contains(out, "not rendered") {
		t.Fatalf("render full-chain: %d\n%s%s", code, out, errs)
	}
	if b, _ := os.ReadFile(filepath.Join(fdir, "nginx", "nginx.conf")); !strings.Contains(string(b), "limit_req_zone") {
		t.Errorf("full-chain nginx config without limits:\n%s", b)
	}
	withoutFeatures(t) // the rest is about scenarios whose features the gateway lacks
	code, out, _ = runMain(t, "render", "-scenario", "hmac", "-out", t.TempDir())
	if code != 0 || !containsAll(out, "sluice: not rendered", "peers: no equivalent") {
		t.Errorf("render hmac: %d\n%s", code, out)
	}
	if code, out, _ := runMain(t, "scenarios"); code != 0 || !containsAll(out, "idle-10k", "(not available yet)", "presets:", "quick") {
		t.Errorf("scenarios: %d\n%s", code, out)
	}
}

// TestMainRunWritesReports runs a tiny run through the command line against
// a fake gateway (this test binary) and direct, and checks the JSON and the
// markdown section, goals included.
func TestMainRunWritesReports(t *testing.T) {
	t.Setenv("BENCH_TEST_CHILD", "gateway")
	saved := Presets["quick"]
	t.Cleanup(func() { Presets["quick"] = saved })
	tiny := saved
	tiny.Warmup, tiny.Duration, tiny.Reps = 50*time.Millisecond, 150*time.Millisecond, 1
	tiny.Capacity.StartRate, tiny.Capacity.MaxRate, tiny.Capacity.StepWarmup, tiny.Capacity.StepDuration = 200, 200, 0, 150*time.Millisecond
	tiny.CapacityTargets = []string{TargetDirect}
	Presets["quick"] = tiny

	// The layout of `make bench`: run from the repository root with
	// -out bench/results -markdown BENCHMARKS.md.
	self, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Chdir(dir)
	md := "BENCHMARKS.md"
	os.WriteFile(md, []byte("# Benchmarks\n\nIntro.\n\n"+SectionBegin+"\nold\n"+SectionEnd+"\n\nOutro.\n"), 0o644)
	code, out, errs := runMain(t, "run", "-preset", "quick", "-scenarios", "anon-1k", "-gateway", self,
		"-peers", "none", "-out", "bench/results", "-markdown", md, "-slo-p99", "1s", "-peak", "1000")
	if code != 0 {
		t.Fatalf("run: %d\n%s", code, errs)
	}
	res, err := ReadResults(filepath.Join(dir, "bench", "results", "results.json"))
	if err != nil || len(res.Scenarios) != 1 || res.Capacity == nil || res.Capacity.Results[0].Sustainable != 200 ||
		len(res.Goals) != len(goalSpecs) || res.HalfRate == nil {
		t.Fatalf("results %+v %v", res, err)
	}
	for _, f := range []string{"capacity-anon-1k.svg", "capacity-anon-1k.png"} {
		if st, err := os.Stat(filepath.Join(dir, "bench", "results", f)); err != nil || st.Size() == 0 {
			t.Errorf("chart %s: %v", f, err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, md))
	if !containsAll(string(b), "Intro.", "Outro.", "| sluice |", "| direct |", "### Goals",
		"![latency vs offered load](bench/results/capacity-anon-1k.svg) ([PNG](bench/results/capacity-anon-1k.png))",
		"| CPU per request, anon-1k: Sluice / nginx | — | — | <= 1.00 | not measured: nginx did not run |",
		"not measured: scenario full-chain not in this run",
		"### p99 at half of nginx's sustainable rate", "**Not measured:** the capacity search found no sustainable rate for nginx") ||
		strings.Contains(string(b), "\nold\n") {
		t.Errorf("markdown:\n%s", b)
	}
	if !strings.Contains(out, "| direct |") {
		t.Errorf("stdout lacks the report:\n%s", out)
	}
}
