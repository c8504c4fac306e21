package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A real line with a hostile comm: spaces, parentheses and fake fields.
const hostileStat = "4242 (a) R 1 (b c) S 17 4242 4242 0 -1 4194560 1500 0 3 0 1234 567 -8 -9 20 0 7 0 98765 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"

func TestParseProcStatHostileComm(t *testing.T) {
	st, err := ParseProcStat([]byte(hostileStat))
	if err != nil {
		t.Fatal(err)
	}
	want := ProcStat{PID: 4242, Comm: "a) R 1 (b c", State: 'S', PPID: 17, UTime: 1234, STime: 567,
		CUTime: -8, CSTime: -9, NumThreads: 7, StartTime: 98765, RSSPages: 2048}
	if st != want {
		t.Fatalf("got  %+v\nwant %+v", st, want)
	}
}

func TestParseProcStatSelf(t *testing.T) {
	st, err := ReadProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != os.Getpid() || st.PPID != os.Getppid() || st.NumThreads < 1 || st.RSSPages <= 0 {
		t.Errorf("self: %+v", st)
	}
}

func TestParseProcStatRejects(t *testing.T) {
	bad := []string{
		"",
		"4242",
		"x (a) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21",
		"4242 (a R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21",
		"4242 (a) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20", // short
		"4242 (a) R 1 2 3 4 5 6 7 8 9 10 x 12 13 14 15 16 17 18 19 20 21",
		"4242 (a) R 1 2 3 4 5 6 7 8 9 10 -11 12 13 14 15 16 17 18 19 20 21",
		"4242 (a) R  1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21",
		"4242 (a) 7 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21",
		"0 (a) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21",
		"4242(a) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21",
		"4242 (a) R 1 2 3 4 5 6 7 8 9 10 99999999999999999999999 12 13 14 15 16 17 18 19 20 21",
	}
	for _, s := range bad {
		if st, err := ParseProcStat([]byte(s)); err == nil {
			t.Errorf("%q parsed: %+v", s, st)
		}
	}
}

func TestParseStatusKB(t *testing.T) {
	status := []byte("Name:\tnginx\nVmPeak:\t  10000 kB\nVmHWM:\t    5120 kB\nVmRSS:\t    4096 kB\nThreads:\t1\n")
	if v, ok := ParseStatusKB(status, "VmHWM"); !ok || v != 5120 {
		t.Errorf("VmHWM %d %v", v, ok)
	}
	if v, ok := ParseStatusKB(status, "VmRSS"); !ok || v != 4096 {
		t.Errorf("VmRSS %d %v", v, ok)
	}
	for _, key := range []string{"VmSwap", "Vm", "Threads", "Name"} {
		if v, ok := ParseStatusKB(status, key); ok {
			t.Errorf("%s: got %d", key, v)
		}
	}
	if _, ok := ParseStatusKB([]byte("VmHWM:\t -5 kB\n"), "VmHWM"); ok {
		t.Error("negative accepted")
	}
}

// TestSampleCPUOwnThread burns CPU on a locked thread and checks that the
// /proc reading grows by as much as getrusage(2) says the process used.
func TestSampleCPUOwnThread(t *testing.T) {
	before, err := SampleCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	ru0 := processCPU()
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		burn(300 * time.Millisecond)
		close(done)
	}()
	<-done
	ru := processCPU() - ru0
	after, err := SampleCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// /proc counts whole 10ms ticks; allow three of rounding.
	got := after.Since(before)
	if got < ru-30*time.Millisecond || got < 250*time.Millisecond {
		t.Errorf("/proc CPU grew by %v while getrusage grew by %v", got, ru)
	}
}

// TestSampleCPUChildTree starts a child that burns CPU and checks that the
// tree rooted at this process sees the child and its CPU time, and that
// the memory readers return sane values.
func TestSampleCPUChildTree(t *testing.T) {
	cmd := exec.Command(os.Args[0], "300ms")
	cmd.Env = append(os.Environ(), "BENCH_TEST_CHILD=burn")
	before, err := SampleCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	// Wait until the child has burnt its 300ms of CPU (30 ticks); how long
	// that takes depends on how busy the machine is.
	var child ProcStat
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if child, err = ReadProcStat(cmd.Process.Pid); err == nil && child.UTime+child.STime >= 29 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	tree, err := ProcessTree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range tree {
		found = found || p.PID == cmd.Process.Pid
	}
	if !found || tree[0].PID != os.Getpid() {
		t.Fatalf("child %d not in tree %v", cmd.Process.Pid, tree)
	}
	after, err := SampleCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if got := after.Since(before); got < 250*time.Millisecond {
		t.Errorf("tree CPU grew by %v, child alone has %d ticks", got, child.UTime+child.STime)
	}
	// Thread times are read here (Linux always exports schedstat's
	// on-CPU time) and agree with the tick counts to a few ticks.
	if after.ns == nil || before.ns == nil {
		t.Fatal("no per-thread schedstat times: Since fell back to 10 ms ticks")
	}
	byTicks := CPUSample{ticks: after.ticks}.Since(CPUSample{ticks: before.ticks})
	if d := after.Since(before) - byTicks; d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("thread times say %v, ticks %v", after.Since(before), byTicks)
	}
	mem, err := SampleMem(cmd.Process.Pid)
	if err != nil || mem.PeakRSS < 1<<20 || mem.RSS < 1<<20 || mem.RSS > mem.PeakRSS {
		t.Errorf("child memory %+v %v", mem, err)
	}
}

func TestCPUSampleSinceNewAndReused(t *testing.T) {
	prev := CPUSample{ticks: map[procKey]uint64{{1, 10}: 100, {2, 20}: 50}}
	cur := CPUSample{ticks: map[procKey]uint64{{1, 10}: 130, {2, 99}: 7, {3, 30}: 5}}
	// pid 1: +30; pid 2 reused (new start time): 7; pid 3 new: 5.
	if got, want := cur.Since(prev), 42*10*time.Millisecond; got != want {
		t.Errorf("Since = %v, want %v", got, want)
	}
}

func TestCPUSampleSinceThreads(t *testing.T) {
	p1, p2 := procKey{1, 10}, procKey{2, 20}
	prev := CPUSample{
		ticks: map[procKey]uint64{p1: 1, p2: 1},
		ns:    map[threadKey]uint64{{p1, 1}: 1000, {p1, 5}: 500, {p2, 2}: 70},
	}
	cur := CPUSample{
		ticks: map[procKey]uint64{p1: 9, p2: 9},
		// p1 thread 1 +300; thread 5 exited (lost); thread 6 new: 40;
		// p2 thread 2 +30.
		ns: map[threadKey]uint64{{p1, 1}: 1300, {p1, 6}: 40, {p2, 2}: 100},
	}
	if got, want := cur.Since(prev), 370*time.Nanosecond; got != want {
		t.Errorf("Since = %v, want %v", got, want)
	}
	// One sample without thread times: both fall back to ticks.
	noThreads := CPUSample{ticks: prev.ticks}
	if got, want := cur.Since(noThreads), 16*10*time.Millisecond; got != want {
		t.Errorf("Since without thread times = %v, want %v", got, want)
	}
}

func TestParseSchedstat(t *testing.T) {
	for in, want := range map[string]uint64{
		"190767462 29322570 577\n": 190767462,
		"0 0 1":                    0,
	} {
		if got, err := ParseSchedstat([]byte(in)); err != nil || got != want {
			t.Errorf("ParseSchedstat(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1 2", "1 2 3 4", "-1 2 3", "1 x 3", "1 2 3x", "99999999999999999999999 1 1"} {
		if _, err := ParseSchedstat([]byte(in)); err == nil {
			t.Errorf("ParseSchedstat(%q) accepted", in)
		}
	}
}

func FuzzSchedstat(f *testing.F) {
	f.Add([]byte("190767462 29322570 577\n"))
	f.Add([]byte("1 2 3 4"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseSchedstat(b)
		if err != nil {
			return
		}
		// Accepted means three fields, the first of which is v in decimal.
		f := bytes.Fields(b)
		if len(f) != 3 {
			t.Fatalf("ParseSchedstat(%q) accepted %d fields", b, len(f))
		}
		if w, err := strconv.ParseUint(string(f[0]), 10, 64); err != nil || w != v {
			t.Fatalf("ParseSchedstat(%q) = %d, strconv says %d, %v", b, v, w, err)
		}
	})
}

func FuzzProcStat(f *testing.F) {
	f.Add([]byte(hostileStat))
	f.Add([]byte("1 (systemd) S 0 1 1 0 -1 4194560 100 200 3 4 5 6 7 8 20 0 1 0 9 1000 10 18446744073709551615"))
	f.Add([]byte("7 (x) Z 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23\n"))
	f.Add([]byte("7 ()) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21"))
	f.Fuzz(func(t *testing.T, line []byte) {
		st, err := ParseProcStat(line)
		if err != nil {
			return
		}
		// Whatever parsed must survive a round trip through the format.
		again := fmt.Sprintf("%d (%s) %c %d 0 0 0 0 0 0 0 0 0 %d %d %d %d 0 0 %d 0 %d 0 %d",
			st.PID, st.Comm, st.State, st.PPID, st.UTime, st.STime, st.CUTime, st.CSTime,
			st.NumThreads, st.StartTime, st.RSSPages)
		st2, err := ParseProcStat([]byte(again))
		if err != nil || st2 != st {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v, %v", line, st, again, st2, err)
		}
		if !bytes.Contains(line, []byte(st.Comm)) || strings.Count(string(line), ")") < 1 {
			t.Fatalf("comm %q not from the input", st.Comm)
		}
	})
}
