package proxy

import (
	"net"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/policy"
)

// cacheConfig is BenchmarkPipeline's API with the response cache and
// compression on; the upstream's canned answer has no freshness, so the
// API's ttl makes it cacheable.
const cacheConfig = pipelineConfig + `
[groups.apis.cache]
ttl = "60s"
[groups.apis.compression]
min_size = "1KiB"
`

const cacheHitRequest = "GET /users/42?fields=name HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
const cacheHitGzipRequest = "GET /users/42?fields=name HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench\r\nAccept-Encoding: gzip, br;q=0.5\r\n\r\n"

// cannedJSON16K is a 16 KiB JSON answer (compressible, as real JSON is).
var cannedJSON16K = func() string {
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := 0; b.Len() < 16<<10-64; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":` + itoa(i) + `,"name":"user ` + itoa(i) + `","active":true}`)
	}
	b.WriteString("]}")
	return b.String()
}()

// newInmemCache is newInmemPipeline with cacheConfig and a 16 KiB answer.
func newInmemCache(tb testing.TB) (*Server, *upstreamConn) {
	tb.Helper()
	body := cannedJSON16K
	up := &upstreamConn{resp: []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + itoa(len(body)) + "\r\n\r\n" + body)}
	s := New(Options{Dial: func(string) (net.Conn, error) { return up, nil }})
	p, err := policy.Parse("bench.toml", []byte(cacheConfig))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.Load(p); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.stopCache(); s.cache.store.Reset() })
	s.httpServer()
	return s, up
}

// BenchmarkPipelineCacheHit: a 16 KiB answer served from the response
// cache through the real server (identity, and the stored gzip variant).
func BenchmarkPipelineCacheHit(b *testing.B) {
	for _, tc := range []struct{ name, req string }{{"identity", cacheHitRequest}, {"gzip", cacheHitGzipRequest}} {
		b.Run(tc.name, func(b *testing.B) {
			s, _ := newInmemCache(b)
			c := &clientConn{req: []byte(tc.req)}
			serveOne(b, s, c)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				serveOne(b, s, c)
			}
		})
	}
}

// BenchmarkCompress16K: CPU per compressed 16 KiB JSON answer, per coding
// (the miss path's cost; a hit serves the stored variant).
func BenchmarkCompress16K(b *testing.B) {
	src := []byte(cannedJSON16K)
	for _, enc := range []policy.Encoding{policy.EncodingGzip, policy.EncodingBrotli, policy.EncodingZstd} {
		b.Run(enc.String(), func(b *testing.B) {
			var dst []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			for i := 0; i < b.N; i++ {
				dst = appendEncoded(dst[:0], src, enc)
			}
			b.ReportMetric(float64(len(dst)), "out-bytes")
		})
	}
}
