//go:build !race

package proxy

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// loggedPipeline is BenchmarkPipeline's server with the access log on: a
// file sink in dir, flushed often so batches are written (and the shipper's
// and sink's work is inside the measurement) while the test runs.
func loggedPipeline(tb testing.TB) *Server {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "access.log")
	cfg := `
[access_log]
ring_size = 16384
flush_interval = "10ms"
[[access_log.sinks]]
type = "file"
name = "alloc_file"
path = ` + strconv.Quote(path) + `
check_interval = "10ms"
` + pipelineConfig
	s, _ := newInmemPipeline(tb, cfg)
	if s.accessLog == nil {
		tb.Fatal("access log not created from [access_log]")
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.accessLog.Shutdown(ctx); err != nil {
			tb.Errorf("access log shutdown: %v", err)
		}
	})
	return s
}

// TestPipelineLoggedZeroAllocs: the zero-allocation rule holds with the
// access log on. AllocsPerRun counts every goroutine's allocations, so the
// shipper and the file sink (batches written every 10 ms) are measured too.
func TestPipelineLoggedZeroAllocs(t *testing.T) {
	s := loggedPipeline(t)
	c := &clientConn{req: []byte(pipelineRequest)}
	for i := 0; i < 100; i++ {
		serveOne(t, s, c)
	}
	// Let the first batches reach the file: the shipper's and the sink's
	// buffers grow once, outside the measurement.
	time.Sleep(50 * time.Millisecond)
	allocs := testing.AllocsPerRun(2000, func() { serveOne(t, s, c) })
	if string(c.status) != "HTTP/1.1 200" {
		t.Fatalf("status line %q", c.status)
	}
	if allocs != 0 {
		t.Fatalf("%.1f allocations per logged request, want 0", allocs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.accessLog.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	st := s.accessLog.Stats()
	// 100 warm-up requests, AllocsPerRun's own warm-up run and 2000 measured.
	if want := uint64(100 + 1 + 2000); st.Shipped != want || st.Dropped != 0 || st.Sinks[0].Written != want {
		t.Fatalf("stats %+v, want %d records shipped and written", st, want)
	}
}

func BenchmarkPipelineLogged(b *testing.B) {
	s := loggedPipeline(b)
	c := &clientConn{req: []byte(pipelineRequest)}
	serveOne(b, s, c)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		serveOne(b, s, c)
	}
	b.StopTimer()
	// A ring drop is not a failure (never blocking is the point), but a
	// benchmark that mostly drops would measure the drop path: report it.
	if st := s.accessLog.Stats(); st.Dropped > 0 {
		b.ReportMetric(float64(st.Dropped)/float64(b.N+1), "dropped/op")
	}
}
