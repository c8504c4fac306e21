package bench

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeProbe models a target whose p99 is 1 ms up to half its limit, grows
// linearly to 8 ms at the limit and explodes beyond.
func fakeProbe(limit float64, calls *[]float64) Probe {
	return func(_ context.Context, rate float64) (CapacityPoint, error) {
		*calls = append(*calls, rate)
		p := CapacityPoint{Achieved: rate, Completed: uint64(rate), P50: 500 * time.Microsecond}
		switch {
		case rate <= limit/2:
			p.P99 = time.Millisecond
		case rate <= limit:
			p.P99 = time.Duration(float64(time.Millisecond) * (1 + 7*(rate-limit/2)/(limit/2)))
		default:
			p.P99 = 200 * time.Millisecond
			p.ErrorRate = 0.02
		}
		return p, nil
	}
}

func TestFindCapacityBisects(t *testing.T) {
	var calls []float64
	spec := CapacitySpec{StartRate: 1000, Growth: 2, MaxRate: 1e6, StepDuration: time.Second, BisectSteps: 8}
	slo := SLO{P99: 10 * time.Millisecond, MaxErrorRate: 0.001}
	res, err := FindCapacity(context.Background(), spec, slo, fakeProbe(37000, &calls))
	if err != nil {
		t.Fatal(err)
	}
	// Steps 1k..32k pass, 64k fails; bisection narrows [32k, 64k] to < 2%.
	if res.Sustainable > 37000 || res.Sustainable < 37000*0.97 {
		t.Errorf("sustainable %.0f, want just under 37000", res.Sustainable)
	}
	if calls[6] != 64000 || len(calls) > 7+8 {
		t.Errorf("probe sequence %v", calls)
	}
	for i := 1; i < len(res.Points); i++ {
		if res.Points[i].Offered < res.Points[i-1].Offered {
			t.Fatalf("points not ascending: %v", res.Points)
		}
	}
	// p99 doubles over the 1 ms baseline once rate > limit/2 + limit/14.
	if res.Knee < 16000 || res.Knee > 21000 {
		t.Errorf("knee %.0f, want between 16k and 21k", res.Knee)
	}
	if res.AtMaxRate {
		t.Error("AtMaxRate set")
	}
}

func TestFindCapacityStopsAtMax(t *testing.T) {
	var calls []float64
	spec := CapacitySpec{StartRate: 1000, Growth: 3, MaxRate: 5000, StepDuration: time.Second, BisectSteps: 4}
	res, err := FindCapacity(context.Background(), spec, SLO{P99: 10 * time.Millisecond}, fakeProbe(1e9, &calls))
	if err != nil {
		t.Fatal(err)
	}
	if !res.AtMaxRate || res.Sustainable != 5000 || len(calls) != 3 || calls[2] != 5000 {
		t.Errorf("at max %v sustainable %v calls %v", res.AtMaxRate, res.Sustainable, calls)
	}
}

func TestFindCapacityFirstStepFails(t *testing.T) {
	var calls []float64
	spec := CapacitySpec{StartRate: 1000, Growth: 2, MaxRate: 1e5, StepDuration: time.Second, BisectSteps: 6}
	res, err := FindCapacity(context.Background(), spec, SLO{P99: 10 * time.Millisecond}, fakeProbe(300, &calls))
	if err != nil {
		t.Fatal(err)
	}
	if res.Sustainable > 300 || res.Sustainable < 200 {
		t.Errorf("sustainable %v, want bisected below 1000 to about 300 (calls %v)", res.Sustainable, calls)
	}
}

func TestFindCapacityErrors(t *testing.T) {
	boom := errors.New("target died")
	probe := func(context.Context, float64) (CapacityPoint, error) { return CapacityPoint{}, boom }
	spec := CapacitySpec{StartRate: 1000, Growth: 2, MaxRate: 1e5, StepDuration: time.Second}
	if _, err := FindCapacity(context.Background(), spec, SLO{P99: time.Millisecond}, probe); !errors.Is(err, boom) {
		t.Errorf("err %v", err)
	}
	for _, bad := range []CapacitySpec{
		{StartRate: 0, Growth: 2, MaxRate: 10, StepDuration: time.Second},
		{StartRate: 10, Growth: 1, MaxRate: 100, StepDuration: time.Second},
		{StartRate: 10, Growth: 2, MaxRate: 5, StepDuration: time.Second},
		{StartRate: 10, Growth: 2, MaxRate: 100},
		{StartRate: 10, Growth: 2, MaxRate: 100, StepDuration: time.Second, BisectSteps: 50},
	} {
		if _, err := FindCapacity(context.Background(), bad, SLO{}, probe); err == nil || errors.Is(err, boom) {
			t.Errorf("spec %+v: err %v", bad, err)
		}
	}
}

func TestSLOMet(t *testing.T) {
	slo := SLO{P99: 10 * time.Millisecond, MaxErrorRate: 0.001}
	ok := CapacityPoint{Completed: 10, P99: 10 * time.Millisecond, ErrorRate: 0.001}
	if !slo.Met(ok) {
		t.Error("boundary point should meet the SLO")
	}
	for _, p := range []CapacityPoint{
		{Completed: 10, P99: 10*time.Millisecond + 1},
		{Completed: 10, ErrorRate: 0.0011},
		{Completed: 0},
	} {
		if slo.Met(p) {
			t.Errorf("%+v met the SLO", p)
		}
	}
}

func TestPlanCapacity(t *testing.T) {
	p, err := PlanCapacity(20000, 100000, 0.7, 8)
	if err != nil {
		t.Fatal(err)
	}
	// 100000 / (20000 * 0.7) = 7.14 -> 8 cores -> 1 node (+1 for N+1).
	if p.Cores != 8 || p.Nodes != 1 || p.NodesN1 != 2 {
		t.Errorf("plan %+v", p)
	}
	p, _ = PlanCapacity(20000, 1000000, 0.5, 16)
	if p.Cores != 100 || p.Nodes != 7 {
		t.Errorf("plan %+v, want 100 cores, 7 nodes", p)
	}
	for _, bad := range [][3]float64{{1, 1, 0}, {1, 1, 1.5}, {1, -1, 0.5}} {
		if _, err := PlanCapacity(bad[0], bad[1], bad[2], 8); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if _, err := PlanCapacity(1, 1, 0.5, 0); err == nil {
		t.Error("zero cores per node accepted")
	}
	if p, _ := PlanCapacity(0, 1000, 0.7, 8); p.Cores != 0 {
		t.Errorf("unmeasured capacity planned %+v", p)
	}
}

func TestWriteLatencyCharts(t *testing.T) {
	var calls []float64
	spec := CapacitySpec{StartRate: 1000, Growth: 2, MaxRate: 1e6, StepDuration: time.Second, BisectSteps: 3}
	a, _ := FindCapacity(context.Background(), spec, SLO{P99: 10 * time.Millisecond}, fakeProbe(20000, &calls))
	a.Target = "sluice"
	b, _ := FindCapacity(context.Background(), spec, SLO{P99: 10 * time.Millisecond}, fakeProbe(30000, &calls))
	b.Target = "nginx"
	base := filepath.Join(t.TempDir(), "charts", "capacity-anon-1k")
	files, err := WriteLatencyCharts([]CapacityResult{a, b, {Target: "caddy", Skipped: "missing"}}, "test", base)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("files %v", files)
	}
	png, err := os.ReadFile(base + ".png")
	if err != nil || len(png) < 1000 || string(png[1:4]) != "PNG" {
		t.Errorf("png: %d bytes, %v", len(png), err)
	}
	svg, err := os.ReadFile(base + ".svg")
	if err != nil || !containsAll(string(svg), "<svg", "sluice p99", "nginx p50") {
		t.Errorf("svg: %v", err)
	}
	if files, err := WriteLatencyCharts(nil, "empty", base+"-none"); err != nil || files != nil {
		t.Errorf("no points: %v %v", files, err)
	}
}

// fakeGenerator models a generator that holds rates up to limit and falls
// behind beyond it.
func fakeGenerator(limit float64, calls *[]float64) func(context.Context, float64) (CalibrationPoint, error) {
	return func(_ context.Context, rate float64) (CalibrationPoint, error) {
		*calls = append(*calls, rate)
		n := uint64(rate)
		lr := &LoadResult{SendRate: rate, Throughput: rate, Sent: n, Completed: n, SendLagP99: time.Millisecond}
		if rate > limit {
			lr.SendRate, lr.Throughput, lr.SendLagP99 = limit, limit, time.Second
		}
		return CalibrationPointFrom(rate, time.Second, lr, 10*time.Millisecond), nil
	}
}

func TestFindCeiling(t *testing.T) {
	var calls []float64
	spec := CapacitySpec{Scenario: "anon-1k", StartRate: 5000, Growth: 2, MaxRate: 320000, StepDuration: time.Second, BisectSteps: 3}
	cal, err := FindCeiling(context.Background(), spec, 10*time.Millisecond, fakeGenerator(47000, &calls))
	if err != nil {
		t.Fatal(err)
	}
	// 5k..40k hold, 80k does not; three bisections: 60k no, 50k no, 45k yes.
	if cal.Ceiling != 45000 || cal.AtMaxRate || len(calls) != 8 || cal.Scenario != "anon-1k" || cal.LagBound != 10*time.Millisecond {
		t.Errorf("ceiling %v at max %v calls %v", cal.Ceiling, cal.AtMaxRate, calls)
	}
	for i := 1; i < len(cal.Points); i++ {
		if cal.Points[i].Offered < cal.Points[i-1].Offered {
			t.Fatalf("points not ascending: %+v", cal.Points)
		}
	}
	calls = nil
	cal, _ = FindCeiling(context.Background(), spec, 10*time.Millisecond, fakeGenerator(1e9, &calls))
	if cal.Ceiling != 320000 || !cal.AtMaxRate {
		t.Errorf("uncapped generator: %+v", cal)
	}
	calls = nil
	cal, _ = FindCeiling(context.Background(), spec, 10*time.Millisecond, fakeGenerator(2000, &calls))
	// 5000 fails; bisection below it: 2500 no, 1250 yes, 1875 yes.
	if cal.Ceiling != 1875 || len(calls) != 4 {
		t.Errorf("generator under the first step: ceiling %v calls %v", cal.Ceiling, calls)
	}
}

func TestCalibrationPointFrom(t *testing.T) {
	// One stall at the end of a short step moves the send and completed
	// rates of the span, not the verdict: the lag's p99 judges the schedule.
	const dur = 100 * time.Millisecond // 3000 requests at 30 000 req/s
	ok := LoadResult{SendRate: 25000, Throughput: 25000, Sent: 2940, Completed: 2882, SendLagP99: 10 * time.Millisecond, MaxSendLag: time.Second}
	if p := CalibrationPointFrom(30000, dur, &ok, 10*time.Millisecond); !p.Held || p.Answered != 2882 || p.Sent != 2940 {
		t.Errorf("within 2%% and the lag bound: %+v", p)
	}
	for name, lr := range map[string]LoadResult{
		"too few sent":     {Sent: 2939, Completed: 2939},
		"unanswered":       {Sent: 3000, Completed: 2939},
		"late":             {Sent: 3000, Completed: 3000, SendLagP99: 11 * time.Millisecond},
		"errors":           {Sent: 3000, Completed: 3000, Errors: 1},
		"nothing answered": {Sent: 3000},
	} {
		if p := CalibrationPointFrom(30000, dur, &lr, 10*time.Millisecond); p.Held {
			t.Errorf("%s held: %+v", name, p)
		}
	}
}

// TestApplyCalibration checks the harness-bound rule (ceiling under twice
// the figure), the CPU-derived capacity, and that plans use it.
func TestApplyCalibration(t *testing.T) {
	pts := []CapacityPoint{
		{Offered: 10000, Met: true, CPUPerRequestUS: 50},
		{Offered: 20000, Met: true, CPUPerRequestUS: 32},
		{Offered: 25000, Met: true}, // no CPU figure
		{Offered: 30000, Met: false, CPUPerRequestUS: 30},
	}
	results := []CapacityResult{
		{Target: "sluice", Sustainable: 25000, Points: pts},
		{Target: "nginx", Sustainable: 12000, Points: pts},
		{Target: "caddy", Sustainable: 21000},
		{Target: TargetDirect, Sustainable: 40000},
		{Target: "haproxy", Skipped: "missing"},
	}
	applyCalibration(results, &GeneratorCalibration{Ceiling: 40000})
	s := results[0]
	// 40000 < 2 x 25000; derived at 20000 req/s (the highest SLO-meeting
	// rate with a CPU figure): 1e6 / 32 = 31250.
	if !s.HarnessBound || s.Derived != 31250 || s.DerivedCPUUS != 32 || s.DerivedAt != 20000 || s.PerCore() != 31250 {
		t.Errorf("sluice %+v", s)
	}
	if n := results[1]; n.HarnessBound || n.PerCore() != 12000 {
		t.Errorf("nginx at 12000 under a 40000 ceiling is not harness-bound: %+v", n)
	}
	if c := results[2]; !c.HarnessBound || c.Derived != 0 || c.PerCore() != 21000 {
		t.Errorf("caddy without CPU figures keeps the search's figure, marked: %+v", c)
	}
	if results[3].HarnessBound || results[4].HarnessBound {
		t.Errorf("direct or skipped marked: %+v", results[3:])
	}
	if !HarnessBound(0, 1) || HarnessBound(0, 0) || HarnessBound(20000, 10000) || !HarnessBound(19999, 10000) {
		t.Error("HarnessBound's 2x rule")
	}
	// The report says so and shows the derivation.
	rep := sampleResults()
	rep.Capacity.Results = results
	rep.Capacity.Calibration = &GeneratorCalibration{Ceiling: 40000, LagBound: 10 * time.Millisecond, Points: []CalibrationPoint{
		{Offered: 20000, Held: true, HarnessCPUUS: 30},
		{Offered: 40000, Held: true, HarnessCPUUS: 20},
		{Offered: 80000, Held: false, HarnessCPUUS: 10},
	}}
	md := RenderMarkdown(rep, ".")
	if !containsAll(md, "| sluice | 25 000 (harness-bound; derived from CPU: 31 250) |", "| nginx | 12 000 |",
		"| caddy | 21 000 (harness-bound) |", "**40 000 req/s**", "at least 98% of the scheduled requests, 99% of them at most 10ms late",
		"- sluice: derived 31 250 req/s per core = 1 s / 32.00 µs per request (measured at 20 000 req/s offered); the search read 25 000.",
		"- caddy: harness-bound, and no CPU figure",
		"spent 20.00 µs of CPU per request at 40 000 req/s: a core of its own could offer at most about 50 000 req/s") {
		t.Errorf("markdown:\n%s", md)
	}
	rep.Capacity.Calibration = &GeneratorCalibration{LagBound: time.Millisecond, Points: []CalibrationPoint{
		{Offered: 1000, HarnessCPUUS: 100}, {Offered: 2000, HarnessCPUUS: 80}}}
	if md := RenderMarkdown(rep, "."); !containsAll(md, "at most 1ms late, with no errors: **none of the rates tried**.",
		"spent 80.00 µs of CPU per request at 2 000 req/s") {
		t.Errorf("markdown:\n%s", md)
	}
	rep.Capacity.Calibration = &GeneratorCalibration{Skipped: "origin down"}
	if md := RenderMarkdown(rep, "."); !strings.Contains(md, "**Generator not calibrated:** origin down") {
		t.Errorf("markdown:\n%s", md)
	}
}
