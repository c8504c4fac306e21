package bench

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// CPUPlan says which CPUs the process under test and the harness (load
// generator plus origin stub) run on. With two or more CPUs the target gets
// one CPU of its own, so every figure is "per core".
type CPUPlan struct {
	// Pinned is false on a one-CPU machine, where nothing is pinned.
	Pinned bool `json:"pinned"`
	// Target is the CPU the gateway or peer is pinned to.
	Target int `json:"target_cpu"`
	// Harness are the CPUs of the load generator and origin.
	Harness []int `json:"harness_cpus"`
}

func (p CPUPlan) String() string {
	if !p.Pinned {
		return "not pinned (one CPU available): target and harness share it"
	}
	return fmt.Sprintf("target on CPU %d, load generator and origin on CPUs %v", p.Target, p.Harness)
}

// AllowedCPUs returns the CPUs this process may run on, ascending.
func AllowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("bench: sched_getaffinity: %w", err)
	}
	var cpus []int
	for c := 0; c < len(set)*64 && len(cpus) < set.Count(); c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// PlanCPUs gives the last allowed CPU to the target and the rest to the harness.
func PlanCPUs(allowed []int) CPUPlan {
	if len(allowed) < 2 {
		return CPUPlan{Harness: allowed}
	}
	return CPUPlan{Pinned: true, Target: allowed[len(allowed)-1], Harness: append([]int(nil), allowed[:len(allowed)-1]...)}
}

// PinSelf restricts every thread of this process to cpus and sizes GOMAXPROCS
// to match. sched_setaffinity acts on one thread, so each thread in
// /proc/self/task is pinned; threads created later inherit the mask of the
// thread that creates them.
func PinSelf(cpus []int) error {
	if len(cpus) == 0 {
		return nil
	}
	if err := pinPID(os.Getpid(), cpus); err != nil {
		return err
	}
	runtime.GOMAXPROCS(len(cpus))
	return nil
}

// PinTree pins every thread of root and its descendants to cpus. It is applied
// after a target is ready, on top of taskset, to catch anything forked or
// spawned before taskset's mask was inherited (and in case taskset is missing).
func PinTree(root int, cpus []int) error {
	tree, err := ProcessTree(root)
	if err != nil {
		return err
	}
	for _, st := range tree {
		if err := pinPID(st.PID, cpus); err != nil {
			return err
		}
	}
	return nil
}

// pinPID pins all threads of process pid.
func pinPID(pid int, cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return fmt.Errorf("bench: list threads of %d: %w", pid, err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("bench: sched_setaffinity %d: %w", tid, err)
		}
	}
	return nil
}

// withTaskset prefixes argv with "taskset -c CPU" when pinning is planned and
// taskset is installed, so the target starts on its CPU from its first
// instruction.
func withTaskset(plan CPUPlan, argv []string) []string {
	if !plan.Pinned {
		return argv
	}
	ts, err := exec.LookPath("taskset")
	if err != nil {
		return argv
	}
	return append([]string{ts, "-c", strconv.Itoa(plan.Target)}, argv...)
}
