package bench

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestStartProcFailures(t *testing.T) {
	dir := t.TempDir()
	plan := PlanCPUs(mustCPUs(t))
	never := func(context.Context) error { return errors.New("not yet") }
	// Exits at once: the error carries its stderr.
	_, err := StartProc(context.Background(), ProcSpec{Name: "sh", Argv: []string{"sh", "-c", "echo bad config >&2; exit 3"},
		Dir: dir, Ready: never}, plan)
	if err == nil || !strings.Contains(err.Error(), "bad config") {
		t.Errorf("err %v", err)
	}
	// Never ready: stopped after the timeout.
	start := time.Now()
	_, err = StartProc(context.Background(), ProcSpec{Name: "sleep", Argv: []string{"sleep", "60"}, Dir: dir, Ready: never,
		ReadyTimeout: 300 * time.Millisecond}, plan)
	if err == nil || !strings.Contains(err.Error(), "not ready") || time.Since(start) > 10*time.Second {
		t.Errorf("err %v after %v", err, time.Since(start))
	}
	if _, err = StartProc(context.Background(), ProcSpec{Name: "missing", Argv: []string{"/nonexistent/bin"}, Dir: dir, Ready: never}, CPUPlan{}); err == nil {
		t.Error("missing binary started")
	}
}

func TestStartProcStopsGroup(t *testing.T) {
	dir := t.TempDir()
	plan := PlanCPUs(mustCPUs(t))
	// A parent with a child, like nginx's master and worker; SIGTERM ignored
	// by the parent so Stop must escalate.
	p, err := StartProc(context.Background(), ProcSpec{
		Name: "tree", Argv: []string{"sh", "-c", "trap '' TERM; sleep 60 & sleep 60; wait"}, Dir: dir,
		Ready: func(context.Context) error { return nil }, StopGrace: 300 * time.Millisecond,
	}, plan)
	if err != nil {
		t.Fatal(err)
	}
	var tree []ProcStat
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if tree, _ = ProcessTree(p.PID()); len(tree) >= 3 {
			break
		}
	}
	if len(tree) < 3 {
		t.Fatalf("tree %v", tree)
	}
	if plan.Pinned {
		got := cpusAllowedList(t, "/proc/"+itoa(tree[1].PID)+"/status")
		if got != itoa(plan.Target) {
			t.Errorf("child allowed on %s, want %d", got, plan.Target)
		}
	}
	p.Stop()
	if p.Alive() {
		t.Fatal("alive after Stop")
	}
	time.Sleep(50 * time.Millisecond)
	for _, st := range tree[1:] {
		if s, err := ReadProcStat(st.PID); err == nil && s.StartTime == st.StartTime && s.State != 'Z' {
			t.Errorf("child %d survived Stop (state %c)", st.PID, s.State)
		}
	}
	p.Stop() // idempotent
	if tail := p.StderrTail(100); tail == "" {
		t.Error("no stderr tail")
	}
	if _, err := os.Stat(dir + "/tree.stdout.log"); err != nil {
		t.Error(err)
	}
}

func TestHTTPReady(t *testing.T) {
	o := startTestOrigin(t, 0)
	ctx := context.Background()
	if err := HTTPReady(o.Addr(), "/x")(ctx); err != nil {
		t.Error(err)
	}
	if err := HTTPReady(o.Addr(), "/x?status=503")(ctx); err == nil {
		t.Error("503 counted as ready")
	}
	if err := HTTPReady(closedPort(t), "/")(ctx); err == nil {
		t.Error("closed port counted as ready")
	}
	if err := HTTPReady("8.8.8.8:80", "/")(ctx); err == nil {
		t.Error("non-loopback probe ran")
	}
	addr, err := FreeAddr()
	if err != nil || CheckLoopbackAddr(addr) != nil {
		t.Errorf("free addr %q %v", addr, err)
	}
}
