package bench

import (
	"strings"
	"testing"
	"time"
)

func TestWriteFifthRate(t *testing.T) {
	mk := func(cpu float64) []RunFigures {
		return []RunFigures{{Rep: 1, Figures: Figures{Throughput: 2000, CPUPerRequestUS: cpu, P99: time.Millisecond, Requests: 2000}}}
	}
	s, n := mk(60), mk(40)
	res := sampleResults()
	res.HalfRate = &HalfRateResult{Scenario: "anon-1k", ReferenceSustainable: 10000, Rate: 5000, Divisor: 2, Reps: 1,
		FifthRate: &HalfRateResult{Scenario: "anon-1k", ReferenceSustainable: 10000, Rate: 2000, Divisor: 5, Reps: 1, Targets: []TargetResult{
			{Target: TargetSluice, Runs: s, Median: medianFigures(s), VsReference: pairRatios(s, n, "nginx")},
			{Target: "nginx", Runs: n, Median: medianFigures(n)},
		}}}
	md := RenderMarkdown(res, ".")
	if !containsAll(md, "### CPU and p99 at a fifth of nginx's sustainable rate",
		"Open loop at 2 000 req/s on anon-1k, a fifth of nginx's sustainable rate (10 000 req/s per core)",
		"| sluice | 2 000 |", "| 60.00 |", "| 1.50 | 1.00 |") {
		t.Errorf("markdown:\n%s", md)
	}
	if strings.Index(md, "fifth of nginx") < strings.Index(md, "half of nginx's sustainable rate\n") {
		t.Error("the fifth-rate section comes before the half-rate one")
	}
	res.HalfRate.FifthRate = &HalfRateResult{Skipped: "gateway exited"}
	if md := RenderMarkdown(res, "."); !strings.Contains(md, "**Not measured:** gateway exited.") {
		t.Errorf("markdown:\n%s", md)
	}
	if fifthRateReps(8) != 4 || fifthRateReps(1) != 2 || fifthRateReps(3) != 2 {
		t.Error("fifthRateReps")
	}
}
