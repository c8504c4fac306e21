package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sampleResults builds a small but complete Results by hand.
func sampleResults() *Results {
	fig := func(rps float64, p99 time.Duration, cpu float64) Figures {
		return Figures{Throughput: rps, P50: p99 / 4, P90: p99 / 2, P99: p99, P999: 2 * p99, Max: 3 * p99,
			CPUPerRequestUS: cpu, PeakRSS: 20 << 20, Requests: uint64(rps * 2)}
	}
	runs := func(figs ...Figures) []RunFigures {
		out := make([]RunFigures, len(figs))
		for i, f := range figs {
			out[i] = RunFigures{Rep: i + 1, Figures: f}
		}
		return out
	}
	sluiceRuns := runs(fig(40000, 2*time.Millisecond, 20), fig(42000, 2*time.Millisecond, 19))
	nginxRuns := runs(fig(50000, time.Millisecond, 15), fig(50000, time.Millisecond, 16))
	anon, _ := ScenarioByName("anon-1k")
	chain, _ := ScenarioByName("full-chain")
	return &Results{
		Schema:  resultsSchema,
		Started: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Preset:  Presets["quick"],
		Host:    HostInfo{CPUs: 2, CPUModel: "Test CPU", GoVersion: "go1.26"},
		CPU:     CPUPlan{Pinned: true, Target: 1, Harness: []int{0}},
		Scenarios: []ScenarioResult{
			{
				Scenario: *anon, Reference: "nginx",
				Targets: []TargetResult{
					{Target: "sluice", Runs: sluiceRuns, Median: medianFigures(sluiceRuns), VsReference: pairRatios(sluiceRuns, nginxRuns, "nginx")},
					{Target: "nginx", Runs: nginxRuns, Median: medianFigures(nginxRuns)},
					{Target: "caddy", Skipped: "caddy not installed (bench/peers/install.sh installs it)"},
				},
			},
			{
				Scenario: *chain, Skipped: "no target could run this scenario",
				Targets: []TargetResult{{Target: "sluice", Skipped: "needs feature key-auth, throttle, access-log"}},
			},
		},
		Capacity: &CapacityReport{
			Scenario: "anon-1k", SLO: SLO{P99: 10 * time.Millisecond, MaxErrorRate: 0.001},
			Spec: Presets["quick"].Capacity,
			Results: []CapacityResult{
				{Target: "sluice", Sustainable: 30000, Knee: 25000, Points: []CapacityPoint{
					{Offered: 25000, P50: 100 * time.Microsecond, P99: time.Millisecond, Met: true, Completed: 1},
					{Offered: 30000, P50: 200 * time.Microsecond, P99: 4 * time.Millisecond, Met: true, Completed: 1, CPUPerRequestUS: 21},
				}},
				{Target: "direct", Sustainable: 31000, Knee: 31000},
				{Target: "nginx", Skipped: "nginx not installed"},
			},
			Plans:  map[string]CapacityPlan{"sluice": {PerCore: 30000, Peak: 100000, Headroom: 0.7, CoresPerNode: 8, Cores: 5, Nodes: 1, NodesN1: 2}},
			Charts: []string{"bench/results/capacity-anon-1k.png", "bench/results/capacity-anon-1k.svg"},
		},
	}
}

func TestRenderMarkdown(t *testing.T) {
	md := RenderMarkdown(sampleResults(), ".")
	for _, want := range []string{
		"### anon-1k: Anonymous proxy, 1 KiB response",
		"| target | req/s | p50 | p90 | p99 | p99.9 | max | CPU µs/req | peak RSS | errors | req/s vs nginx | CPU vs nginx |",
		"| sluice | 41 000 | 500 µs | 1.00 ms | 2.00 ms | 4.00 ms | 6.00 ms | 19.50 | 20.0 MiB | 0 | 0.82 | 1.26 |",
		"| nginx | 50 000 | 250 µs |",
		"| 1 (ref) | 1 (ref) |",
		"- caddy: caddy not installed",
		"**Not measured:** no target could run this scenario.",
		"- sluice: needs feature key-auth, throttle, access-log",
		"### Capacity: anon-1k, SLO p99 <= 10ms, errors <= 0.1%",
		"| sluice | 30 000 (harness-bound) | 25 000 | 200 µs | 4.00 ms | 21.00 |",
		"- nginx: nginx not installed",
		"| sluice | 5 | 1 | 2 |",
		"![latency vs offered load](bench/results/capacity-anon-1k.svg) ([PNG](bench/results/capacity-anon-1k.png))",
		"- Host: 2 CPUs (Test CPU), go1.26. CPUs: target on CPU 1, load generator and origin on CPUs [0].",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q\n%s", want, md)
		}
	}
	if strings.Contains(md, SectionBegin) || strings.Contains(md, SectionEnd) {
		t.Error("rendered body must not contain the markers")
	}
	// Links are relative to the markdown file's directory.
	md = RenderMarkdown(sampleResults(), "bench")
	if !strings.Contains(md, "](results/capacity-anon-1k.svg)") {
		t.Error("chart link not relative to the markdown directory")
	}
}

func TestRenderMarkdownAllRunsFailed(t *testing.T) {
	res := sampleResults()
	res.Scenarios[0].Targets[0].Runs = []RunFigures{{Rep: 1, Failed: "sluice exited: boom"}}
	md := RenderMarkdown(res, ".")
	if !strings.Contains(md, "- sluice: every repetition failed: sluice exited: boom") {
		t.Errorf("failed target not reported:\n%s", md)
	}
}

func TestReplaceSection(t *testing.T) {
	doc := "# Benchmarks\n\nHand-written intro.\n\n" + SectionBegin + "\nold table\n" + SectionEnd + "\n\nHand-written outro.\n"
	got, err := ReplaceSection(doc, "new table")
	if err != nil {
		t.Fatal(err)
	}
	want := "# Benchmarks\n\nHand-written intro.\n\n" + SectionBegin + "\nnew table\n" + SectionEnd + "\n\nHand-written outro.\n"
	if got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	again, err := ReplaceSection(got, "new table")
	if err != nil || again != got {
		t.Errorf("not idempotent: %q %v", again, err)
	}
	// No markers: the section is appended.
	got, err = ReplaceSection("# B\nintro", "x\n")
	if err != nil || got != "# B\nintro\n\n"+SectionBegin+"\nx\n"+SectionEnd+"\n" {
		t.Errorf("append: %q %v", got, err)
	}
	for _, bad := range []string{
		SectionBegin + "\n" + SectionBegin + "\n" + SectionEnd,
		SectionBegin + "\nno end\n",
		SectionEnd + "\nx\n" + SectionBegin + "\n",
		"only end " + SectionEnd,
	} {
		if _, err := ReplaceSection(bad, "x"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestUpdateMarkdownSectionFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	body := RenderMarkdown(sampleResults(), filepath.Dir(path))
	if err := UpdateMarkdownSection(path, body); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(first), "# Benchmarks\n") || !strings.Contains(string(first), body) {
		t.Fatalf("new file:\n%s", first)
	}
	// Hand edits outside the markers survive; a second update is a no-op.
	edited := strings.Replace(string(first), "# Benchmarks\n", "# Benchmarks\n\nMethod notes by hand.\n", 1) + "\nFooter.\n"
	os.WriteFile(path, []byte(edited), 0o644)
	if err := UpdateMarkdownSection(path, body); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(path)
	if string(second) != edited {
		t.Errorf("update changed a file whose section was current")
	}
	if err := UpdateMarkdownSection(path, "replaced\n"); err != nil {
		t.Fatal(err)
	}
	third, _ := os.ReadFile(path)
	if !containsAll(string(third), "Method notes by hand.", "Footer.", SectionBegin+"\nreplaced\n"+SectionEnd) ||
		strings.Contains(string(third), "anon-1k") {
		t.Errorf("replacement:\n%s", third)
	}
	// A file with broken markers is left untouched.
	broken := filepath.Join(t.TempDir(), "B.md")
	os.WriteFile(broken, []byte(SectionBegin+"\n"), 0o644)
	if err := UpdateMarkdownSection(broken, "x"); err == nil {
		t.Error("broken markers accepted")
	}
}

func TestResultsJSONRoundTrip(t *testing.T) {
	res := sampleResults()
	path := filepath.Join(t.TempDir(), "out", "results.json")
	if err := res.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Scenarios[0].Targets[0].Median != res.Scenarios[0].Targets[0].Median ||
		back.Capacity.Results[0].Sustainable != 30000 || back.Preset.Name != "quick" {
		t.Errorf("round trip lost data: %+v", back.Scenarios[0].Targets[0].Median)
	}
	os.WriteFile(path, []byte(`{"schema": 99}`), 0o644)
	if _, err := ReadResults(path); err == nil {
		t.Error("wrong schema accepted")
	}
	os.WriteFile(path, []byte(`{`), 0o644)
	if _, err := ReadResults(path); err == nil {
		t.Error("bad JSON accepted")
	}
}

func TestMedianAndPairRatios(t *testing.T) {
	if median([]float64{3, 1, 2}) != 2 || median([]float64{4, 1, 3, 2}) != 2.5 || median(nil) != 0 {
		t.Error("median")
	}
	mk := func(rps ...float64) []RunFigures {
		out := make([]RunFigures, len(rps))
		for i, r := range rps {
			out[i] = RunFigures{Figures: Figures{Throughput: r, P99: time.Millisecond, CPUPerRequestUS: 10}}
		}
		return out
	}
	// Pairwise: 90/100, 200/200 (a fast rep for both), 45/50 -> median 0.9,
	// where the ratio of medians would be 90/100 too but the mean would not.
	r := pairRatios(mk(90, 200, 45), mk(100, 200, 50), "nginx")
	if r == nil || r.Throughput != 0.9 || r.P99 != 1 || r.CPUPerRequestUS != 1 {
		t.Errorf("ratios %+v", r)
	}
	failed := mk(90, 200, 45)
	failed[0].Failed = "x"
	failed[1].Failed = "x"
	r = pairRatios(failed, mk(100, 200, 50), "nginx")
	if r == nil || r.Throughput != 0.9 {
		t.Errorf("failed reps must be left out: %+v", r)
	}
	m := medianFigures(failed)
	if m.Throughput != 45 {
		t.Errorf("median over successful runs: %v", m.Throughput)
	}
}

func TestRenderMarkdownGoals(t *testing.T) {
	res := goalResults()
	res.Goals = ComputeGoals(res)
	for i := range res.Goals {
		switch res.Goals[i].Scenario {
		case "anon-1k":
			res.Goals[i].Profile = &ProfileTop{Scenario: "anon-1k", File: "bench/results/profiles/sluice-anon-1k.prof",
				Top: "Showing nodes accounting for 1s\n      flat  flat%   sum%        cum   cum%\n     0.5s 50.00% 50.00%      0.5s 50.00%  syscall.Syscall6"}
		case "log-sink-down":
			res.Goals[i].Profile = &ProfileTop{Scenario: "log-sink-down", Note: "no top functions: the go command is not on PATH"}
		}
	}
	md := RenderMarkdown(res, ".")
	for _, want := range []string{
		"### Goals\n",
		"| goal | measured | ratio | limit | status |",
		"| CPU per request, anon-1k: Sluice / nginx | sluice 19.50 vs nginx 15.50 µs/req | 1.26 | <= 1.00 | **missed** |",
		"| CPU per request, full-chain: Sluice / nginx | sluice 18.00 vs nginx 20.00 µs/req | 0.90 | <= 1.00 | met |",
		"| 1.50 | <= 1.00 | **missed** |",
		"| CPU per request, access log to a file on / off (anon-1k-log / anon-1k) | sluice 21.00 vs sluice-anon-1k 20.00 µs/req | 1.05 | <= 1.05 | met |",
		"| p99, access-log sink down / logging off (log-sink-down / anon-1k) | sluice p99 2.30 ms vs sluice-anon-1k 2.00 ms | 1.15 | <= 1.10 | **missed** |",
		"**anon-1k** (missed: cpu-anon-1k 1.26, p99-half-rate 1.50). `go tool pprof -top` of the gateway under the closed-loop anon-1k load, top 10 (profile kept locally, not committed: `bench/results/profiles/sluice-anon-1k.prof`):\n\n```text\nShowing nodes",
		"syscall.Syscall6\n```\n",
		"**log-sink-down** (missed: p99-sink-down 1.15). no top functions: the go command is not on PATH.\n",
		"### p99 at half of nginx's sustainable rate\n\nOpen loop at 25 000 req/s on anon-1k, half of nginx's sustainable rate (50 000 req/s per core",
		"| sluice | 1 000 |",
		"p99 vs nginx |",
		"**Reading:** Caddy's row does less work",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q\n%s", want, md)
		}
	}
	// The goals come first, before the method notes and scenario tables.
	if g, m := strings.Index(md, "### Goals"), strings.Index(md, "- Method:"); g < 0 || m < g {
		t.Errorf("goals not at the top:\n%s", md)
	}
	// Not-measured goals say why, with no figures.
	res.Goals[1] = Goal{What: "x", Limit: 1, Status: GoalNotMeasured, Reason: "scenario full-chain not in this run"}
	if md := RenderMarkdown(res, "."); !strings.Contains(md, "| x | — | — | <= 1.00 | not measured: scenario full-chain not in this run |") {
		t.Errorf("not-measured goal:\n%s", md)
	}
	res.HalfRate = &HalfRateResult{Skipped: "nginx not installed"}
	if md := RenderMarkdown(res, "."); !strings.Contains(md, "### p99 at half of nginx's sustainable rate\n\n**Not measured:** nginx not installed.") {
		t.Errorf("skipped half-rate:\n%s", md)
	}
}
