package accesslog

import (
	"bufio"
	"os"
	"testing"
	"time"
)

func TestStdoutSink(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	l, err := New(Config{FlushInterval: Duration(10 * time.Millisecond)}) // default sink: stdout
	os.Stdout = old
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		put(l, 200, i)
	}
	shutdown(t, l)
	w.Close()
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		if ln := decodeLine(t, sc.Bytes()); ln.RequestID != string(idOf(n)) {
			t.Fatalf("line %d: id %q", n, ln.RequestID)
		}
		n++
	}
	if n != 50 || l.Stats().Sinks[0].Name != "stdout" {
		t.Fatalf("read %d lines", n)
	}
}
