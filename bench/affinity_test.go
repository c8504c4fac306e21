package bench

import (
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func mustCPUs(t *testing.T) []int {
	t.Helper()
	cpus, err := AllowedCPUs()
	if err != nil || len(cpus) == 0 {
		t.Fatalf("allowed CPUs %v %v", cpus, err)
	}
	return cpus
}

func TestPlanCPUs(t *testing.T) {
	if p := PlanCPUs([]int{0}); p.Pinned || !strings.Contains(p.String(), "not pinned") {
		t.Errorf("one CPU: %+v", p)
	}
	p := PlanCPUs([]int{0, 1})
	if !p.Pinned || p.Target != 1 || !reflect.DeepEqual(p.Harness, []int{0}) {
		t.Errorf("two CPUs: %+v", p)
	}
	p = PlanCPUs([]int{2, 3, 5, 7})
	if p.Target != 7 || !reflect.DeepEqual(p.Harness, []int{2, 3, 5}) {
		t.Errorf("four CPUs: %+v", p)
	}
	argv := withTaskset(CPUPlan{}, []string{"/bin/true"})
	if len(argv) != 1 {
		t.Errorf("unpinned argv %v", argv)
	}
	if _, err := exec.LookPath("taskset"); err == nil {
		argv = withTaskset(CPUPlan{Pinned: true, Target: 3}, []string{"/bin/true", "x"})
		if len(argv) != 5 || argv[1] != "-c" || argv[2] != "3" || argv[3] != "/bin/true" {
			t.Errorf("taskset argv %v", argv)
		}
	}
}

// cpusAllowedList reads Cpus_allowed_list of a task from /proc.
func cpusAllowedList(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no Cpus_allowed_list in %s", path)
	return ""
}

// TestPinTreeChild pins a child process (and its threads) to one CPU and
// checks the kernel's view of every thread.
func TestPinTreeChild(t *testing.T) {
	cpus := mustCPUs(t)
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	target := cpus[len(cpus)-1]
	if err := PinTree(cmd.Process.Pid, []int{target}); err != nil {
		t.Fatal(err)
	}
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/task")
	for _, task := range tasks {
		got := cpusAllowedList(t, "/proc/"+strconv.Itoa(cmd.Process.Pid)+"/task/"+task.Name()+"/status")
		if got != strconv.Itoa(target) {
			t.Errorf("thread %s allowed on %q, want %d", task.Name(), got, target)
		}
	}
	if err := PinTree(1<<22+1, []int{target}); err == nil {
		t.Error("pinning a missing process succeeded")
	}
}

// TestPinSelfRestores pins this process to one CPU and back.
func TestPinSelfRestores(t *testing.T) {
	cpus := mustCPUs(t)
	if len(cpus) < 2 {
		t.Skip("one CPU")
	}
	defer func() {
		if err := PinSelf(cpus); err != nil {
			t.Fatal(err)
		}
		if got, _ := AllowedCPUs(); !reflect.DeepEqual(got, cpus) {
			t.Errorf("restored to %v, want %v", got, cpus)
		}
	}()
	if err := PinSelf(cpus[:1]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		if got := cpusAllowedList(t, "/proc/self/task/"+task.Name()+"/status"); got != strconv.Itoa(cpus[0]) {
			t.Errorf("thread %s allowed on %s", task.Name(), got)
		}
	}
}
