package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPprofBuildNotChargedToTheRun: finding pprof may mean building it
// (a cold build cache), which must not eat the bound of the pprof run. A
// fake go command takes 2 s to "build" (in `go tool -n pprof` and, as the
// real one does, in `go tool pprof`), and the run's bound is 1 s: charged
// to the run, the build made every profile's top read "go tool pprof
// failed". The fake stands in for a minute-long build the suite cannot
// afford; the real pprof runs in TestProfileMissed.
func TestPprofBuildNotChargedToTheRun(t *testing.T) {
	dir := t.TempDir()
	pprof := filepath.Join(dir, "pprof")
	write := func(path, body string) {
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(pprof, "echo 'File: x'; echo 'Duration: 1s'; echo '      flat  flat%   sum%        cum   cum%'\n")
	write(filepath.Join(dir, "go"), `sleep 2
case "$*" in
"tool -n pprof") echo "`+pprof+`" ;;
"tool pprof "*) shift 2; exec "`+pprof+`" "$@" ;;
*) exit 2 ;;
esac
`)
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	run := pprofTimeout
	pprofTimeout = time.Second
	t.Cleanup(func() { pprofTimeout = run })
	top, err := PprofTop(context.Background(), filepath.Join(dir, "x.prof"), 5)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(top, "Duration: 1s") || strings.Contains(top, "File: ") {
		t.Fatalf("top %q", top)
	}
}
