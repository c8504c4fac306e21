package proxy

import (
	"net"
	"runtime"
	"sort"
	"testing"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"
)

// BenchmarkFloorInmem is BenchmarkPipeline's request through a bare
// fasthttp reverse proxy: the same server settings, the same in-memory
// client and upstream, and only what any proxy must do (hop-by-hop headers,
// X-Forwarded-For, the path rewrite). The difference between the two is
// what Sluice's pipeline adds over fasthttp's own cost (issue 16's floor;
// the bench harness measures the same over real sockets).
func BenchmarkFloorInmem(b *testing.B) {
	serve := newInmemFloor(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		serve()
	}
}

// newInmemFloor builds the bare proxy of BenchmarkFloorInmem and returns a
// function that serves its request once.
func newInmemFloor(b *testing.B) func() {
	s, up := newInmemPipeline(b, pipelineConfig)
	hc := &fasthttp.HostClient{
		Addr:                          "users.internal:8000",
		Dial:                          func(string) (net.Conn, error) { return up, nil },
		MaxIdemponentCallAttempts:     1,
		DisableHeaderNamesNormalizing: false,
		ReadBufferSize:                16 << 10,
		WriteBufferSize:               16 << 10,
	}
	floor := *s.httpServer() //nolint:govet // copied before use, to keep the settings
	floor.Handler = func(ctx *fasthttp.RequestCtx) {
		req := &ctx.Request
		req.Header.Del(fasthttp.HeaderConnection)
		req.SetRequestURI("/v1/user?id=42")
		req.Header.Set(fasthttp.HeaderXForwardedFor, "127.0.0.1")
		if err := hc.Do(req, &ctx.Response); err != nil {
			ctx.Error("bad gateway", fasthttp.StatusBadGateway)
		}
		ctx.Response.Header.Del(fasthttp.HeaderConnection)
	}
	c := &clientConn{req: []byte(pipelineRequest)}
	serve := func() {
		c.reset()
		if err := floor.ServeConn(c); err != nil {
			b.Fatal(err)
		}
	}
	serve()
	if string(c.status) != "HTTP/1.1 200" {
		b.Fatalf("status line %q", c.status)
	}
	return serve
}

// BenchmarkPipelineOverFloor runs BenchmarkPipeline's request and the
// floor's alternately, in rounds of 20 000 each, on one locked thread, and
// reports the median thread CPU per request of each and the median of the
// per-round ratios. Thread CPU time, not wall time: on a shared machine the
// wall clock counts other processes' turns; alternating rounds cancel drift.
//
//	go test -run '^$' -bench PipelineOverFloor -benchtime 10x -cpu 1 ./proxy/
func BenchmarkPipelineOverFloor(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s, _ := newInmemPipeline(b, pipelineConfig)
	c := &clientConn{req: []byte(pipelineRequest)}
	pipe := func() { serveOne(b, s, c) }
	floor := newInmemFloor(b)
	const n = 20000
	round := func(f func()) float64 {
		t0 := threadCPU()
		for i := 0; i < n; i++ {
			f()
		}
		return float64(threadCPU()-t0) / n
	}
	var ps, fs, rs []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var p, f float64
		if i%2 == 0 {
			p, f = round(pipe), round(floor)
		} else {
			f, p = round(floor), round(pipe)
		}
		ps, fs, rs = append(ps, p), append(fs, f), append(rs, p/f)
	}
	b.ReportMetric(median(ps), "pipeline-cpu-ns/req")
	b.ReportMetric(median(fs), "floor-cpu-ns/req")
	b.ReportMetric(median(rs), "pipeline/floor")
	b.ReportMetric(median(ps)-median(fs), "added-cpu-ns/req")
}

func threadCPU() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return ts.Nano()
}

func median(v []float64) float64 {
	w := append([]float64(nil), v...)
	sort.Float64s(w)
	if len(w) == 0 {
		return 0
	}
	return w[len(w)/2]
}
