package bench

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunHalfRate runs the fake gateway against real nginx: the capacity
// search finds nginx's rate, the half-rate run offers half of it open loop
// to both, and the CPU and p99 goals are measured.
func TestRunHalfRate(t *testing.T) {
	pe, _ := PeerByName("nginx")
	_, err := pe.Lookup()
	requireExternal(t, err)
	t.Setenv("BENCH_TEST_CHILD", "gateway")
	var log bytes.Buffer
	res, err := Run(context.Background(), RunOptions{
		Preset: Preset{
			Name: "test", Scenarios: []string{"anon-1k"},
			Warmup: 100 * time.Millisecond, Duration: 300 * time.Millisecond, Reps: 2, Connections: 8,
			Capacity: CapacitySpec{Scenario: "anon-1k", StartRate: 300, Growth: 2, MaxRate: 600,
				StepDuration: 300 * time.Millisecond, BisectSteps: 1, Connections: 32},
			CapacityTargets: []string{TargetSluice, "nginx"},
			HalfRate:        true,
		},
		GatewayBin: os.Args[0], Peers: []string{"nginx"}, NoDirect: true, OutDir: t.TempDir(),
		SLO: SLO{P99: time.Second, MaxErrorRate: 0.01}, StartOrigin: startRealOrigin, Log: &log,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	h := res.HalfRate
	if h == nil || h.Skipped != "" || h.ReferenceSustainable != 600 || !h.AtMaxRate || h.Rate != 300 || len(h.Targets) != 2 {
		t.Fatalf("half rate %+v\n%s", h, log.String())
	}
	for _, tr := range h.Targets {
		if len(tr.Runs) != 2 {
			t.Fatalf("%s: runs %+v", tr.Target, tr.Runs)
		}
		for _, run := range tr.Runs {
			if run.Failed != "" || run.Errors != 0 || run.Load.Mode != "open" || run.Load.OfferedRate != 300 {
				t.Errorf("%s run: %+v", tr.Target, run)
			}
		}
	}
	if s := h.Target(TargetSluice); s.VsReference == nil || s.VsReference.Reference != "nginx" || s.VsReference.P99 <= 0 {
		t.Errorf("sluice vs nginx %+v", s.VsReference)
	}
	if f := h.FifthRate; f == nil || f.Rate != 120 || f.Divisor != 5 || len(f.Targets) != 2 || len(f.Targets[0].Runs) != fifthRateReps(2) ||
		f.Target(TargetSluice).VsReference == nil || f.Target(TargetSluice).VsReference.CPUPerRequestUS <= 0 {
		t.Errorf("fifth rate %+v", f)
	}
	for _, g := range res.Goals {
		measured := g.ID == "cpu-anon-1k" || g.ID == "p99-half-rate" || g.ID == "cpu-over-floor-anon-1k" || g.ID == "cpu-half-rate"
		if measured != (g.Status != GoalNotMeasured) || (measured && g.Ratio <= 0) {
			t.Errorf("goal %+v", g)
		}
	}
	if !strings.Contains(log.String(), "p99 at half of nginx's sustainable rate: 300 rps") {
		t.Errorf("log:\n%s", log.String())
	}
}

// TestProfileMissed profiles the (fake) gateway once per scenario of a
// missed goal and attaches pprof's top functions.
func TestProfileMissed(t *testing.T) {
	t.Setenv("BENCH_TEST_CHILD", "gateway")
	out := t.TempDir()
	var log bytes.Buffer
	r, _, err := newRunner(RunOptions{
		Preset:     Preset{Name: "t", Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond, Reps: 1, Connections: 8},
		GatewayBin: os.Args[0], OutDir: out, StartOrigin: startRealOrigin, Log: &log,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.origin, err = startRealOrigin("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer closeOrigin(r.origin, &log)
	goals := []Goal{
		{ID: "a", Scenario: "anon-1k", Status: GoalMissed, Ratio: 1.2},
		{ID: "b", Scenario: "anon-1k", Status: GoalMissed, Ratio: 1.3},
		{ID: "c", Scenario: "full-chain", Status: GoalMet, Ratio: 0.9},
	}
	r.profileMissed(context.Background(), goals)
	p := goals[0].Profile
	if p == nil || goals[1].Profile != p || goals[2].Profile != nil {
		t.Fatalf("profiles %+v %+v %+v\n%s", goals[0].Profile, goals[1].Profile, goals[2].Profile, log.String())
	}
	if want := filepath.Join(out, "profiles", "sluice-anon-1k.prof"); p.File != want {
		t.Errorf("profile file %q, want %q (note %q)", p.File, want, p.Note)
	}
	if st, err := os.Stat(p.File); err != nil || st.Size() == 0 {
		t.Fatalf("profile: %v", err)
	}
	if _, err := exec.LookPath("go"); err != nil {
		if !strings.Contains(p.Note, "not on PATH") {
			t.Errorf("no go command, note %q", p.Note)
		}
		return
	}
	if !containsAll(p.Top, "Duration: ", "flat%", "cum%") || strings.Contains(p.Top, "Build ID") || p.Note != "" {
		t.Errorf("top %q note %q", p.Top, p.Note)
	}
	// Without the go command the profile is kept and the report says why.
	t.Setenv("PATH", "")
	if _, err := PprofTop(context.Background(), p.File, 10); err == nil || !strings.Contains(err.Error(), "not on PATH") {
		t.Errorf("pprof without go: %v", err)
	}
}

// TestRunTimeSlicedPreset: a preset that time-slices every scenario runs the
// gateway, the floor and the direct target (no process: no CPU figure)
// together, and scales each one's throughput to its own slices.
func TestRunTimeSlicedPreset(t *testing.T) {
	withoutFeatures(t)
	t.Setenv("BENCH_TEST_CHILD", "gateway")
	var log bytes.Buffer
	res, err := Run(context.Background(), RunOptions{
		Preset: Preset{
			Name: "test", Scenarios: []string{"anon-1k"}, TimeSliced: true,
			Warmup: 100 * time.Millisecond, Duration: 400 * time.Millisecond, Reps: 2, Connections: 8,
		},
		GatewayBin: os.Args[0], Peers: []string{}, OutDir: t.TempDir(), NoCapacity: true,
		SLO: SLO{P99: time.Second, MaxErrorRate: 0.01}, StartOrigin: startRealOrigin, Log: &log,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	sr := res.Scenarios[0]
	if sr.Reference != TargetDirect || len(sr.Targets) != 3 || sr.Targets[1].Target != TargetFloor {
		t.Fatalf("targets %+v, reference %q", sr.Targets, sr.Reference)
	}
	for _, tr := range sr.Targets {
		for _, run := range tr.Runs {
			if run.Failed != "" || run.Errors != 0 || run.Load == nil {
				t.Fatalf("%s run %+v\n%s", tr.Target, run, log.String())
			}
			// A third of the window each: the scaled rate is about three times the raw one.
			if raw := run.Load.Throughput; run.Throughput < 2.9*raw || run.Throughput > 3.1*raw {
				t.Errorf("%s: throughput %.0f, raw %.0f: not scaled to its slices", tr.Target, run.Throughput, raw)
			}
			if (tr.Target == TargetDirect) != (run.CPUPerRequestUS == 0) {
				t.Errorf("%s: CPU %v µs/req", tr.Target, run.CPUPerRequestUS)
			}
		}
	}
	if s := sr.Targets[0]; s.Target != TargetSluice || s.VsReference == nil || s.VsReference.Throughput <= 0 ||
		s.VsFloor == nil || s.VsFloor.CPUPerRequestUS <= 0 {
		t.Errorf("sluice vs direct and floor %+v", s)
	}
	if n := strings.Count(log.String(), "(time-sliced)"); n != 6 {
		t.Errorf("%d time-sliced run lines, want 6:\n%s", n, log.String())
	}
}
