package bench

import (
	"fmt"
	"path/filepath"
	"strings"
)

// writeGoals writes the Goals table and, for missed goals, the top of the
// gateway's CPU profile. Profile paths are made relative to mdDir.
func writeGoals(b *strings.Builder, goals []Goal, mdDir string) {
	b.WriteString("### Goals\n\n")
	b.WriteString("Each goal is a ratio that must not exceed its limit; ratios are medians of per-repetition ratios " +
		"measured side by side.\n\n")
	b.WriteString("| goal | measured | ratio | limit | status |\n|---|---|--:|--:|---|\n")
	for _, g := range goals {
		measured, ratio, status := g.Measured, fmtRatio(g.Ratio), g.Status
		switch g.Status {
		case GoalMissed:
			status = "**missed**"
		case GoalNotMeasured:
			measured, ratio = "—", "—"
			if g.Reason != "" {
				status += ": " + oneLine(g.Reason)
			}
		}
		fmt.Fprintf(b, "| %s | %s | %s | <= %.2f | %s |\n", g.What, measured, ratio, g.Limit, status)
	}
	// One profile per scenario, listing the goals it explains.
	var order []string
	byScenario := map[string][]Goal{}
	for _, g := range goals {
		if g.Status != GoalMissed {
			continue
		}
		if _, ok := byScenario[g.Scenario]; !ok {
			order = append(order, g.Scenario)
		}
		byScenario[g.Scenario] = append(byScenario[g.Scenario], g)
	}
	if len(order) == 0 {
		return
	}
	b.WriteString("\n#### Where the gateway's CPU goes, for the missed goals\n")
	for _, sc := range order {
		gs := byScenario[sc]
		ids := make([]string, len(gs))
		for i, g := range gs {
			ids[i] = fmt.Sprintf("%s %s", g.ID, fmtRatio(g.Ratio))
		}
		fmt.Fprintf(b, "\n**%s** (missed: %s).", sc, strings.Join(ids, ", "))
		pt := gs[0].Profile
		switch {
		case pt == nil:
			b.WriteString(" Not profiled in this run.\n")
		case pt.Top == "":
			fmt.Fprintf(b, " %s.\n", strings.TrimSuffix(oneLine(pt.Note), "."))
		default:
			file := pt.File
			if r, err := filepath.Rel(mdDir, file); err == nil && !strings.HasPrefix(r, "..") {
				file = filepath.ToSlash(r)
			}
			fmt.Fprintf(b, " `go tool pprof -top` of the gateway under the closed-loop %s load, top %d "+
				"(profile kept locally, not committed: `%s`):\n\n```text\n%s\n```\n",
				sc, profileTopN, file, pt.Top)
		}
	}
}

// writeHalfRate writes the open-loop run at half of nginx's sustainable rate.
func writeHalfRate(b *strings.Builder, h *HalfRateResult, p Preset) {
	b.WriteString("\n### p99 at half of nginx's sustainable rate\n\n")
	if h.Skipped != "" {
		fmt.Fprintf(b, "**Not measured:** %s.\n", strings.TrimSuffix(oneLine(h.Skipped), "."))
		return
	}
	of := fmtRate(h.ReferenceSustainable)
	if h.AtMaxRate {
		of = "at least " + of
	}
	fmt.Fprintf(b, "Open loop at %s req/s on %s, half of nginx's sustainable rate (%s req/s per core, from the capacity search): "+
		"both targets have headroom, so this is the latency a fleet planned at 50%% utilisation sees. "+
		"%d interleaved repetitions of %v warmup + %v measured; latency from the intended send time; medians shown.\n\n",
		fmtRate(h.Rate), h.Scenario, of, p.Reps, p.Warmup, p.Duration)
	writeScenarioTable(b, ScenarioResult{Reference: HalfRateReference, Targets: h.Targets})
}
