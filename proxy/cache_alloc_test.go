//go:build !race

package proxy

import "testing"

// TestCacheHitZeroAllocs (issue 13, acceptance 3): a response-cache hit
// through the real server and handler does not reach the upstream and
// allocates nothing, for the identity answer and for a stored compressed
// variant.
func TestCacheHitZeroAllocs(t *testing.T) {
	for _, tc := range []struct{ name, req string }{
		{"identity", cacheHitRequest},
		{"gzip", cacheHitGzipRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, up := newInmemCache(t)
			c := &clientConn{req: []byte(tc.req)}
			for i := 0; i < 10; i++ {
				serveOne(t, s, c)
			}
			before := up.requests
			allocs := testing.AllocsPerRun(200, func() { serveOne(t, s, c) })
			if string(c.status) != "HTTP/1.1 200" {
				t.Fatalf("status line %q", c.status)
			}
			if up.requests != before || before != 1 {
				t.Fatalf("upstream saw %d requests before and %d after the hits, want 1 and 1", before, up.requests)
			}
			if allocs != 0 {
				t.Fatalf("%.1f allocations per hit, want 0", allocs)
			}
		})
	}
}
