//go:build !race

package bench

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestDoOneZeroAllocs proves the generator's per-request path (path
// rotation, signing hook, send, status and latency accounting) allocates
// nothing in steady state, so the generator's own garbage does not perturb
// the figures.
func TestDoOneZeroAllocs(t *testing.T) {
	o := startTestOrigin(t, 0)
	cfg := LoadConfig{
		Addr: o.Addr(), Paths: []string{"/a?size=100", "/b?size=100"}, Mode: OpenLoop, Rate: 1000,
		Duration: time.Minute, Connections: 1, ExpectBodyBytes: 100,
		Headers: []Header{{Name: "X-Api-Key", Value: "k"}},
		Sign: func(req *fasthttp.Request, seq uint64) error {
			req.Header.Set("X-Signature", "fixed")
			return nil
		},
	}
	if err := cfg.normalize(); err != nil {
		t.Fatal(err)
	}
	r := newLoadRun(cfg)
	defer r.hc.CloseIdleConnections()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	r.prepare(req)
	var st workerStats
	seq := uint64(0)
	one := func() {
		now := time.Since(r.base)
		r.doOne(0, &st, req, resp, seq, now, now)
		seq++
	}
	for range 200 {
		one()
	}
	if allocs := testing.AllocsPerRun(1000, one); allocs != 0 {
		t.Errorf("doOne allocates %.2f times per request", allocs)
	}
	if st.errors != 0 || st.status[200] != st.completed || st.completed < 1200 {
		t.Errorf("stats %d errors, %d completed", st.errors, st.completed)
	}
}

func TestRecordLatencyZeroAllocs(t *testing.T) {
	s := newLatencyShards(2)
	d := time.Duration(0)
	if allocs := testing.AllocsPerRun(10000, func() {
		d += 7 * time.Microsecond
		s.record(1, d)
	}); allocs != 0 {
		t.Errorf("record allocates %.2f", allocs)
	}
}
