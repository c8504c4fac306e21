package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// profileTopN is how many functions of a profile the report shows.
const profileTopN = 10

// ProfileTop is the head of `go tool pprof -top` for one gateway profile.
type ProfileTop struct {
	// Scenario is the scenario the gateway ran while profiled.
	Scenario string `json:"scenario"`
	// File is the profile, for `go tool pprof`.
	File string `json:"file,omitempty"`
	// Top is pprof's -top output, limited to profileTopN functions.
	Top string `json:"top,omitempty"`
	// Note says why there is no Top.
	Note string `json:"note,omitempty"`
}

// profileMissed runs the gateway once more with -cpuprofile for each
// scenario of a missed goal (closed loop, the preset's warmup and
// duration) and attaches pprof's top functions to those goals.
func (r *runner) profileMissed(ctx context.Context, goals []Goal) {
	tops := map[string]*ProfileTop{}
	for _, name := range missedScenarios(goals) {
		if ctx.Err() != nil {
			break
		}
		sc, err := ScenarioByName(name)
		if err != nil {
			panic("BUG: goal scenario " + name + ": " + err.Error())
		}
		fmt.Fprintf(r.log, "profile %s (goal missed)\n", name)
		tops[name] = r.profileScenario(ctx, sc)
		if tops[name].Note != "" {
			fmt.Fprintf(r.log, "  %s\n", tops[name].Note)
		}
	}
	for i := range goals {
		if goals[i].Status == GoalMissed {
			goals[i].Profile = tops[goals[i].Scenario]
		}
	}
}

// profileScenario profiles the gateway on sc and reads the top functions.
func (r *runner) profileScenario(ctx context.Context, sc *Scenario) *ProfileTop {
	pt := &ProfileTop{Scenario: sc.Name}
	if reason := r.gatewayReason(sc); reason != "" {
		pt.Note = "not profiled: " + reason
		return pt
	}
	dir, err := os.MkdirTemp("", "sluice-bench-profile-")
	if err != nil {
		pt.Note = "not profiled: " + err.Error()
		return pt
	}
	if !r.opts.KeepTemp {
		defer os.RemoveAll(dir)
	}
	// .prof: the repository ignores profiles; the report carries the top.
	file, err := filepath.Abs(filepath.Join(r.opts.OutDir, "profiles", "sluice-"+sc.Name+".prof"))
	if err != nil {
		pt.Note = "not profiled: " + err.Error()
		return pt
	}
	_ = os.Remove(file) // a stale profile must not pass for this run's
	t, err := r.startGateway(ctx, sc, dir, TargetSluice, file)
	if err != nil {
		pt.Note = "not profiled: " + err.Error()
		return pt
	}
	run := r.runOnce(ctx, sc, t, 0, nil)
	stopStart := time.Now()
	t.stop() // the gateway writes the profile as it exits
	fmt.Fprintf(r.log, "  %d requests profiled; gateway exited in %v\n", run.Requests, time.Since(stopStart).Round(time.Millisecond))
	if run.Failed != "" {
		pt.Note = "not profiled: the load failed: " + run.Failed
		return pt
	}
	if st, err := os.Stat(file); err != nil || st.Size() == 0 {
		pt.Note = "not profiled: the gateway wrote no profile (" + t.proc.StderrTail(200) + ")"
		return pt
	}
	pt.File = file
	pt.Top, err = PprofTop(ctx, file, profileTopN)
	if err != nil {
		pt.Note = err.Error()
	}
	return pt
}

// PprofTop returns `go tool pprof -top` of a CPU profile, n functions,
// or an error saying why not (no go command on PATH).
func PprofTop(ctx context.Context, file string, n int) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no top functions: the go command is not on PATH (profile kept in %s)", file)
	}
	bin, err := pprofBinary(ctx, goBin)
	if err != nil {
		return "", fmt.Errorf("go tool pprof failed on %s: %v", file, err)
	}
	ctx, cancel := context.WithTimeout(ctx, pprofTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-top", fmt.Sprintf("-nodecount=%d", n), file)
	// pprof may cache symbolization data under $HOME; keep it in a temp dir.
	cmd.Env = append(os.Environ(), "PPROF_TMPDIR="+os.TempDir())
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go tool pprof failed on %s: %s", file, oneLine(exitMessage(err)))
	}
	return trimPprofHeader(string(out)), nil
}

// pprofTimeout bounds one pprof run; pprofBuildTimeout bounds finding the
// pprof binary, which on a cold build cache means building it.
var pprofTimeout, pprofBuildTimeout = time.Minute, 10 * time.Minute

// pprofBinary returns the pprof the go command runs. This Go ships pprof as
// source (GOROOT/pkg/tool has none): `go tool` builds it into the build
// cache on first use, which took 37 s on an idle 2-core machine with a cold
// cache and over a minute under load, so the build gets its own bound and
// pprofTimeout is pprof's alone (a make bench on a fresh machine reported
// "go tool pprof failed" for every missed goal).
func pprofBinary(ctx context.Context, goBin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, pprofBuildTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, goBin, "tool", "-n", "pprof").Output()
	if err != nil {
		return "", fmt.Errorf("finding pprof (go tool -n pprof): %s", oneLine(exitMessage(err)))
	}
	bin := strings.TrimSpace(string(out))
	if bin == "" || strings.Contains(bin, "\n") {
		return "", fmt.Errorf("finding pprof: go tool -n pprof printed %q", bin)
	}
	return bin, nil
}

// exitMessage is a failed command's stderr, or the error when it had none.
func exitMessage(err error) string {
	if ee, ok := err.(*exec.ExitError); ok && len(strings.TrimSpace(string(ee.Stderr))) > 0 {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return err.Error()
}

// trimPprofHeader drops the lines of pprof's header that differ per build
// and run without saying anything about costs (file, build id, type, time).
func trimPprofHeader(out string) string {
	var keep []string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if strings.HasPrefix(line, "File: ") || strings.HasPrefix(line, "Build ID: ") ||
			strings.HasPrefix(line, "Type: ") || strings.HasPrefix(line, "Time: ") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}
