package bench

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"
)

// Direction says which way a figure improves.
type Direction int

const (
	// HigherIsBetter: throughput, sustainable capacity.
	HigherIsBetter Direction = iota + 1
	// LowerIsBetter: latency, CPU per request, memory, errors.
	LowerIsBetter
	// Informational figures are printed but never flagged (max latency is
	// one sample: too noisy to gate on).
	Informational
)

// Change is one figure of one scenario and target, old versus new.
type Change struct {
	Scenario string
	Target   string
	Figure   string
	Old, New float64
	// Delta is New/Old - 1.
	Delta     float64
	Direction Direction
	// Regression is true when the figure got worse by more than the threshold.
	Regression bool
}

// errorRateFloor is the smallest absolute error-rate increase flagged (0.1
// percentage point): going from 0.001% to 0.002% errors is noise, not a
// regression, though it doubles.
const errorRateFloor = 0.001

// Compare matches old and new by scenario and target and returns every
// figure both measured. threshold is a fraction (0.05 for 5%).
func Compare(old, cur *Results, threshold float64) []Change {
	var out []Change
	add := func(sc, target, fig string, o, n float64, dir Direction) {
		if fig != "error_rate" && (o <= 0 || n <= 0) {
			return // zero means not measured on one side
		}
		c := Change{Scenario: sc, Target: target, Figure: fig, Old: o, New: n, Direction: dir}
		switch {
		case o > 0:
			c.Delta = n/o - 1
		case n > 0:
			c.Delta = math.Inf(1)
		}
		switch dir {
		case HigherIsBetter:
			c.Regression = c.Delta < -threshold
		case LowerIsBetter:
			c.Regression = c.Delta > threshold
			if fig == "error_rate" {
				c.Regression = c.Regression && n-o > errorRateFloor
			}
		}
		out = append(out, c)
	}
	oldTargets := map[[2]string]TargetResult{}
	for _, s := range old.Scenarios {
		for _, t := range s.Targets {
			if t.Skipped == "" {
				oldTargets[[2]string{s.Scenario.Name, t.Target}] = t
			}
		}
	}
	for _, s := range cur.Scenarios {
		for _, t := range s.Targets {
			o, ok := oldTargets[[2]string{s.Scenario.Name, t.Target}]
			if !ok || t.Skipped != "" {
				continue
			}
			sc, a, b := s.Scenario.Name, o.Median, t.Median
			add(sc, t.Target, "throughput_rps", a.Throughput, b.Throughput, HigherIsBetter)
			add(sc, t.Target, "p50", float64(a.P50), float64(b.P50), LowerIsBetter)
			add(sc, t.Target, "p90", float64(a.P90), float64(b.P90), LowerIsBetter)
			add(sc, t.Target, "p99", float64(a.P99), float64(b.P99), LowerIsBetter)
			add(sc, t.Target, "p99.9", float64(a.P999), float64(b.P999), LowerIsBetter)
			add(sc, t.Target, "max", float64(a.Max), float64(b.Max), Informational)
			add(sc, t.Target, "cpu_us_per_request", a.CPUPerRequestUS, b.CPUPerRequestUS, LowerIsBetter)
			add(sc, t.Target, "peak_rss", float64(a.PeakRSS), float64(b.PeakRSS), LowerIsBetter)
			add(sc, t.Target, "idle_conn_bytes", a.IdleConnBytes, b.IdleConnBytes, LowerIsBetter)
			add(sc, t.Target, "error_rate", a.ErrorRate, b.ErrorRate, LowerIsBetter)
			if o.VsFloor != nil && t.VsFloor != nil {
				// Read against the floor of the same run, so the machine's
				// drift between the two runs cancels out (floor.go).
				add(sc, t.Target, "cpu_vs_floor", o.VsFloor.CPUPerRequestUS, t.VsFloor.CPUPerRequestUS, LowerIsBetter)
			}
		}
	}
	if old.Capacity != nil && cur.Capacity != nil && old.Capacity.Scenario == cur.Capacity.Scenario {
		oldCap := map[string]CapacityResult{}
		for _, r := range old.Capacity.Results {
			oldCap[r.Target] = r
		}
		for _, r := range cur.Capacity.Results {
			o, ok := oldCap[r.Target]
			if !ok || o.Skipped != "" || r.Skipped != "" {
				continue
			}
			sc := "capacity " + cur.Capacity.Scenario
			add(sc, r.Target, "sustainable_rps", o.Sustainable, r.Sustainable, HigherIsBetter)
			add(sc, r.Target, "knee_rps", o.Knee, r.Knee, Informational)
		}
	}
	return out
}

// Regressions counts the flagged changes.
func Regressions(changes []Change) int {
	n := 0
	for _, c := range changes {
		if c.Regression {
			n++
		}
	}
	return n
}

// PrintChanges writes the changes as an aligned table.
func PrintChanges(w io.Writer, changes []Change, threshold float64) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\ttarget\tfigure\told\tnew\tchange\t\t")
	for _, c := range changes {
		flag := ""
		switch {
		case c.Regression:
			flag = "REGRESSION"
		case c.Direction == Informational:
			flag = "(info)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", c.Scenario, c.Target, c.Figure,
			fmtFigure(c.Figure, c.Old), fmtFigure(c.Figure, c.New), fmtDelta(c.Delta), flag)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d figures compared, %d regressions over %.3g%%\n", len(changes), Regressions(changes), threshold*100)
}

func fmtFigure(fig string, v float64) string {
	switch fig {
	case "p50", "p90", "p99", "p99.9", "max":
		return fmtDur(durationOf(v))
	case "peak_rss", "idle_conn_bytes":
		return fmtBytes(v)
	case "error_rate":
		return fmt.Sprintf("%.3f%%", v*100)
	case "cpu_us_per_request":
		return fmt.Sprintf("%.2f µs", v)
	case "cpu_vs_floor":
		return fmt.Sprintf("%.3f", v)
	}
	return fmtRate(v)
}

func durationOf(ns float64) time.Duration { return time.Duration(ns) }

func fmtDelta(d float64) string {
	if math.IsInf(d, 1) {
		return "new"
	}
	return fmt.Sprintf("%+.1f%%", d*100)
}
