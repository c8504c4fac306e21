package bench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// progress is the one-line indicator of a long plan: step k of n, the rate
// offered, elapsed time and an estimate of what is left. On a terminal the
// line is rewritten in place with \r; into a file or pipe each step is a
// line of its own, so a CI log keeps them all. n is an upper bound (a
// search may end early), so the ETA errs long.
type progress struct {
	w        io.Writer
	tty      bool
	start    time.Time
	total, k int
	// last is the line on the terminal now, drawn again after a log line.
	last string
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, start: time.Now(), total: max(total, 1)}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// line formats the progress after step k started; the ETA extrapolates the
// mean time of the steps done so far.
func (p *progress) line(label string, rate float64, elapsed time.Duration) string {
	s := fmt.Sprintf("plan: step %d of at most %d, %s", p.k, p.total, label)
	if rate > 0 {
		s += fmt.Sprintf(", offering %.0f rps", rate)
	}
	s += ", elapsed " + elapsed.Round(time.Second).String()
	if p.k > 1 {
		per := elapsed / time.Duration(p.k-1)
		s += ", ETA at most " + (per * time.Duration(p.total-p.k+1)).Round(time.Second).String()
	}
	return s
}

func (p *progress) step(label string, rate float64) {
	if p == nil || p.w == nil {
		return
	}
	p.k = min(p.k+1, p.total)
	l := p.line(label, rate, time.Since(p.start))
	if p.tty {
		p.last = l
		fmt.Fprintf(p.w, "\r%s\x1b[K", l)
		return
	}
	fmt.Fprintln(p.w, l)
}

// logf writes a log line to w (nil: nowhere). When w is the terminal the
// progress line stands on, that line is cleared first and drawn again
// below: the command logs to the same stderr, and without this each log
// line would continue the progress line's text. p may be nil.
func (p *progress) logf(w io.Writer, format string, a ...any) {
	if w == nil {
		return
	}
	// Interfaces holding different dynamic types compare unequal without
	// panicking, and a terminal's w is an *os.File.
	if p == nil || !p.tty || p.last == "" || w != p.w {
		fmt.Fprintf(w, format, a...)
		return
	}
	fmt.Fprintf(w, "\r\x1b[K"+format, a...)
	fmt.Fprintf(w, "\r%s\x1b[K", p.last)
}

// done ends a terminal's progress line.
func (p *progress) done() {
	if p != nil && p.w != nil && p.tty {
		p.last = ""
		fmt.Fprintf(p.w, "\r%s\x1b[K\n", fmt.Sprintf("plan: done in %v", time.Since(p.start).Round(time.Second)))
	}
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

func usDur(us int64) string { return (time.Duration(us) * time.Microsecond).String() }

func topShares(ss []Share, n int, empty string) string {
	var parts []string
	for i, s := range ss {
		if i == n {
			parts = append(parts, fmt.Sprintf("+%d more", len(ss)-n))
			break
		}
		name := s.Name
		if name == "" {
			name = empty
		}
		parts = append(parts, fmt.Sprintf("%s %s", name, pct(s.Share)))
	}
	return strings.Join(parts, ", ")
}

// contended reports whether point i missed the SLO while the gateway's
// cores were less than half busy with its own work and its threads waited
// for a CPU over 1% of the step: other work on the machine, not the
// gateway, probably set that p99.
func (r *PlanCoreRun) contended(i int) bool {
	if i >= len(r.CPUWait) || i >= len(r.Found.Points) {
		return false
	}
	pt := r.Found.Points[i]
	busy := pt.Achieved * pt.CPUPerRequestUS / 1e6 / float64(r.Cores)
	return !pt.Met && pt.CPUPerRequestUS > 0 && busy < 0.5 && r.CPUWait[i] > 0.01
}

// Contended counts the missed steps of all runs that look contended.
func (res *PlanResult) Contended() int {
	n := 0
	for k := range res.Runs {
		for i := range res.Runs[k].Found.Points {
			if res.Runs[k].contended(i) {
				n++
			}
		}
	}
	return n
}

// Summary is the plan in a few lines, as `sluice-bench plan` prints it.
func (res *PlanResult) Summary() string {
	var b strings.Builder
	a := res.Plan
	fmt.Fprintf(&b, "per-core capacity: %.0f requests/s under %s (%s)\n", a.PerCore, res.Options.SLO, res.PerCoreBasis)
	fmt.Fprintf(&b, "peak %.0f requests/s at headroom %.2f: %d cores = ceil(%.0f / (%.0f x %.2f)); %d nodes of %d cores = ceil(%.0f / (%.0f x %d x %.2f)); %d with one node spare\n",
		a.Peak, a.Headroom, a.Cores, a.Peak, a.PerCore, a.Headroom, a.Nodes, a.CoresPerNode, a.Peak, a.PerCore, a.CoresPerNode, a.Headroom, a.Nodes+1)
	if n := len(res.Runs); n > 1 && res.Runs[n-1].Shared {
		fmt.Fprintf(&b, "with all %d cores the load generator and origin shared the gateway's cores: that figure understates the gateway\n", res.Runs[n-1].Cores)
	}
	fmt.Fprintf(&b, "replayed mix within %.2f percentage points of the log's, per API\n", res.MaxDiff)
	if n := res.Contended(); n > 0 {
		fmt.Fprintf(&b, "warning: %d missed step(s) look contended (the gateway waited for a CPU while less than half busy): other work on this machine set those p99s; the plan is pessimistic, re-run on a quiet machine\n", n)
	}
	for _, n := range res.Notes {
		if strings.HasPrefix(n, "warning: ") {
			fmt.Fprintln(&b, n)
		}
	}
	fmt.Fprintf(&b, "report %s, chart %s\n", res.Report, strings.Join(res.Charts, ", "))
	return b.String()
}

// Markdown is the plan's report.
func (res *PlanResult) Markdown() string {
	var b strings.Builder
	o := res.Options
	m := res.Mix
	a := res.Plan
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Capacity plan\n\n")
	p("Generated by `sluice-bench plan` on %s in %v, on this machine (%d CPUs, shared with other work: figures are indicative, re-run on the target hardware for a purchase).\n\n",
		res.Started.UTC().Format(time.RFC3339), res.Took.Round(time.Second), res.CPUs)
	p("| input | value |\n|---|---|\n")
	p("| config | `%s` |\n| access log | `%s`: %d records from %s to %s", o.Config, o.Replay, m.Records,
		m.First.UTC().Format(time.RFC3339), m.Last.UTC().Format(time.RFC3339))
	if m.LoggedRate > 0 {
		p(" (%.1f requests/s logged)", m.LoggedRate)
	}
	p(" |\n| SLO | %s, each step %v after %v warm-up |\n| peak | %.0f requests/s |\n| headroom | %.2f |\n| cores per node | %d |\n\n",
		o.SLO, o.Search.StepDuration, o.Search.StepWarmup, o.Peak, o.Headroom, o.CoresPerNode)

	p("## Plan\n\n")
	p("- Per-core capacity: **%.0f requests/s**, %s.\n", a.PerCore, res.PerCoreBasis)
	p("- Cores: ceil(peak / (per-core x headroom)) = ceil(%.0f / (%.0f x %.2f)) = ceil(%.3f) = **%d**.\n",
		a.Peak, a.PerCore, a.Headroom, a.Peak/(a.PerCore*a.Headroom), a.Cores)
	p("- Nodes: ceil(peak / (per-core x cores per node x headroom)) = ceil(%.0f / (%.0f x %d x %.2f)) = ceil(%.3f) = **%d** (%d to survive the loss of one).\n\n",
		a.Peak, a.PerCore, a.CoresPerNode, a.Headroom, a.Peak/(a.PerCore*float64(a.CoresPerNode)*a.Headroom), a.Nodes, a.Nodes+1)

	p("## Scaling\n\n| gateway cores | CPUs | sustainable (requests/s) | per core | knee | gateway CPU/request there | CPU-bound rate (cross-check) | generator |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range res.Runs {
		gen := "on other CPUs"
		if r.Shared {
			gen = "**shares the gateway's CPUs**"
		}
		p("| %d | %v | %.0f | %.0f | %.0f | %.1f µs | %.0f | %s |\n", r.Cores, r.CPUs, r.Found.Sustainable, r.PerCore, r.Found.Knee,
			r.CPUPerRequestUS, r.CPUBound, gen)
	}
	if len(res.Runs) > 1 {
		last := res.Runs[len(res.Runs)-1]
		if res.Scaling > 0 {
			p("\nThroughput scaled **%.2fx** from 1 to %d cores (%.0f%% of linear). ", res.Scaling, last.Cores, 100*res.Efficiency)
		} else {
			p("\nScaling not measured: the searches reached -max-rate. ")
		}
		if last.Shared {
			p("With all %d cores the load generator and the origin stub run on the gateway's cores, so the %d-core figure understates the gateway; a node that serves only the gateway does better. ", last.Cores, last.Cores)
		}
		p("Per-core figure used: %s.\n\n", res.PerCoreBasis)
	} else {
		p("\nOnly one core was available: scaling was not measured, and the generator shared the gateway's core.\n\n")
	}

	p("The CPU-bound rate is the gateway's cores divided by its CPU time per request at the sustainable rate: where its cores would be saturated. When it is far above the sustainable rate, latency (queueing behind other work on this machine, the backend latency the replay reproduces, or the SLO) bounds the figure rather than the gateway's CPU; the plan uses the latency-bound figure, the one the SLO defines.\n\n")
	p("## Traffic mix\n\nLogged shares from the access log; replayed shares from the replaying gateway's own access log of one pass over the replay list (`%s`).\n\n", filepath.Base(res.MixLog))
	p("| API | logged | replayed | diff (pp) |\n|---|---|---|---|\n")
	for _, r := range res.MixCheck {
		p("| %s | %s | %s | %+.2f |\n", r.API, pct(r.Logged), pct(r.Replayed), r.DiffPP)
	}
	p("\nLargest difference: %.2f percentage points.\n\n", res.MaxDiff)
	p("| API | methods | statuses | consumers | request bytes (p50/p99) | answer bytes (p50/p99) | backend latency (p50/p99) | gateway time (p50/p99) |\n|---|---|---|---|---|---|---|---|\n")
	for _, api := range m.APIs {
		backend := "-"
		if api.BackendUS.Max > 0 || api.BackendUS.P50 > 0 {
			backend = usDur(api.BackendUS.P50) + " / " + usDur(api.BackendUS.P99)
		}
		p("| %s | %s | %s | %s | %d / %d | %d / %d | %s | %s / %s |\n", api.Ref, topShares(api.Methods, 3, "-"),
			topShares(api.Statuses, 4, "-"), topShares(api.Consumers, 3, "anonymous"), api.BytesIn.P50, api.BytesIn.P99,
			api.BytesOut.P50, api.BytesOut.P99, backend, usDur(api.GatewayUS.P50), usDur(api.GatewayUS.P99))
	}
	p("\nConsumers: %s. Statuses logged: %s.\n\n", topShares(m.Consumers, 10, "anonymous"), topShares(m.Statuses, 10, "-"))

	p("## Load steps\n\nOpen loop, latency from each request's intended send time. 429 answers and the statuses the log has count as answers; transport errors and other statuses count as errors.\n\n")
	p("\"CPU wait\" is the time the gateway's threads were runnable but waiting for a CPU, as a share of the step.\n\n")
	p("| cores | offered | achieved | p50 | p90 | p99 | errors | gateway CPU/request | CPU wait | SLO |\n|---|---|---|---|---|---|---|---|---|---|\n")
	contended := 0
	for _, r := range res.Runs {
		for i, pt := range r.Found.Points {
			met := "missed"
			if pt.Met {
				met = "met"
			}
			wait := "-"
			if i < len(r.CPUWait) && r.CPUWait[i] >= 0 {
				wait = pct(r.CPUWait[i])
			}
			if r.contended(i) {
				contended++
				met += " (contended)"
			}
			p("| %d | %.0f | %.0f | %v | %v | %v | %.3f%% | %.1f µs | %s | %s |\n", r.Cores, pt.Offered, pt.Achieved,
				pt.P50, pt.P90, pt.P99, 100*pt.ErrorRate, pt.CPUPerRequestUS, wait, met)
		}
	}
	if contended > 0 {
		p("\n**%d missed step(s) are marked contended**: the gateway's cores were less than half busy with its own work, yet its threads waited for a CPU over 1%% of the step. Other work on this machine, not the gateway, probably pushed p99 over the SLO there, and the plan is pessimistic: re-run on a quiet machine.\n", contended)
	}
	if len(res.Charts) > 0 {
		p("\n![latency vs offered load](%s)\n", filepath.Base(res.Charts[len(res.Charts)-1]))
	}
	p("\n## How this was measured, and its limits\n\n")
	if o.Retries > 0 {
		p("- A step that missed the SLO was measured again (up to %d times) and the better measurement kept, so a stall of another process on this machine does not end the search early; a real limit misses every time.\n", o.Retries)
	}
	p("- The config was replayed as written, except: listeners on free loopback ports, every backend target answered by a replay origin of its own (up to 32; weights kept) with each logged request's status, answer size and backend latency, the access log into a temp file, and generated credentials (API keys, HMAC secrets, a JWT key) for the logged consumers, so authentication, limits and logging run as in production. Each request carries its logged client address in X-Forwarded-For (loopback is a trusted proxy), so IP rules and client-IP limits see the logged clients.\n")
	p("- Each kind of request (API, stage, method, consumer, auth outcome, status) appears in the replay list in proportion to its share of the log, interleaved evenly; sizes, paths and latencies come from records sampled evenly within the kind.\n")
	p("- Rate limits run at many times the logged rate with only the logged consumers, so more requests may be limited than in production; 429 answers cost the gateway less than proxied ones.\n")
	p("- Answer sizes are the logged ones after any compression or transform: a compressing API is replayed with an origin answer of the compressed size.\n")
	for _, n := range res.Notes {
		p("- %s.\n", strings.TrimSuffix(n, "."))
	}
	return b.String()
}
