package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// userHZ is the unit of the tick counts in /proc/<pid>/stat. The kernel
// exports them in USER_HZ, which is 100 on every Linux architecture Go
// supports, whatever CONFIG_HZ the kernel runs with.
const userHZ = 100

// ProcStat is the part of /proc/<pid>/stat (proc(5)) the harness uses.
type ProcStat struct {
	PID   int
	Comm  string // executable name; may hold spaces and parentheses
	State byte
	PPID  int
	// UTime and STime are user and system CPU time of all the process's
	// threads, in clock ticks (1/100 s).
	UTime, STime uint64
	// CUTime and CSTime are the CPU times of waited-for children, in ticks.
	CUTime, CSTime int64
	NumThreads     int64
	StartTime      uint64 // ticks after boot; with PID, names a process uniquely
	RSSPages       int64
}

var errProcStat = errors.New("bench: malformed /proc/<pid>/stat")

// ParseProcStat parses one /proc/<pid>/stat line. The command name sits
// between the first " (" and the LAST ")": it can itself contain ") " and
// digits, so splitting on spaces from the left would misread a process named
// "a) R 1 (b".
func ParseProcStat(line []byte) (ProcStat, error) {
	var st ProcStat
	line = bytes.TrimRight(line, "\n")
	open := bytes.IndexByte(line, '(')
	closing := bytes.LastIndexByte(line, ')')
	if open < 2 || closing < open || line[open-1] != ' ' {
		return st, errProcStat
	}
	pid, err := parseUint(line[:open-1])
	if err != nil || pid == 0 || pid > 1<<22 {
		return st, errProcStat
	}
	st.PID = int(pid)
	st.Comm = string(line[open+1 : closing])
	rest := line[closing+1:]
	// Fields after the command: state ppid pgrp session tty_nr tpgid flags
	// minflt cminflt majflt cmajflt utime stime cutime cstime priority nice
	// num_threads itrealvalue starttime vsize rss ...
	var f [22][]byte
	n := 0
	for len(rest) > 0 && n < len(f) {
		if rest[0] != ' ' {
			return st, errProcStat
		}
		rest = rest[1:]
		end := bytes.IndexByte(rest, ' ')
		if end < 0 {
			end = len(rest)
		}
		if end == 0 {
			return st, errProcStat
		}
		f[n] = rest[:end]
		rest = rest[end:]
		n++
	}
	if n < len(f) || len(f[0]) != 1 || f[0][0] < 'A' || f[0][0] > 'z' {
		return st, errProcStat
	}
	st.State = f[0][0]
	var ppid uint64
	if ppid, err = parseUint(f[1]); err != nil || ppid > 1<<22 {
		return st, errProcStat
	}
	st.PPID = int(ppid)
	if st.UTime, err = parseUint(f[11]); err != nil {
		return st, errProcStat
	}
	if st.STime, err = parseUint(f[12]); err != nil {
		return st, errProcStat
	}
	if st.CUTime, err = parseInt(f[13]); err != nil {
		return st, errProcStat
	}
	if st.CSTime, err = parseInt(f[14]); err != nil {
		return st, errProcStat
	}
	if st.NumThreads, err = parseInt(f[17]); err != nil {
		return st, errProcStat
	}
	if st.StartTime, err = parseUint(f[19]); err != nil {
		return st, errProcStat
	}
	if st.RSSPages, err = parseInt(f[21]); err != nil {
		return st, errProcStat
	}
	return st, nil
}

// parseUint accepts only plain decimal digits (no sign, no spaces).
func parseUint(b []byte) (uint64, error) {
	if len(b) == 0 || len(b) > 20 {
		return 0, errProcStat
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errProcStat
		}
	}
	return strconv.ParseUint(string(b), 10, 64)
}

// parseInt accepts decimal digits with an optional leading minus.
func parseInt(b []byte) (int64, error) {
	neg := len(b) > 0 && b[0] == '-'
	digits := b
	if neg {
		digits = b[1:]
	}
	u, err := parseUint(digits)
	if err != nil || u > 1<<63-1 {
		return 0, errProcStat
	}
	if neg {
		return -int64(u), nil
	}
	return int64(u), nil
}

// ReadProcStat reads and parses /proc/<pid>/stat.
func ReadProcStat(pid int) (ProcStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ProcStat{}, err
	}
	st, err := ParseProcStat(b)
	if err != nil {
		return st, fmt.Errorf("%w: pid %d", err, pid)
	}
	return st, nil
}

// ProcessTree returns root and all its live descendants (nginx's master and
// workers, Caddy or a gateway with helper processes), root first. Processes
// are found by scanning /proc for parent links, which works without
// CONFIG_PROC_CHILDREN.
func ProcessTree(root int) ([]ProcStat, error) {
	rootSt, err := ReadProcStat(root)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	children := map[int][]ProcStat{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == root {
			continue
		}
		st, err := ReadProcStat(pid)
		if err != nil {
			continue // exited between ReadDir and ReadFile
		}
		children[st.PPID] = append(children[st.PPID], st)
	}
	tree := []ProcStat{rootSt}
	for i := 0; i < len(tree) && i < 1<<16; i++ {
		tree = append(tree, children[tree[i].PID]...)
	}
	return tree, nil
}

// procKey names a process uniquely even if its PID is reused.
type procKey struct {
	pid   int
	start uint64
}

// CPUSample is the CPU time of a process tree at one instant: per thread in
// nanoseconds from /proc/<pid>/task/<tid>/schedstat when every thread's is
// readable, and always per process in clock ticks from /proc/<pid>/stat.
// Ticks are 10 ms: a 1 s run of a gateway at half a core reads to ±2 %, too
// coarse for comparing two configs a few percent apart.
type CPUSample struct {
	ticks map[procKey]uint64
	ns    map[threadKey]uint64 // nil when some thread's schedstat was unreadable
}

// threadKey names a thread: its id within the process named by proc.
type threadKey struct {
	proc procKey
	tid  int
}

// SampleCPU reads the CPU time of root and its descendants.
func SampleCPU(root int) (CPUSample, error) {
	tree, err := ProcessTree(root)
	if err != nil {
		return CPUSample{}, err
	}
	s := CPUSample{ticks: make(map[procKey]uint64, len(tree)), ns: make(map[threadKey]uint64)}
	for _, st := range tree {
		k := procKey{st.PID, st.StartTime}
		s.ticks[k] = st.UTime + st.STime
		if s.ns != nil && !readThreadTimes(k, s.ns) {
			s.ns = nil
		}
	}
	return s, nil
}

// readThreadTimes adds the on-CPU nanoseconds of every thread of process k
// to into; false when the task list or a schedstat could not be read.
func readThreadTimes(k procKey, into map[threadKey]uint64) bool {
	dir := "/proc/" + strconv.Itoa(k.pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(dir + "/" + e.Name() + "/schedstat")
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // the thread exited between ReadDir and ReadFile
			}
			return false
		}
		ns, err := ParseSchedstat(b)
		if err != nil {
			return false
		}
		into[threadKey{k, tid}] = ns
	}
	return true
}

var errSchedstat = errors.New("bench: malformed /proc/<pid>/task/<tid>/schedstat")

// ParseSchedstat returns the first of the three numbers of a schedstat
// line, "on-CPU ns, run-queue wait ns, time slices". The on-CPU time is the
// scheduler's sum_exec_runtime: user and system time, in nanoseconds.
func ParseSchedstat(b []byte) (uint64, error) {
	f := bytes.Fields(b)
	if len(f) != 3 {
		return 0, errSchedstat
	}
	for _, x := range f[1:] {
		if _, err := parseUint(x); err != nil {
			return 0, errSchedstat
		}
	}
	v, err := parseUint(f[0])
	if err != nil {
		return 0, errSchedstat
	}
	return v, nil
}

// Since returns the CPU time the tree spent between prev and s: from the
// thread times when both samples have them, else from ticks. A process or
// thread that appeared in between is charged for all its time; one that
// exited in between is lost (its parent's cutime only grows once it is
// reaped).
func (s CPUSample) Since(prev CPUSample) time.Duration {
	if s.ns != nil && prev.ns != nil {
		return time.Duration(growth(prev.ns, s.ns))
	}
	return time.Duration(growth(prev.ticks, s.ticks)) * (time.Second / userHZ)
}

// growth sums how much each counter in cur grew since prev; a counter new
// in cur counts whole, one that went backwards (a reused key) not at all.
func growth[K comparable](prev, cur map[K]uint64) uint64 {
	var sum uint64
	for k, t := range cur {
		if p, ok := prev[k]; !ok {
			sum += t
		} else if p <= t {
			sum += t - p
		}
	}
	return sum
}

// MemSample is the memory of a process tree, summed over its processes.
type MemSample struct {
	// PeakRSS is the sum of VmHWM (peak resident set) in bytes.
	PeakRSS int64
	// RSS is the sum of VmRSS (current resident set) in bytes.
	RSS int64
}

// SampleMem reads VmHWM and VmRSS of root and its descendants. Shared pages
// (nginx workers forked from the master) are counted once per process, as ps
// does: an upper bound.
func SampleMem(root int) (MemSample, error) {
	tree, err := ProcessTree(root)
	if err != nil {
		return MemSample{}, err
	}
	var m MemSample
	for _, st := range tree {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(st.PID) + "/status")
		if err != nil {
			continue
		}
		hwm, _ := ParseStatusKB(b, "VmHWM")
		rss, _ := ParseStatusKB(b, "VmRSS")
		m.PeakRSS += hwm * 1024
		m.RSS += rss * 1024
	}
	return m, nil
}

// ParseStatusKB finds "Key:   1234 kB" in /proc/<pid>/status text and returns
// the number. ok is false when the key is missing or malformed.
func ParseStatusKB(status []byte, key string) (kb int64, ok bool) {
	for len(status) > 0 {
		line := status
		if i := bytes.IndexByte(status, '\n'); i >= 0 {
			line, status = status[:i], status[i+1:]
		} else {
			status = nil
		}
		if len(line) <= len(key) || string(line[:len(key)]) != key || line[len(key)] != ':' {
			continue
		}
		v := bytes.TrimSpace(line[len(key)+1:])
		v, found := bytes.CutSuffix(v, []byte(" kB"))
		if !found {
			return 0, false
		}
		n, err := parseUint(bytes.TrimSpace(v))
		if err != nil || n > 1<<50 {
			return 0, false
		}
		return int64(n), true
	}
	return 0, false
}
