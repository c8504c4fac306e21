//go:build !race

package proxy

import "testing"

// TestPipelineZeroAllocs is the hot-path rule of DESIGN.md: a proxied request
// through the real server and handler allocates nothing in steady state.
func TestPipelineZeroAllocs(t *testing.T) {
	s, _ := newInmemPipeline(t, pipelineConfig)
	c := &clientConn{req: []byte(pipelineRequest)}
	for i := 0; i < 10; i++ {
		serveOne(t, s, c)
	}
	allocs := testing.AllocsPerRun(200, func() { serveOne(t, s, c) })
	if string(c.status) != "HTTP/1.1 200" {
		t.Fatalf("status line %q", c.status)
	}
	if allocs != 0 {
		t.Fatalf("%.1f allocations per request, want 0", allocs)
	}
}
