package accesslog

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// TestSlowSinkIsolated: an HTTP sink whose server hangs fills its queue of
// one batch and drops (counted), while a file sink on the same logger gets
// every record without waiting for it.
func TestSlowSinkIsolated(t *testing.T) {
	release := make(chan struct{})
	hung := make(chan struct{}, 100)
	ln := listen(t)
	serve(t, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hung <- struct{}{}
		<-release
	}))
	path := filepath.Join(t.TempDir(), "a.log")
	l, err := New(Config{
		FlushInterval: Duration(10 * time.Millisecond),
		BatchSize:     4 << 10,
		Sinks: []SinkConfig{
			{Type: "http", Name: "slow", URL: "http://" + ln.Addr().String() + "/", QueueBatches: 1},
			{Type: "file", Path: path, QueueBatches: 1024},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000 // about 250 batches of 4 KiB
	for i := 0; i < n; i++ {
		put(l, 200, i)
		if i%100 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	waitFor(t, "the file sink to get everything", func() bool { return l.Stats().Sinks[1].Written == n })
	<-hung // the slow sink is stuck in its first request
	slow := l.Stats().Sinks[0]
	if slow.Written != 0 || slow.Dropped == 0 || !strings.Contains(slow.LastError, "queue full") {
		t.Fatalf("slow sink %+v", slow)
	}
	close(release)
	shutdown(t, l)
	st := l.Stats()
	checkAccounting(t, st, n)
	if st.Sinks[0].Written == 0 || st.Sinks[0].Dropped == 0 {
		t.Fatalf("slow sink after release %+v", st.Sinks[0])
	}
	if got := len(readIDs(t, path)); got != n {
		t.Fatalf("file has %d lines", got)
	}
}

// TestFlushTriggers: a lone record is shipped after flush_interval, and a
// full batch is shipped before it.
func TestFlushTriggers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	l := fileLogger(t, Config{FlushInterval: Duration(50 * time.Millisecond)}, path)
	put(l, 200, 0)
	waitFor(t, "time flush", func() bool { return l.Stats().Sinks[0].Written == 1 })
	shutdown(t, l)

	path = filepath.Join(t.TempDir(), "b.log")
	l = fileLogger(t, Config{FlushInterval: Duration(time.Hour), BatchSize: 4 << 10}, path)
	for i := 0; i < 100; i++ { // ~55 KiB
		put(l, 200, i)
	}
	waitFor(t, "size flush", func() bool { return l.Stats().Sinks[0].Written >= 90 })
	if w := l.Stats().Sinks[0].Written; w == 100 {
		t.Log("all 100 shipped before the hour: last batch was full too")
	}
	shutdown(t, l)
	if got := len(readIDs(t, path)); got != 100 {
		t.Fatalf("file has %d lines", got)
	}
}

func TestMetricsExposed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	written := sinkWrittenCounter("metrics_probe")
	before := written.Get()
	l, err := New(Config{RingSize: 16, Sinks: []SinkConfig{{Type: "file", Name: "metrics_probe", Path: path}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		put(l, 200, i)
	}
	shutdown(t, l)
	st := l.Stats()
	checkAccounting(t, st, 40)
	if got := written.Get() - before; got != st.Sinks[0].Written {
		t.Fatalf("metric counted %d written, stats %d", got, st.Sinks[0].Written)
	}
	var buf bytes.Buffer
	metrics.WritePrometheus(&buf, false)
	for _, want := range []string{
		"sluice_accesslog_sink_written_records_total{sink=\"metrics_probe\"} ",
		"sluice_accesslog_sink_dropped_records_total{sink=\"metrics_probe\"} ",
		"sluice_accesslog_sink_errors_total{sink=\"metrics_probe\"} ",
		"sluice_accesslog_dropped_total ",
		"sluice_accesslog_sampled_out_total ",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
