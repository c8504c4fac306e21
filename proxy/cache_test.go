package proxy

import (
	"bufio"
	"bytes"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/store/cache"
	"github.com/valyala/fasthttp"
)

// cacheOrigin is a real loopback fasthttp server whose answers the test
// controls: handler is swapped per step, and every request is counted and
// its conditional headers kept.
type cacheOrigin struct {
	addr    string
	srv     *fasthttp.Server
	n       atomic.Int64
	mu      sync.Mutex
	handler func(ctx *fasthttp.RequestCtx)
	lastINM string
	lastIMS string
}

func startCacheOrigin(t testing.TB) *cacheOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &cacheOrigin{addr: ln.Addr().String()}
	o.srv = &fasthttp.Server{NoDefaultDate: true, NoDefaultServerHeader: true, Handler: func(ctx *fasthttp.RequestCtx) {
		o.n.Add(1)
		o.mu.Lock()
		h := o.handler
		o.lastINM = string(ctx.Request.Header.Peek("If-None-Match"))
		o.lastIMS = string(ctx.Request.Header.Peek("If-Modified-Since"))
		o.mu.Unlock()
		h(ctx)
	}}
	go func() { _ = o.srv.Serve(ln) }()
	t.Cleanup(func() { _ = o.srv.Shutdown() })
	return o
}

func (o *cacheOrigin) set(h func(ctx *fasthttp.RequestCtx)) {
	o.mu.Lock()
	o.handler = h
	o.mu.Unlock()
}

func (o *cacheOrigin) conditionals() (string, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lastINM, o.lastIMS
}

// answer returns a handler answering 200 with body and header pairs.
func answer(body string, kv ...string) func(*fasthttp.RequestCtx) {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/plain")
		for i := 0; i+1 < len(kv); i += 2 {
			ctx.Response.Header.Add(kv[i], kv[i+1])
		}
		ctx.SetBodyString(body)
	}
}

const cacheTestConfig = `
[[backends]]
name = "o"
targets = [{ url = "http://{{SCRIPTED}}" }]
[[groups]]
name = "g"
[[groups.apis]]
name = "all"
path = "/{rest:*}"
backend = "o"
[groups.apis.cache]
coalesce_timeout = "5s"
{{EXTRA}}
`

// cacheEpoch is the rig's clock at start. It lies years ahead of the wall
// clock so that any cache path reading the wall clock instead of the
// pipeline's is caught every run, not only on the days the two cross
// (the background refresh did: TestCacheStaleWhileRevalidate).
var cacheEpoch = time.Date(2030, 1, 1, 6, 0, 0, 0, time.UTC)

type cacheRig struct {
	t     *testing.T
	g     *gateway
	o     *cacheOrigin
	clock *fakeClock
}

func newCacheRig(t *testing.T, extra string) *cacheRig {
	t.Helper()
	o := startCacheOrigin(t)
	clock := newFakeClock(cacheEpoch)
	cfg := strings.NewReplacer("{{SCRIPTED}}", o.addr, "{{EXTRA}}", extra).Replace(cacheTestConfig)
	g := startGatewayWith(t, cfg, Options{Clock: clock})
	t.Cleanup(func() { g.srv.CacheStore().PurgeAll() })
	return &cacheRig{t: t, g: g, o: o, clock: clock}
}

// get asks the gateway and checks the body; it returns the headers.
func (r *cacheRig) get(path string, hdr map[string]string, wantStatus int, wantBody string) *fasthttp.ResponseHeader {
	r.t.Helper()
	st, h, body := r.g.do("GET", path, hdr, nil)
	if st != wantStatus || (wantBody != "" && string(body) != wantBody) {
		r.t.Fatalf("GET %s: %d %q, want %d %q (Cache-Status %q)", path, st, body, wantStatus, wantBody, h.Peek("Cache-Status"))
	}
	return h
}

func (r *cacheRig) originCalls(want int64) {
	r.t.Helper()
	if got := r.o.n.Load(); got != want {
		r.t.Fatalf("origin saw %d requests, want %d", got, want)
	}
}

func wantCacheStatus(t *testing.T, h *fasthttp.ResponseHeader, prefix string) {
	t.Helper()
	if got := string(h.Peek("Cache-Status")); !strings.HasPrefix(got, prefix) {
		t.Fatalf("Cache-Status %q, want prefix %q", got, prefix)
	}
}

func httpDate(t time.Time) string { return string(cache.AppendHTTPDate(nil, t.Unix())) }

func TestCacheMaxAge(t *testing.T) {
	r := newCacheRig(t, "")
	r.o.set(answer("v1", "Cache-Control", "max-age=60"))
	wantCacheStatus(t, r.get("/a", nil, 200, "v1"), "sluice; fwd=uri-miss; fwd-status=200; stored")
	h := r.get("/a", nil, 200, "v1")
	wantCacheStatus(t, h, "sluice; hit; ttl=60")
	r.originCalls(1)
	r.clock.Advance(59 * time.Second)
	r.get("/a", nil, 200, "v1")
	r.originCalls(1)
	r.clock.Advance(2 * time.Second)
	r.o.set(answer("v2", "Cache-Control", "max-age=60"))
	r.get("/a", nil, 200, "v2")
	r.originCalls(2)
}

func TestCacheSMaxAgeOverMaxAge(t *testing.T) {
	r := newCacheRig(t, "")
	r.o.set(answer("v1", "Cache-Control", "max-age=600, s-maxage=10"))
	r.get("/s", nil, 200, "v1")
	r.get("/s", nil, 200, "v1")
	r.originCalls(1)
	r.clock.Advance(11 * time.Second)
	r.get("/s", nil, 200, "v1")
	r.originCalls(2)
}

func TestCacheExpires(t *testing.T) {
	r := newCacheRig(t, "")
	r.o.set(answer("v1", "Date", httpDate(cacheEpoch), "Expires", httpDate(cacheEpoch.Add(30*time.Second))))
	r.get("/e", nil, 200, "v1")
	r.clock.Advance(29 * time.Second)
	r.get("/e", nil, 200, "v1")
	r.originCalls(1)
	r.clock.Advance(2 * time.Second)
	r.get("/e", nil, 200, "v1")
	r.originCalls(2)
}

func TestCacheNoStoreAndPrivate(t *testing.T) {
	r := newCacheRig(t, "")
	for i, cc := range []string{"no-store, max-age=60", "private, max-age=60"} {
		r.o.set(answer("v", "Cache-Control", cc))
		p := "/n" + strconv.Itoa(i)
		r.get(p, nil, 200, "v")
		h := r.get(p, nil, 200, "v")
		if strings.Contains(string(h.Peek("Cache-Status")), "stored") || strings.Contains(string(h.Peek("Cache-Status")), "hit") {
			t.Fatalf("%s: Cache-Status %q", cc, h.Peek("Cache-Status"))
		}
	}
	r.originCalls(4)
}

func TestCacheNoCacheRevalidates(t *testing.T) {
	r := newCacheRig(t, "")
	r.o.set(answer("v1", "Cache-Control", "no-cache", "ETag", `"e1"`))
	r.get("/nc", nil, 200, "v1")
	r.o.set(func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Request.Header.Peek("If-None-Match")) == `"e1"` {
			ctx.SetStatusCode(304)
			ctx.Response.Header.Set("Cache-Control", "no-cache")
			return
		}
		ctx.SetBodyString("unconditional")
	})
	h := r.get("/nc", nil, 200, "v1")
	wantCacheStatus(t, h, "sluice; fwd=stale; fwd-status=304")
	r.originCalls(2)
	if inm, _ := r.o.conditionals(); inm != `"e1"` {
		t.Fatalf("revalidation sent If-None-Match %q", inm)
	}
}

func TestCacheVaryVariants(t *testing.T) {
	r := newCacheRig(t, "")
	r.o.set(func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "max-age=60")
		ctx.Response.Header.Set("Vary", "Accept-Language")
		ctx.SetBodyString("lang=" + string(ctx.Request.Header.Peek("Accept-Language")))
	})
	en, fr := map[string]string{"Accept-Language": "en"}, map[string]string{"Accept-Language": "fr"}
	r.get("/v", en, 200, "lang=en")
	r.get("/v", fr, 200, "lang=fr")
	r.get("/v", en, 200, "lang=en")
	r.get("/v", fr, 200, "lang=fr")
	r.originCalls(2)
	r.o.set(answer("star", "Cache-Control", "max-age=60", "Vary", "*"))
	r.get("/star", nil, 200, "star")
	r.get("/star", nil, 200, "star")
	r.originCalls(4)
}

func TestCacheAuthorization(t *testing.T) {
	r := newCacheRig(t, "")
	auth := map[string]string{"Authorization": "Bearer alice"}
	r.o.set(answer("mine", "Cache-Control", "max-age=60"))
	r.get("/priv", auth, 200, "mine")
	r.get("/priv", auth, 200, "mine")
	r.originCalls(2)
	r.o.set(answer("shared", "Cache-Control", "public, max-age=60"))
	r.get("/pub", auth, 200, "shared")
	r.get("/pub", auth, 200, "shared")
	r.originCalls(3)
	// An answer stored for anonymous callers is not served to an
	// authenticated one unless it allows that.
	r.o.set(answer("anon", "Cache-Control", "max-age=60"))
	r.get("/anon", nil, 200, "anon")
	r.get("/anon", auth, 200, "anon")
	r.originCalls(5)
}

func TestCache304Refresh(t *testing.T) {
	r := newCacheRig(t, "")
	r.o.set(answer("v1", "Cache-Control", "max-age=10", "ETag", `"e1"`))
	r.get("/r", nil, 200, "v1")
	r.clock.Advance(11 * time.Second)
	r.o.set(func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(304)
		ctx.Response.Header.Set("Cache-Control", "max-age=10")
	})
	h := r.get("/r", nil, 200, "v1")
	wantCacheStatus(t, h, "sluice; fwd=stale; fwd-status=304; stored")
	r.originCalls(2)
	r.clock.Advance(5 * time.Second)
	h = r.get("/r", nil, 200, "v1")
	wantCacheStatus(t, h, "sluice; hit")
	if string(h.Peek("Age")) != "5" {
		t.Fatalf("Age %q after the refresh, want 5", h.Peek("Age"))
	}
	r.originCalls(2)
}

func TestCacheConditionalClient(t *testing.T) {
	r := newCacheRig(t, "")
	lm := cacheEpoch.Add(-time.Hour)
	r.o.set(answer("v1", "Cache-Control", "max-age=60", "ETag", `"e1"`, "Last-Modified", httpDate(lm)))
	r.get("/c", nil, 200, "v1")
	h := r.get("/c", map[string]string{"If-None-Match": `W/"x", "e1"`}, 304, "")
	if string(h.Peek("ETag")) != `"e1"` {
		t.Fatalf("304 without the ETag: %q", h.Peek("ETag"))
	}
	r.get("/c", map[string]string{"If-Modified-Since": httpDate(lm)}, 304, "")
	r.get("/c", map[string]string{"If-Modified-Since": httpDate(lm.Add(-time.Minute))}, 200, "v1")
	r.get("/c", map[string]string{"If-None-Match": `"other"`}, 200, "v1")
	r.originCalls(1)
}

func TestCacheInvalidatedByPost(t *testing.T) {
	r := newCacheRig(t, "")
	r.o.set(answer("v1", "Cache-Control", "max-age=60"))
	r.get("/items/1", nil, 200, "v1")
	r.get("/items/1", nil, 200, "v1")
	r.originCalls(1)
	r.o.set(answer("v2", "Cache-Control", "max-age=60"))
	if st, _, _ := r.g.do("POST", "/items/1", nil, []byte("x")); st != 200 {
		t.Fatalf("POST: %d", st)
	}
	r.get("/items/1", nil, 200, "v2")
	r.originCalls(3)
}

func TestCacheStaleWhileRevalidate(t *testing.T) {
	r := newCacheRig(t, "")
	r.o.set(answer("v1", "Cache-Control", "max-age=10, stale-while-revalidate=30"))
	r.get("/swr", nil, 200, "v1")
	r.clock.Advance(15 * time.Second)
	r.o.set(answer("v2", "Cache-Control", "max-age=10, stale-while-revalidate=30"))
	h := r.get("/swr", nil, 200, "v1")
	wantCacheStatus(t, h, "sluice; hit; ttl=-5")
	waitFor(t, func() bool { return r.o.n.Load() == 2 })
	waitFor(t, func() bool {
		_, _, b := r.g.do("GET", "/swr", nil, nil)
		return string(b) == "v2"
	})
	r.originCalls(2)
}

// TestCacheRefreshRechecksAfterJoin: a request that looked up the stale
// entry before a background refresh stored and Joined after it ended must
// not refresh a second time (CI caught the window as a third origin call
// in TestCacheStaleWhileRevalidate).
func TestCacheRefreshRechecksAfterJoin(t *testing.T) {
	r := newCacheRig(t, "")
	r.o.set(answer("v1", "Cache-Control", "max-age=10, stale-while-revalidate=30"))
	r.get("/late", nil, 200, "v1")
	r.clock.Advance(15 * time.Second)
	release := make(chan struct{})
	v2 := answer("v2", "Cache-Control", "max-age=10, stale-while-revalidate=30")
	r.o.set(func(ctx *fasthttp.RequestCtx) { <-release; v2(ctx) })
	wantCacheStatus(t, r.get("/late", nil, 200, "v1"), "sluice; hit; ttl=-5") // refresh 1 waits at the origin
	co := r.g.srv.cache.co
	var calls atomic.Int32
	hook := func() {
		if calls.Add(1) == 1 { // the second request, after its lookup
			close(release)
			waitFor(t, func() bool { return co.InFlight() == 0 })
		}
	}
	r.g.srv.cache.refreshJoined.Store(&hook)
	wantCacheStatus(t, r.get("/late", nil, 200, "v1"), "sluice; hit; ttl=-5")
	waitFor(t, func() bool { return co.InFlight() == 0 })
	r.get("/late", nil, 200, "v2")
	r.originCalls(2)
}

func TestCacheStaleIfError(t *testing.T) {
	r := newCacheRig(t, "")
	r.o.set(answer("v1", "Cache-Control", "max-age=10, stale-if-error=60"))
	r.get("/sie", nil, 200, "v1")
	r.clock.Advance(20 * time.Second)
	r.o.set(func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(503); ctx.SetBodyString("down") })
	h := r.get("/sie", nil, 200, "v1")
	wantCacheStatus(t, h, "sluice; hit; ttl=-10; detail=stale-if-error")
	r.clock.Advance(60 * time.Second)
	r.get("/sie", nil, 503, "down")
	// must-revalidate forbids it.
	r.o.set(answer("v1", "Cache-Control", "max-age=10, must-revalidate, stale-if-error=60"))
	r.get("/mr", nil, 200, "v1")
	r.clock.Advance(20 * time.Second)
	r.o.set(func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(503); ctx.SetBodyString("down") })
	r.get("/mr", nil, 503, "down")
}

// TestCacheStaleIfErrorConfigured: the API's stale_if_error covers an
// origin that does not answer at all.
func TestCacheStaleIfErrorConfigured(t *testing.T) {
	r := newCacheRig(t, `stale_if_error = "60s"`)
	r.o.set(answer("v1", "Cache-Control", "max-age=10"))
	r.get("/down", nil, 200, "v1")
	r.clock.Advance(20 * time.Second)
	_ = r.o.srv.Shutdown()
	h := r.get("/down", nil, 200, "v1")
	wantCacheStatus(t, h, "sluice; hit; ttl=-10; detail=stale-if-error")
}

func TestCacheAgeArithmetic(t *testing.T) {
	r := newCacheRig(t, "")
	r.o.set(answer("v1", "Cache-Control", "max-age=60", "Age", "5"))
	h := r.get("/age", nil, 200, "v1")
	r.clock.Advance(10 * time.Second)
	h = r.get("/age", nil, 200, "v1")
	if string(h.Peek("Age")) != "15" {
		t.Fatalf("Age %q, want 15 (5 from the origin + 10 resident)", h.Peek("Age"))
	}
	wantCacheStatus(t, h, "sluice; hit; ttl=45")
	r.clock.Advance(46 * time.Second) // age 61 > 60
	r.get("/age", nil, 200, "v1")
	r.originCalls(2)
}

// TestCacheCoalescing (acceptance 2): 200 concurrent requests for a cold key
// reach the origin once.
func TestCacheCoalescing(t *testing.T) {
	r := newCacheRig(t, "")
	release := make(chan struct{})
	r.o.set(func(ctx *fasthttp.RequestCtx) {
		<-release
		ctx.Response.Header.Set("Cache-Control", "max-age=60")
		ctx.SetBodyString("cold")
	})
	client := &fasthttp.HostClient{Addr: r.g.addr, MaxConns: 256, ReadTimeout: 10 * time.Second}
	const n = 200
	var wg sync.WaitGroup
	var bad atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + r.g.addr + "/cold")
			if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 || string(resp.Body()) != "cold" {
				bad.Add(1)
			}
		}()
	}
	waitFor(t, func() bool { return r.g.srv.InFlight() == n })
	close(release)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d requests failed", bad.Load())
	}
	r.originCalls(1)
}

func TestCompressionNegotiation(t *testing.T) {
	r := newCacheRig(t, "[groups.apis.compression]\nmin_size = \"1KiB\"")
	big := strings.Repeat("compressible text ", 200)
	r.o.set(answer(big, "Cache-Control", "no-store"))
	for _, tc := range []struct{ ae, want string }{
		{"gzip", "gzip"},
		{"gzip;q=0.5, br;q=1", "br"},
		{"br;q=0, gzip", "gzip"},
		{"zstd", "zstd"},
		{"*;q=0", ""},
		{"identity", ""},
		{"gzip;q=0.5, zstd;q=0.9, br;q=0.1", "zstd"},
		{"*", "br"},
	} {
		st, h, body := r.g.do("GET", "/z", map[string]string{"Accept-Encoding": tc.ae}, nil)
		if st != 200 || string(h.Peek("Content-Encoding")) != tc.want || !strings.Contains(string(h.Peek("Vary")), "Accept-Encoding") {
			t.Fatalf("%q: %d Content-Encoding %q Vary %q", tc.ae, st, h.Peek("Content-Encoding"), h.Peek("Vary"))
		}
		if tc.want == "" && string(body) != big || tc.want != "" && len(body) >= len(big) {
			t.Fatalf("%q: body of %d bytes", tc.ae, len(body))
		}
		if tc.want == "gzip" {
			if plain, err := fasthttp.AppendGunzipBytes(nil, body); err != nil || string(plain) != big {
				t.Fatalf("gzip body does not decode: %v", err)
			}
		}
	}
	// Small answers and already compressed ones are left alone.
	r.o.set(answer("small", "Cache-Control", "no-store"))
	if _, h, b := r.g.do("GET", "/small", map[string]string{"Accept-Encoding": "gzip"}, nil); len(h.Peek("Content-Encoding")) != 0 || string(b) != "small" {
		t.Fatalf("small answer compressed")
	}
	gz := fasthttp.AppendGzipBytes(nil, []byte(big))
	r.o.set(answer(string(gz), "Content-Encoding", "gzip", "Cache-Control", "no-store"))
	if _, h, b := r.g.do("GET", "/pre", map[string]string{"Accept-Encoding": "br"}, nil); string(h.Peek("Content-Encoding")) != "gzip" || !bytes.Equal(b, gz) {
		t.Fatalf("already compressed answer changed: %q", h.Peek("Content-Encoding"))
	}
}

// TestCompressionStreamingPreserved: an answer over stream_threshold stays
// streamed (chunked, uncompressed) and is not cached.
func TestCompressionStreamingPreserved(t *testing.T) {
	r := newCacheRig(t, "[groups.apis.compression]\nmin_size = \"1KiB\"")
	big := strings.Repeat("x", 3<<20)
	r.o.set(func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/plain")
		ctx.Response.Header.Set("Cache-Control", "max-age=60")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) { _, _ = w.WriteString(big) })
	})
	before := cacheRefusedStreamed.Get()
	st, h, body := r.g.do("GET", "/stream", map[string]string{"Accept-Encoding": "gzip"}, nil)
	if st != 200 || len(h.Peek("Content-Encoding")) != 0 || string(body) != big {
		t.Fatalf("%d Content-Encoding %q, %d bytes", st, h.Peek("Content-Encoding"), len(body))
	}
	if cacheRefusedStreamed.Get() != before+1 {
		t.Fatal("streamed answer not counted as refused")
	}
}

// TestCompressionHitServesStoredVariant (acceptance 5): a cached answer is
// compressed once; hits send the stored compressed variant.
func TestCompressionHitServesStoredVariant(t *testing.T) {
	r := newCacheRig(t, "[groups.apis.compression]\nmin_size = \"1KiB\"")
	big := strings.Repeat("cacheable text ", 200)
	r.o.set(answer(big, "Cache-Control", "max-age=60", "ETag", `"big"`))
	gz := map[string]string{"Accept-Encoding": "gzip"}
	n0 := compressedTotal[3].Get()
	_, h1, b1 := r.g.do("GET", "/big", gz, nil)
	_, h2, b2 := r.g.do("GET", "/big", gz, nil)
	if string(h2.Peek("Content-Encoding")) != "gzip" || !bytes.Equal(b1, b2) || string(h1.Peek("Content-Encoding")) != "gzip" {
		t.Fatalf("hit: Content-Encoding %q", h2.Peek("Content-Encoding"))
	}
	wantCacheStatus(t, h2, "sluice; hit")
	if string(h2.Peek("ETag")) != `W/"big"` || !strings.Contains(string(h2.Peek("Vary")), "Accept-Encoding") {
		t.Fatalf("hit: ETag %q Vary %q", h2.Peek("ETag"), h2.Peek("Vary"))
	}
	if got := compressedTotal[3].Get() - n0; got != 1 {
		t.Fatalf("compressed %d times, want once", got)
	}
	st, h3, b3 := r.g.do("GET", "/big", nil, nil)
	if st != 200 || len(h3.Peek("Content-Encoding")) != 0 || string(b3) != big {
		t.Fatalf("identity hit: %q", h3.Peek("Content-Encoding"))
	}
	r.originCalls(1)
}

func (r *cacheRig) purge(query string) {
	r.t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod("POST")
	req.SetRequestURI("http://" + r.g.adminAt + "/admin/cache/purge?" + query)
	if err := fasthttp.Do(req, resp); err != nil || resp.StatusCode() != 200 {
		r.t.Fatalf("purge %s: %v %d %s", query, err, resp.StatusCode(), resp.Body())
	}
}

// TestCacheAdminPurge: purge one URL (all its variants and codings), a
// prefix, a surrogate key, and everything.
func TestCacheAdminPurge(t *testing.T) {
	r := newCacheRig(t, "")
	var ver atomic.Int64
	r.o.set(func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "max-age=600")
		ctx.Response.Header.Set("Surrogate-Key", "all "+strings.Trim(string(ctx.Path()), "/"))
		ctx.SetBodyString(string(ctx.Path()) + "@" + strconv.FormatInt(ver.Load(), 10))
	})
	paths := []string{"/p/1", "/p/2", "/q"}
	for _, p := range paths {
		h := r.get(p, nil, 200, p+"@0")
		if len(h.Peek("Surrogate-Key")) != 0 {
			t.Fatal("Surrogate-Key reached the client")
		}
	}
	ver.Store(1)
	r.purge("url=/p/1")
	r.get("/p/1", nil, 200, "/p/1@1")
	r.get("/p/2", nil, 200, "/p/2@0")
	r.purge("prefix=/p/")
	r.get("/p/2", nil, 200, "/p/2@1")
	r.get("/q", nil, 200, "/q@0")
	r.purge("tag=q")
	r.get("/q", nil, 200, "/q@1")
	ver.Store(2)
	r.purge("all=true")
	for _, p := range paths {
		r.get(p, nil, 200, p+"@2")
	}
}

// TestCacheAccessLogAndHead: the access log's cache field says what the
// cache did, and a HEAD is answered from the GET entry without a body.
func TestCacheAccessLogAndHead(t *testing.T) {
	logPath := t.TempDir() + "/access.log"
	r := newCacheRig(t, "[access_log]\n"+fileSinkTOML("f", logPath))
	r.o.set(answer("v1", "Cache-Control", "max-age=60"))
	r.get("/l", nil, 200, "v1")
	r.get("/l", nil, 200, "v1")
	st, h, body := r.g.do("HEAD", "/l", nil, nil)
	if st != 200 || len(body) != 0 || string(h.Peek("Content-Length")) != "2" {
		t.Fatalf("HEAD: %d Content-Length %q body %q", st, h.Peek("Content-Length"), body)
	}
	wantCacheStatus(t, h, "sluice; hit")
	if st, _, _ := r.g.do("POST", "/l", nil, []byte("x")); st != 200 {
		t.Fatalf("POST: %d", st)
	}
	r.get("/l", map[string]string{"Cache-Control": "no-store"}, 200, "v1")
	r.originCalls(3)
	shutdownGateway(t, r.g)
	lines := readLogFile(t, logPath)
	var got []string
	for _, l := range lines {
		got = append(got, l.Cache)
	}
	if strings.Join(got, ",") != "miss,hit,hit,bypass,bypass" {
		t.Fatalf("cache fields %v, want miss,hit,hit,bypass,bypass", got)
	}
}

// TestCacheHeadMissNotStored: a HEAD that misses is forwarded as a HEAD and
// its empty answer is never stored as the GET entry.
func TestCacheHeadMissNotStored(t *testing.T) {
	r := newCacheRig(t, "")
	r.o.set(answer("full body", "Cache-Control", "max-age=60"))
	if st, _, _ := r.g.do("HEAD", "/h", nil, nil); st != 200 {
		t.Fatalf("HEAD: %d", st)
	}
	r.get("/h", nil, 200, "full body")
	r.get("/h", nil, 200, "full body")
	r.originCalls(2)
}

// TestCachePerConsumer: on an API that authenticates, one consumer's
// answer is never served to another unless the origin marks it public.
func TestCachePerConsumer(t *testing.T) {
	r := newCacheRig(t, "")
	cfg := strings.NewReplacer("{{SCRIPTED}}", r.o.addr, "{{EXTRA}}", "").Replace(cacheTestConfig) + `
[groups.apis.auth]
modes = ["key"]
[[consumers]]
name = "alice"
api_keys = ["alice-key-0123456789abcdef0123"]
[[consumers]]
name = "bob"
api_keys = ["bob-key-0123456789abcdef012345"]
`
	r.g.write(cfg)
	if _, err := r.g.rl.Reload(); err != nil {
		t.Fatal(err)
	}
	r.o.set(func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "max-age=60")
		if string(ctx.Path()) == "/shared" {
			ctx.Response.Header.Set("Cache-Control", "public, max-age=60")
		}
		ctx.SetBodyString("for " + string(ctx.Request.Header.Peek("X-Consumer-Name")))
	})
	alice := map[string]string{"X-Api-Key": "alice-key-0123456789abcdef0123"}
	bob := map[string]string{"X-Api-Key": "bob-key-0123456789abcdef012345"}
	r.get("/mine", alice, 200, "for alice")
	r.get("/mine", bob, 200, "for bob")
	r.get("/mine", alice, 200, "for alice")
	r.get("/mine", bob, 200, "for bob")
	r.originCalls(2)
	r.get("/shared", alice, 200, "for alice")
	r.get("/shared", bob, 200, "for alice")
	r.originCalls(3)
}

// TestCacheEnabledByReload: a reload that adds a cache table turns the
// cache on (the store exists from the first compile), under traffic.
func TestCacheEnabledByReload(t *testing.T) {
	o := startCacheOrigin(t)
	o.set(answer("v", "Cache-Control", "max-age=60"))
	plain := strings.NewReplacer("{{SCRIPTED}}", o.addr, "[groups.apis.cache]", "", "coalesce_timeout = \"5s\"", "", "{{EXTRA}}", "").Replace(cacheTestConfig)
	g := startGateway(t, plain)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				g.do("GET", "/load", nil, nil)
			}
		}
	}()
	g.do("GET", "/x", nil, nil)
	g.do("GET", "/x", nil, nil)
	if n := o.n.Load(); n < 2 {
		t.Fatalf("origin saw %d requests without a cache", n)
	}
	g.write(strings.NewReplacer("{{SCRIPTED}}", o.addr, "{{EXTRA}}", "").Replace(cacheTestConfig))
	if _, err := g.rl.Reload(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	t.Cleanup(func() { g.srv.CacheStore().PurgeAll() })
	g.do("GET", "/y", nil, nil)
	before := o.n.Load()
	if _, h, _ := g.do("GET", "/y", nil, nil); !strings.HasPrefix(string(h.Peek("Cache-Status")), "sluice; hit") || o.n.Load() != before {
		t.Fatalf("no hit after the reload: %q", h.Peek("Cache-Status"))
	}
}

// TestCacheSetCookieAndSize: Set-Cookie answers are stored only when the
// API allows it; answers over max_object_size are forwarded, not stored.
func TestCacheSetCookieAndSize(t *testing.T) {
	r := newCacheRig(t, "max_object_size = \"2KiB\"")
	r.o.set(answer("c", "Cache-Control", "max-age=60", "Set-Cookie", "s=1"))
	r.get("/cookie", nil, 200, "c")
	r.get("/cookie", nil, 200, "c")
	r.originCalls(2)
	big := strings.Repeat("b", 4<<10)
	r.o.set(answer(big, "Cache-Control", "max-age=60"))
	before := cacheRefusedTooLarge.Get()
	r.get("/big", nil, 200, big)
	r.get("/big", nil, 200, big)
	r.originCalls(4)
	if cacheRefusedTooLarge.Get() != before+2 {
		t.Fatal("answers over max_object_size not counted")
	}

	r2 := newCacheRig(t, "store_set_cookie = true")
	r2.o.set(answer("c", "Cache-Control", "max-age=60", "Set-Cookie", "s=1"))
	r2.get("/cookie", nil, 200, "c")
	h := r2.get("/cookie", nil, 200, "c")
	if string(h.Peek("Set-Cookie")) != "s=1" {
		t.Fatalf("stored Set-Cookie not replayed: %q", h.Peek("Set-Cookie"))
	}
	r2.originCalls(1)
}
