package bench

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func findChange(cs []Change, sc, target, fig string) *Change {
	for i := range cs {
		if cs[i].Scenario == sc && cs[i].Target == target && cs[i].Figure == fig {
			return &cs[i]
		}
	}
	return nil
}

func TestCompareDirectionAware(t *testing.T) {
	old, cur := sampleResults(), sampleResults()
	s := &cur.Scenarios[0].Targets[0].Median // sluice, anon-1k
	s.Throughput *= 0.94                     // 6% fewer req/s: worse
	s.P99 = s.P99 * 96 / 100                 // 4% lower p99: better
	s.P50 = s.P50 * 110 / 100                // 10% higher p50: worse
	s.CPUPerRequestUS *= 0.5                 // half the CPU: better
	s.Max *= 3                               // informational only
	n := &cur.Scenarios[0].Targets[1].Median // nginx
	n.Throughput *= 1.2                      // better
	n.P99 = n.P99 * 104 / 100                // 4%: under threshold
	cur.Capacity.Results[0].Sustainable = 25000

	cs := Compare(old, cur, 0.05)
	expect := map[[2]string]bool{
		{"sluice", "throughput_rps"}:     true,
		{"sluice", "p99"}:                false,
		{"sluice", "p50"}:                true,
		{"sluice", "cpu_us_per_request"}: false,
		{"sluice", "max"}:                false,
		{"nginx", "throughput_rps"}:      false,
		{"nginx", "p99"}:                 false,
	}
	for k, want := range expect {
		c := findChange(cs, "anon-1k", k[0], k[1])
		if c == nil {
			t.Fatalf("no change for %v", k)
		}
		if c.Regression != want {
			t.Errorf("%v: regression %v, want %v (delta %+.3f)", k, c.Regression, want, c.Delta)
		}
	}
	if c := findChange(cs, "capacity anon-1k", "sluice", "sustainable_rps"); c == nil || !c.Regression {
		t.Errorf("capacity drop not flagged: %+v", c)
	}
	if findChange(cs, "anon-1k", "caddy", "throughput_rps") != nil || findChange(cs, "full-chain", "sluice", "p99") != nil {
		t.Error("skipped targets compared")
	}
	if Regressions(cs) != 3 {
		t.Errorf("%d regressions, want 3", Regressions(cs))
	}
	var out bytes.Buffer
	PrintChanges(&out, cs, 0.05)
	if !containsAll(out.String(), "REGRESSION", "(info)", "-6.0%", "3 regressions over 5%") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestCompareErrorRateFloor(t *testing.T) {
	old, cur := sampleResults(), sampleResults()
	old.Scenarios[0].Targets[0].Median.ErrorRate = 0.00001
	cur.Scenarios[0].Targets[0].Median.ErrorRate = 0.00003 // tripled, but 0.002 pp
	if c := findChange(Compare(old, cur, 0.05), "anon-1k", "sluice", "error_rate"); c == nil || c.Regression {
		t.Errorf("tiny error-rate change flagged: %+v", c)
	}
	old.Scenarios[0].Targets[0].Median.ErrorRate = 0
	cur.Scenarios[0].Targets[0].Median.ErrorRate = 0.01
	if c := findChange(Compare(old, cur, 0.05), "anon-1k", "sluice", "error_rate"); c == nil || !c.Regression {
		t.Errorf("0 -> 1%% errors not flagged: %+v", c)
	}
}

func TestCompareIdentical(t *testing.T) {
	cs := Compare(sampleResults(), sampleResults(), 0.05)
	if len(cs) == 0 || Regressions(cs) != 0 {
		t.Errorf("%d changes, %d regressions", len(cs), Regressions(cs))
	}
	for _, c := range cs {
		if c.Delta != 0 {
			t.Errorf("%+v", c)
		}
	}
}

func TestCompareCommandExitCodes(t *testing.T) {
	dir := t.TempDir()
	oldPath, newPath, samePath := filepath.Join(dir, "old.json"), filepath.Join(dir, "new.json"), filepath.Join(dir, "same.json")
	old, cur := sampleResults(), sampleResults()
	cur.Scenarios[0].Targets[0].Median.P99 += 10 * time.Millisecond
	old.WriteJSON(oldPath)
	cur.WriteJSON(newPath)
	old.WriteJSON(samePath)
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Main(append([]string{"compare"}, args...), &out, &errb, nil)
		return code, out.String() + errb.String()
	}
	if code, out := run(oldPath, newPath); code != 1 || !strings.Contains(out, "REGRESSION") {
		t.Errorf("regression: exit %d\n%s", code, out)
	}
	if code, _ := run(oldPath, samePath); code != 0 {
		t.Errorf("identical: exit %d", code)
	}
	// A huge threshold tolerates it.
	if code, _ := run("-threshold", "10000", oldPath, newPath); code != 0 {
		t.Errorf("threshold: exit %d", code)
	}
	if code, _ := run(oldPath); code != 2 {
		t.Errorf("one file: exit %d", code)
	}
	if code, _ := run(oldPath, filepath.Join(dir, "missing.json")); code != 2 {
		t.Errorf("missing file: exit %d", code)
	}
}
