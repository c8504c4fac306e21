package bench

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/bench/origin"
)

func startRealOrigin(addr string) (Origin, error) {
	s, err := origin.Start(addr)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// TestRunEndToEnd drives Run with a fake gateway process (this test binary,
// see fakeGateway) and the real origin stub: target start-up on generated
// configs, interleaved repetitions, /proc readings, skips, idle
// connections, the capacity search, charts and the report.
func TestRunEndToEnd(t *testing.T) {
	withoutFeatures(t) // this test is about scenarios whose features the gateway lacks
	t.Setenv("BENCH_TEST_CHILD", "gateway")
	saved := Scenarios
	t.Cleanup(func() { Scenarios = saved })
	Scenarios = append(append([]Scenario(nil), saved...), Scenario{
		Name: "test-idle", Title: "idle", Doc: "idle connections, small", Method: "GET",
		Path: "/anon/item?size=1024", RespBytes: 1024, IdleConns: 100, Peers: true,
	}, Scenario{
		Name: "test-baseline", Title: "baseline", Doc: "side by side with anon-1k", Method: "GET",
		Path: "/anon/item?size=1024", RespBytes: 1024, Baseline: "anon-1k",
	}, Scenario{
		Name: "test-sliced", Title: "time-sliced", Doc: "time-sliced with anon-1k", Method: "GET",
		Path: "/anon/item?size=1024", RespBytes: 1024, Baseline: "anon-1k", TimeSliced: true,
	})
	out := t.TempDir()
	cpus := mustCPUs(t)
	var log bytes.Buffer
	res, err := Run(context.Background(), RunOptions{
		Preset: Preset{
			Name: "test", Scenarios: []string{"anon-1k", "full-chain", "test-idle", "test-baseline", "test-sliced"},
			Warmup: 100 * time.Millisecond, Duration: 300 * time.Millisecond, Reps: 2, Connections: 8,
			Capacity: CapacitySpec{Scenario: "anon-1k", StartRate: 300, Growth: 2, MaxRate: 600,
				StepDuration: 300 * time.Millisecond, BisectSteps: 1, Connections: 32},
		},
		GatewayBin: os.Args[0], FloorBin: os.Args[0], Peers: []string{}, OutDir: out,
		SLO:  SLO{P99: time.Second, MaxErrorRate: 0.01},
		Peak: 10000, CoresPerNode: 4, Headroom: 0.5,
		StartOrigin: startRealOrigin, Log: &log,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if got, _ := AllowedCPUs(); !reflect.DeepEqual(got, cpus) {
		t.Errorf("CPUs not restored: %v, want %v", got, cpus)
	}
	if !strings.Contains(log.String(), "plan (preset test)") {
		t.Errorf("plan not printed first:\n%s", log.String())
	}
	byName := map[string]ScenarioResult{}
	for _, s := range res.Scenarios {
		byName[s.Scenario.Name] = s
	}
	target := func(sc, name string) TargetResult {
		for _, tr := range byName[sc].Targets {
			if tr.Target == name {
				return tr
			}
		}
		t.Fatalf("%s: no target %s in %+v", sc, name, byName[sc].Targets)
		return TargetResult{}
	}
	// Idle connections run without direct (the harness would hold both
	// ends): the gateway and the floor, no reference.
	if ti := byName["test-idle"]; len(ti.Targets) != 2 || ti.Targets[0].Target != TargetSluice ||
		ti.Targets[1].Target != TargetFloor || ti.Reference != "" {
		t.Errorf("test-idle targets %+v", ti.Targets)
	}
	for _, r := range append(target("test-idle", TargetSluice).Runs, target("test-idle", TargetFloor).Runs...) {
		if r.Failed != "" || r.Requests == 0 || r.Errors != 0 {
			t.Errorf("test-idle run %+v\n%s", r, log.String())
		}
	}
	// The floor runs beside the gateway wherever the peers would, as its
	// own process, and the gateway's ratios to it are taken; not beside
	// the baseline comparisons.
	for _, sc := range []string{"anon-1k", "test-idle"} {
		f := target(sc, TargetFloor)
		if f.Skipped != "" || len(f.Runs) != 2 || f.Median.CPUPerRequestUS <= 0 || f.Median.Errors != 0 {
			t.Errorf("%s: floor %+v\n%s", sc, f, log.String())
		}
		if v := target(sc, TargetSluice).VsFloor; v == nil || v.Reference != TargetFloor || v.CPUPerRequestUS <= 0 {
			t.Errorf("%s: sluice vs floor %+v", sc, v)
		}
	}
	// Nor where the gateway cannot run (full-chain's features are off here).
	for _, sc := range []string{"test-baseline", "test-sliced", "full-chain"} {
		for _, tr := range byName[sc].Targets {
			if tr.Target == TargetFloor {
				t.Errorf("%s: floor beside a baseline comparison", sc)
			}
		}
	}
	for _, sc := range []string{"anon-1k"} {
		s, d := target(sc, TargetSluice), target(sc, TargetDirect)
		if s.Skipped != "" || len(s.Runs) != 2 || len(d.Runs) != 2 {
			t.Fatalf("%s: sluice %+v\n%s", sc, s, log.String())
		}
		for _, r := range append(s.Runs, d.Runs...) {
			if r.Failed != "" || r.Requests == 0 || r.Errors != 0 || r.Load == nil {
				t.Errorf("%s run %+v\n%s", sc, r, log.String())
			}
		}
		m := s.Median
		if m.CPUPerRequestUS <= 0 || m.PeakRSS <= 0 || m.Throughput <= 0 || m.P99 <= 0 {
			t.Errorf("%s: sluice median %+v", sc, m)
		}
		if d.Median.CPUPerRequestUS != 0 {
			t.Errorf("%s: direct has no process to measure, got CPU %v", sc, d.Median.CPUPerRequestUS)
		}
		if byName[sc].Reference != TargetDirect || s.VsReference == nil || s.VsReference.Throughput <= 0 {
			t.Errorf("%s: reference %q ratios %+v", sc, byName[sc].Reference, s.VsReference)
		}
	}
	// A baseline scenario runs two gateways side by side, the baseline as
	// the reference, and no direct target.
	if tb := byName["test-baseline"]; len(tb.Targets) != 2 || tb.Reference != "sluice-anon-1k" ||
		tb.Targets[0].Target != TargetSluice || tb.Targets[1].Target != "sluice-anon-1k" ||
		len(tb.Targets[1].Runs) != 2 || tb.Targets[0].VsReference == nil || tb.Targets[0].VsReference.CPUPerRequestUS <= 0 {
		t.Errorf("baseline scenario %+v", tb)
	}
	// The time-sliced scenario: both gateways measured in each rep, over
	// the same window.
	if tc := byName["test-sliced"]; len(tc.Targets) != 2 || tc.Reference != "sluice-anon-1k" ||
		tc.Targets[0].VsReference == nil || tc.Targets[0].VsReference.CPUPerRequestUS <= 0 {
		t.Errorf("time-sliced scenario %+v", tc)
	} else {
		for _, tr := range tc.Targets {
			if len(tr.Runs) != 2 {
				t.Errorf("time-sliced %s: %d runs", tr.Target, len(tr.Runs))
			}
			for _, run := range tr.Runs {
				if run.Failed != "" || run.Errors != 0 || run.Throughput <= 0 || run.CPUPerRequestUS <= 0 {
					t.Errorf("time-sliced %s run %+v", tr.Target, run)
				}
			}
		}
	}
	if n := strings.Count(log.String(), "(time-sliced)"); n != 4 {
		t.Errorf("%d time-sliced run lines, want 2 reps x 2 targets:\n%s", n, log.String())
	}
	if p := res.StealPercent; p == nil || *p < 0 || *p > 100 {
		t.Errorf("steal percent %v", p)
	} else if md := RenderMarkdown(res, out); !strings.Contains(md, "Hypervisor steal during the run") {
		t.Errorf("report does not give the steal:\n%s", md)
	}
	if len(res.Goals) != len(goalSpecs) {
		t.Errorf("goals %+v", res.Goals)
	}
	if b := target("test-idle", TargetSluice).Median.IdleConnBytes; b <= 0 {
		t.Errorf("idle connection memory %v", b)
	}
	if s := target("full-chain", TargetSluice); !strings.Contains(s.Skipped, "needs feature key-auth, throttle, access-log") {
		t.Errorf("full-chain sluice: %q", s.Skipped)
	}
	c := res.Capacity
	if c == nil || len(c.Results) != 2 || len(c.Charts) != 2 {
		t.Fatalf("capacity %+v", c)
	}
	for _, r := range c.Results {
		if r.Skipped != "" || r.Sustainable != 600 || !r.AtMaxRate || len(r.Points) != 2 {
			t.Errorf("capacity %s: %+v\n%s", r.Target, r, log.String())
		}
	}
	// The plan uses the search's figure, or, when the generator's
	// calibration could not offer twice that rate (a loaded machine), the
	// figure derived from CPU per request; either way the arithmetic holds.
	for _, r := range c.Results {
		if r.Target != TargetSluice {
			continue
		}
		pl := c.Plans[TargetSluice]
		if !r.HarnessBound && (pl.Cores != 34 || pl.Nodes != 9) {
			t.Errorf("plan %+v, want 10000/(600*0.5) = 34 cores on 9 nodes", pl)
		}
		if want := int(math.Ceil(10000 / (r.PerCore() * 0.5))); pl.Cores != want || pl.PerCore != r.PerCore() {
			t.Errorf("plan %+v, want %d cores from %v per core (harness-bound %v)", pl, want, r.PerCore(), r.HarnessBound)
		}
	}
	for _, f := range c.Charts {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 || filepath.Dir(f) != out {
			t.Errorf("chart %s: %v", f, err)
		}
	}
	md := RenderMarkdown(res, out)
	if !containsAll(md, "| sluice |", "| direct |", "| floor |", "### Over the fasthttp floor", "needs feature", "![latency vs offered load](capacity-anon-1k.svg)") {
		t.Errorf("markdown:\n%s", md)
	}
}

func TestRunOptionsErrors(t *testing.T) {
	p := Presets["quick"]
	if _, err := Run(context.Background(), RunOptions{Preset: p}); err == nil {
		t.Error("run without an origin starter")
	}
	if _, err := Run(context.Background(), RunOptions{Preset: Preset{Name: "x"}, StartOrigin: startRealOrigin}); err == nil {
		t.Error("preset without reps")
	}
	if _, err := Run(context.Background(), RunOptions{Preset: p, Peers: []string{"apache"}, StartOrigin: startRealOrigin}); err == nil {
		t.Error("unknown peer")
	}
	if _, err := Run(context.Background(), RunOptions{Preset: p, Scenarios: []string{"nope"}, StartOrigin: startRealOrigin}); err == nil {
		t.Error("unknown scenario")
	}
	// Missing gateway binary: the gateway is skipped with the reason, and
	// direct does not run alone.
	var log bytes.Buffer
	res, err := Run(context.Background(), RunOptions{
		Preset:     Preset{Name: "t", Scenarios: []string{"anon-1k"}, Duration: 100 * time.Millisecond, Reps: 1, Connections: 2},
		GatewayBin: filepath.Join(t.TempDir(), "sluice"), Peers: []string{}, NoCapacity: true,
		StartOrigin: startRealOrigin, Log: &log,
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Scenarios[0].Targets; len(s) != 1 || !strings.Contains(s[0].Skipped, "not found") || s[0].Target != TargetSluice ||
		res.Scenarios[0].Skipped == "" || len(res.Goals) != len(goalSpecs) || res.Goals[0].Status != GoalNotMeasured {
		t.Errorf("scenario %+v goals %+v", res.Scenarios[0], res.Goals)
	}
}
