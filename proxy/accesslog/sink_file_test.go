package accesslog

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func rotationLogger(t *testing.T, path string) *Logger {
	t.Helper()
	l, err := New(Config{
		FlushInterval: Duration(10 * time.Millisecond),
		Sinks:         []SinkConfig{{Type: "file", Path: path, CheckInterval: Duration(10 * time.Millisecond), QueueBatches: 1024}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// putUntil logs records from *next until cond holds, pacing the producer.
func putUntil(t *testing.T, l *Logger, next *int, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		for k := 0; k < 20; k++ {
			if !put(l, 200, *next) {
				t.Fatalf("record %d dropped", *next)
			}
			*next++
		}
		time.Sleep(time.Millisecond)
	}
}

func exists(path string) func() bool {
	return func() bool { _, err := os.Stat(path); return err == nil }
}

// TestFileRotation: logrotate renames the file without telling us (stat
// detection), then renames it again and signals (Reopen). The three files
// together hold every record exactly once, and each got some.
func TestFileRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	l := rotationLogger(t, path)
	next := 0
	putUntil(t, l, &next, exists(path))
	putUntil(t, l, &next, func() bool { return next >= 500 })

	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	putUntil(t, l, &next, exists(path)) // the sink noticed and created a new file
	putUntil(t, l, &next, func() bool { return next >= 1500 })

	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	l.Reopen()
	l.Reopen() // coalesced, must not block
	putUntil(t, l, &next, exists(path))
	putUntil(t, l, &next, func() bool { return next >= 2500 })
	shutdown(t, l)

	seen := make([]int, next)
	for _, name := range []string{path + ".1", path + ".2", path} {
		lines := readLines(t, name)
		if len(lines) == 0 {
			t.Fatalf("%s is empty", name)
		}
		for _, ln := range lines {
			var i int
			if _, err := parseID(ln.RequestID, &i); err != nil || i >= next {
				t.Fatalf("bad id %q", ln.RequestID)
			}
			seen[i]++
		}
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&^0o640 != 0 {
			t.Fatalf("%s mode %v, want at most 0640", name, fi.Mode())
		}
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("record %d found %d times", i, n)
		}
	}
	st := l.Stats()
	checkAccounting(t, st, uint64(next))
	if st.Sinks[0].Written != uint64(next) {
		t.Fatalf("written %d of %d", st.Sinks[0].Written, next)
	}
}

// TestFileDeleted: removing the log file makes the sink create it again.
func TestFileDeleted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l := rotationLogger(t, path)
	next := 0
	putUntil(t, l, &next, exists(path))
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	putUntil(t, l, &next, exists(path))
	mark := next
	putUntil(t, l, &next, func() bool { return next >= mark+100 })
	shutdown(t, l)
	found := map[string]bool{}
	for _, ln := range readLines(t, path) {
		found[ln.RequestID] = true
	}
	for i := mark; i < next; i++ {
		if !found[string(idOf(i))] {
			t.Fatalf("record %d, logged after the new file appeared, is missing", i)
		}
	}
}

// TestFileUnwritable: a directory that does not exist yet makes the sink
// count drops, then it recovers once the directory appears.
func TestFileUnwritable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	path := filepath.Join(dir, "access.log")
	l := rotationLogger(t, path)
	for i := 0; i < 10; i++ {
		put(l, 200, i)
	}
	waitFor(t, "drops", func() bool { return l.Stats().Sinks[0].Dropped == 10 })
	if st := l.Stats().Sinks[0]; st.Errors == 0 || st.LastError == "" {
		t.Fatalf("errors not counted: %+v", st)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	next := 10
	putUntil(t, l, &next, exists(path))
	shutdown(t, l)
	st := l.Stats()
	checkAccounting(t, st, uint64(next))
	if got := len(readLines(t, path)); uint64(got) != st.Sinks[0].Written || got == 0 {
		t.Fatalf("file has %d lines, written %d", got, st.Sinks[0].Written)
	}
}
