package proxy

import (
	"bytes"
	"github.com/sluicegw/sluice/policy/httpbytes"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluicegw/sluice/policy"
	"github.com/sluicegw/sluice/proxy/accesslog"
	"github.com/sluicegw/sluice/store/cache"
	"github.com/valyala/fasthttp"
)

// The pipeline half of the response cache (issue 13): request step 7
// (cacheLookup) and the response steps cache store (cacheStore) and
// compression (compress.go). The storage, RFC 9111 rules, keys and
// coalescing are store/cache's; see its doc.go for the protocol followed
// here.
//
// Entry layout as this file stores it: Header holds the answer's header
// lines as name 0x00 value 0x00 pairs (never Content-Length, Age,
// Connection or Cache-Status, which are the gateway's), the surrogate-key
// line included so a later compressed variant can carry the same tags. A
// compressed variant is stored under the identity entry's key plus 0x02 and
// the coding's name, with Content-Encoding among its header lines: a hit
// for a client that accepts it never compresses.

// Data-plane cache counters; store/cache counts hits, misses, stale answers,
// stores, coalesced waits and purges.
var (
	cacheRevalidated     = metrics.NewCounter(`sluice_cache_revalidated_total`)
	cacheBypass          = metrics.NewCounter(`sluice_cache_bypass_total`)
	cacheRefusedStreamed = metrics.NewCounter(`sluice_cache_refused_streamed_total`)
	cacheBackgroundFills = metrics.NewCounter(`sluice_cache_background_refreshes_total`)

	// cacheOutcomes counts requests by what the cache did (store/cache's
	// hit and miss counters count lookups: one request may look up a
	// compressed variant, a variants record and the answer).
	cacheOutcomes = [...]*metrics.Counter{
		cacheHit:            metrics.NewCounter(`sluice_cache_requests_total{outcome="hit"}`),
		cacheMiss:           metrics.NewCounter(`sluice_cache_requests_total{outcome="miss"}`),
		cacheStale:          metrics.NewCounter(`sluice_cache_requests_total{outcome="stale"}`),
		cacheRevalidated304: metrics.NewCounter(`sluice_cache_requests_total{outcome="revalidated"}`),
		cacheBypassed:       metrics.NewCounter(`sluice_cache_requests_total{outcome="bypass"}`),
		cacheCoalesced:      metrics.NewCounter(`sluice_cache_requests_total{outcome="coalesced"}`),
	}
)

// cacheOutcome is what the cache did for one request (access log field and
// Cache-Status).
type cacheOutcome uint8

const (
	cacheNone cacheOutcome = iota
	cacheHit
	cacheMiss
	cacheStale
	cacheRevalidated304
	cacheBypassed
	cacheCoalesced
)

var cacheLogStatus = [...]accesslog.CacheStatus{
	cacheNone:           accesslog.CacheNone,
	cacheHit:            accesslog.CacheHit,
	cacheMiss:           accesslog.CacheMiss,
	cacheStale:          accesslog.CacheStale,
	cacheRevalidated304: accesslog.CacheRevalidated,
	cacheBypassed:       accesslog.CacheBypass,
	cacheCoalesced:      accesslog.CacheCoalesced,
}

// cacheState is one request's cache work, part of the pooled reqState.
// Its buffers keep their capacity across requests (keep), so a hit
// allocates nothing once they have grown.
type cacheState struct {
	out        cacheOutcome
	enc        policy.Encoding // the coding negotiated from Accept-Encoding
	fill       bool            // a miss or revalidation: store the answer
	leader     bool            // holds flight: Done after storing
	revalidate bool            // entry holds the stale answer being revalidated
	unsafe     bool            // an unsafe method: invalidate the URL after a 2xx/3xx
	hasAuth    bool
	zstored    bool // the answer served is a stored compressed variant
	varyMiss   bool
	stored     bool
	storeZ     bool // compress step may store its output as a variant
	flight     cache.Flight
	reqCC      cache.Directives
	urlLen     int
	now        int64 // Unix seconds at the request's start
	seq        uint64
	fwdStatus  int
	meta       cache.Meta // of the identity entry stored or served (for its variants)
	entry      cache.Entry

	key   []byte // primary key
	vkey  []byte // the identity entry's key (primary or variant)
	zkey  []byte // a compressed variant's key
	val   []byte // lookup buffer; entry's slices point into it
	hdr   []byte // header lines being encoded
	cond  []byte // the client's If-None-Match, then If-Modified-Since
	tags  []byte // surrogate keys of the entry
	zbuf  []byte // compression output
	inmN  int    // len of If-None-Match in cond; -1 absent
	imsN  int    // len of If-Modified-Since in cond; -1 absent
	stBuf []byte // Cache-Status / Age values
}

// keep resets the state for the next request, keeping buffer capacity
// (huge buffers are dropped, not pinned in the pool).
func (c *cacheState) keep() cacheState {
	trim := func(b []byte) []byte {
		if cap(b) > 1<<20 {
			return nil
		}
		return b[:0]
	}
	return cacheState{key: trim(c.key), vkey: trim(c.vkey), zkey: trim(c.zkey), val: trim(c.val),
		hdr: trim(c.hdr), cond: trim(c.cond), tags: trim(c.tags), zbuf: trim(c.zbuf), stBuf: trim(c.stBuf)}
}

// cacheStores is the Server's response cache: one store and one coalescer
// for the process, created with the other stores on the first compile (sized
// by that config's [cache]; changes need a restart) and kept across reloads.
// used turns true once a published config has an API with a cache: until
// then requests skip the cache step entirely. The handles are written once,
// before the first snapshot is published, so requests read them without
// synchronization.
type cacheStores struct {
	store *cache.Store
	co    *cache.Coalescer
	used  atomic.Bool
	stop  chan struct{}
	once  sync.Once
	// refreshJoined, when set (tests only), runs between a background
	// refresh's lookup and its Join: the window the re-check covers.
	refreshJoined atomic.Pointer[func()]
}

// newCacheStores creates the store (fastcache takes memory as entries
// arrive, not up front) and starts its purge-record sweeper.
func (s *Server) newCacheStores(cfg *policy.Config) {
	s.cache.store = cache.NewStore(cache.Options{MaxSize: int(cfg.Cache.MaxSize), MaxObjectSize: int(cfg.Cache.MaxObjectSize)})
	s.cache.co = cache.NewCoalescer()
	s.cache.stop = make(chan struct{})
	go s.sweepCache(s.cache.store, s.cache.stop)
}

// ensureCache marks the cache in use once a config has an API with a cache
// table. Called under reloadMu.
func (s *Server) ensureCache(cfg *policy.Config) {
	if usesCache(cfg) {
		s.cache.used.Store(true)
	}
}

func usesCache(cfg *policy.Config) bool {
	for gi := range cfg.Groups {
		for ai := range cfg.Groups[gi].APIs {
			if cfg.Groups[gi].APIs[ai].Cache != nil {
				return true
			}
		}
	}
	return false
}

// sweepCache drops expired purge records once a minute (store/cache Sweep).
func (s *Server) sweepCache(st *cache.Store, stop chan struct{}) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			st.Sweep(time.Now().Unix())
		}
	}
}

func (s *Server) stopCache() {
	if s.cache.stop != nil {
		s.cache.once.Do(func() { close(s.cache.stop) })
	}
}

// CacheStore is the response cache's store (nil before the first compile).
func (s *Server) CacheStore() *cache.Store { return s.cache.store }

var (
	strCacheStatus  = []byte("Cache-Status")
	strAge          = []byte("Age")
	strIfNoneMatch  = []byte("If-None-Match")
	strIfModSince   = []byte("If-Modified-Since")
	strAuthz        = []byte("Authorization")
	strCacheControl = []byte("Cache-Control")
	strVary         = []byte("Vary")
	strGET          = []byte("GET")
)

// stageNames as bytes, for keys without conversions.
var stageKeys = [...][]byte{[]byte(policy.StageID(0).String()), []byte(policy.StageID(1).String()), []byte(policy.StageID(2).String())}

// cacheLookup is request step 7. It negotiates the content coding (for the
// compression step too), then, for an API with a cache: answers a hit
// (fresh, stale the client or stale-while-revalidate allows) and ends the
// request, turns a stale entry into a conditional request to the origin, or
// lets a miss through, coalesced with concurrent misses for the same key.
func (s *Server) cacheLookup(ctx *fasthttp.RequestCtx, st *reqState) outcome {
	api := st.api
	c := &st.c
	if z := api.Compression; z != nil {
		c.enc = negotiate(ctx.Request.Header.Peek(fasthttp.HeaderAcceptEncoding), z.Encodings)
	}
	if !s.cache.used.Load() {
		return proceed
	}
	store := s.cache.store
	k := api.Cache
	m := ctx.Method()
	get, head := string(m) == "GET", string(m) == "HEAD"
	if k == nil {
		if !get && !head && unsafeMethod(m) {
			c.unsafe = true
		}
		return proceed
	}
	c.now = st.start / int64(time.Second)
	if !(get && k.GET || head && k.HEAD) || st.upgrade {
		c.unsafe = unsafeMethod(m)
		c.out = cacheBypassed
		cacheBypass.Inc()
		return proceed
	}
	for _, v := range ctx.Request.Header.PeekAll(fasthttp.HeaderCacheControl) {
		cache.ParseCacheControl(&c.reqCC, v)
	}
	c.hasAuth = len(ctx.Request.Header.PeekBytes(strAuthz)) > 0
	var ok bool
	c.key, c.urlLen, ok = k.Key.AppendKey(c.key[:0], &cache.KeyInput{Method: m, Host: s2b(api.Group.Name),
		Stage: stageKeys[st.stage], Path: st.path, Query: rawQuery(ctx.Request.Header.RequestURI()), Header: &ctx.Request.Header})
	if !ok || c.reqCC.Flags&cache.CCNoStore != 0 {
		c.out = cacheBypassed
		cacheBypass.Inc()
		return proceed
	}
	// Read before the origin is asked: a purge during the fill wins.
	c.seq = store.Seq()
	if s.cacheGet(ctx, st) {
		return s.cacheUse(ctx, st)
	}
	if c.reqCC.Flags&cache.CCOnlyIfCached != 0 {
		s.finish(ctx, st, fasthttp.StatusGatewayTimeout, "NotCached", "only-if-cached and the answer is not in the cache")
		c.out = cacheMiss
		return answered
	}
	f, leader := s.cache.co.Join(c.key)
	if leader {
		c.flight, c.leader = f, true
		// A fill may have finished between the lookup and Join.
		if s.cacheGet(ctx, st) {
			return s.cacheUse(ctx, st)
		}
	} else if s.cache.co.Wait(f, k.CoalesceTimeout) && s.cacheGet(ctx, st) {
		o := s.cacheUse(ctx, st)
		if c.out == cacheHit {
			c.out = cacheCoalesced
		}
		return o
	}
	c.out, c.fill = cacheMiss, true
	return proceed
}

// cacheGet looks the request up: a stored compressed variant in the
// negotiated coding first, then the primary entry, following a variants
// record to the variant key. On true, c.entry is the answer (slices into
// c.val) and c.vkey the identity entry's key.
func (s *Server) cacheGet(ctx *fasthttp.RequestCtx, st *reqState) bool {
	c := &st.c
	store := s.cache.store
	c.zstored = false
	if c.enc != policy.EncodingIdentity && s.getCompressed(c, c.key) {
		return true
	}
	var hit bool
	c.val, hit = store.GetInto(c.val[:0], c.key)
	if !hit || !c.entry.Decode(c.val) {
		return false
	}
	if c.entry.Flags&cache.MetaVariants == 0 {
		c.vkey = append(c.vkey[:0], c.key...)
		return true
	}
	var consumer []byte
	if c.entry.Flags&cache.MetaPerConsumer != 0 {
		consumer = st.consumerName
		if len(consumer) == 0 {
			consumer = anonymousKey
		}
	}
	var ok bool
	if c.vkey, ok = cache.AppendVariantKey(c.vkey[:0], c.key, c.entry.Header, consumer, &ctx.Request.Header); !ok {
		return false
	}
	if c.enc != policy.EncodingIdentity && s.getCompressed(c, c.vkey) {
		return true
	}
	c.val, hit = store.GetInto(c.val[:0], c.vkey)
	if !hit || !c.entry.Decode(c.val) || c.entry.Flags&cache.MetaVariants != 0 {
		c.varyMiss = true
		return false
	}
	return true
}

var anonymousKey = []byte{0}

// getCompressed reads the compressed variant of the identity entry under
// base; it counts only when it may be served as it is (fresh, or stale the
// client accepts): revalidation always works on the identity entry.
func (s *Server) getCompressed(c *cacheState, base []byte) bool {
	c.zkey = appendVariantEncoding(c.zkey[:0], base, c.enc)
	var hit bool
	c.val, hit = s.cache.store.GetInto(c.val[:0], c.zkey)
	if !hit || !c.entry.Decode(c.val) || c.entry.Flags&cache.MetaVariants != 0 {
		return false
	}
	if d := cache.Decide(&c.entry.Meta, &c.reqCC, c.now); d != cache.Fresh && d != cache.StaleOK {
		return false
	}
	if c.hasAuth && c.entry.Flags&(cache.MetaPublic|cache.MetaMustRevalidate) == 0 {
		return false
	}
	c.vkey = append(c.vkey[:0], base...)
	c.zstored = true
	return true
}

func appendVariantEncoding(dst, base []byte, enc policy.Encoding) []byte {
	dst = append(dst, base...)
	dst = append(dst, 2)
	return append(dst, enc.String()...)
}

// cacheUse acts on a stored answer found for the request.
func (s *Server) cacheUse(ctx *fasthttp.RequestCtx, st *reqState) outcome {
	c := &st.c
	e := &c.entry
	if c.hasAuth && e.Flags&(cache.MetaPublic|cache.MetaMustRevalidate) == 0 {
		// RFC 9111 §3.5: an answer stored without the origin's leave is not
		// served to an authenticated request; forward it (and do not store).
		c.out = cacheBypassed
		cacheBypass.Inc()
		return proceed
	}
	switch cache.Decide(&e.Meta, &c.reqCC, c.now) {
	case cache.Fresh:
		c.out = cacheHit
	case cache.StaleOK:
		c.out = cacheStale
		cache.NoteStale()
	case cache.StaleRevalidate:
		c.out = cacheStale
		cache.NoteStale()
		s.refreshInBackground(ctx, st)
	default:
		s.startRevalidation(ctx, st)
		return proceed
	}
	s.serveEntry(ctx, st, "")
	return answered
}

// startRevalidation turns the request into a conditional one with the
// stored validators; the client's own conditionals are kept for the answer.
func (s *Server) startRevalidation(ctx *fasthttp.RequestCtx, st *reqState) {
	c := &st.c
	h := &ctx.Request.Header
	c.saveConditionals(h)
	h.DelBytes(strIfNoneMatch)
	h.DelBytes(strIfModSince)
	if len(c.entry.ETag) > 0 {
		h.SetBytesKV(strIfNoneMatch, c.entry.ETag)
	}
	if c.entry.LastModified != 0 {
		c.stBuf = cache.AppendHTTPDate(c.stBuf[:0], c.entry.LastModified)
		h.SetBytesKV(strIfModSince, c.stBuf)
	}
	c.revalidate, c.fill = true, true
	c.meta = c.entry.Meta
}

func (c *cacheState) saveConditionals(h *fasthttp.RequestHeader) {
	c.cond = c.cond[:0]
	c.inmN, c.imsN = -1, -1
	if v := h.PeekBytes(strIfNoneMatch); v != nil {
		c.cond = append(c.cond, v...)
		c.inmN = len(v)
	}
	if v := h.PeekBytes(strIfModSince); v != nil {
		c.cond = append(c.cond, v...)
		c.imsN = len(v)
	}
}

func (c *cacheState) conditionals() (inm, ims []byte) {
	p := 0
	if c.inmN >= 0 {
		inm = c.cond[:c.inmN:c.inmN]
		p = c.inmN
	}
	if c.imsN >= 0 {
		ims = c.cond[p : p+c.imsN : p+c.imsN]
	}
	return inm, ims
}

// serveEntry answers from c.entry: a 304 when the client's conditionals
// match, the stored answer otherwise; Age and Cache-Status added. detail is
// an extra Cache-Status parameter.
func (s *Server) serveEntry(ctx *fasthttp.RequestCtx, st *reqState, detail string) {
	c := &st.c
	e := &c.entry
	var inm, ims []byte
	if c.revalidate {
		inm, ims = c.conditionals()
	} else {
		inm, ims = ctx.Request.Header.PeekBytes(strIfNoneMatch), ctx.Request.Header.PeekBytes(strIfModSince)
	}
	resp := &ctx.Response
	resp.Reset()
	notModified := cache.NotModified(e, inm, ims, c.now)
	if notModified {
		resp.SetStatusCode(fasthttp.StatusNotModified)
	} else {
		resp.SetStatusCode(e.Status)
	}
	h := e.Header
	for len(h) > 0 {
		i := bytes.IndexByte(h, 0)
		if i < 0 {
			break
		}
		name := h[:i]
		h = h[i+1:]
		j := bytes.IndexByte(h, 0)
		if j < 0 {
			break
		}
		v := h[:j]
		h = h[j+1:]
		if notModified && (httpbytes.EqualFoldString(name, fasthttp.HeaderContentType) || httpbytes.EqualFoldString(name, fasthttp.HeaderContentEncoding)) {
			continue
		}
		if st.api.Cache != nil && httpbytes.EqualFoldString(name, b2s(st.api.Cache.TagHeader)) {
			continue
		}
		resp.Header.AddBytesKV(name, v)
	}
	if !notModified {
		resp.SetBody(e.Body) // copies: c.val goes back to the pool with st
	}
	age := e.CurrentAge(c.now)
	c.stBuf = strconv.AppendInt(c.stBuf[:0], age, 10)
	resp.Header.SetBytesKV(strAge, c.stBuf)
	c.stBuf = append(c.stBuf[:0], "sluice; hit; ttl="...)
	c.stBuf = strconv.AppendInt(c.stBuf, e.Lifetime-age, 10)
	if c.out == cacheCoalesced {
		c.stBuf = append(c.stBuf, "; collapsed"...)
	}
	if detail != "" {
		c.stBuf = append(c.stBuf, "; detail="...)
		c.stBuf = append(c.stBuf, detail...)
	}
	resp.Header.SetBytesKV(strCacheStatus, c.stBuf)
	c.meta = e.Meta
	c.storeZ = !c.zstored && !c.revalidate
}

// refreshInBackground serves stale now and asks the origin once per key
// (stale-while-revalidate, RFC 5861): a copy of the request goes through
// the backend's chain in its own goroutine and its answer is stored.
func (s *Server) refreshInBackground(ctx *fasthttp.RequestCtx, st *reqState) {
	c := &st.c
	rk := append(c.zkey[:0], c.vkey...)
	rk = append(rk, 3)
	c.zkey = rk
	if hook := s.cache.refreshJoined.Load(); hook != nil {
		(*hook)()
	}
	f, leader := s.cache.co.Join(rk)
	if !leader {
		return // a refresh is already on its way
	}
	// A refresh may have stored and ended between this request's lookup and
	// Join: the entry is then no longer the stale one looked at, and asking
	// the origin again would be a second refresh for one expiry.
	if cur, ok := s.cache.store.GetInto(nil, c.vkey); ok && !bytes.Equal(cur, c.val) {
		s.cache.co.Done(f)
		return
	}
	cacheBackgroundFills.Inc()
	api := st.api
	s.prepareUpstreamRequest(ctx, st)
	req := fasthttp.AcquireRequest()
	ctx.Request.CopyTo(req)
	req.Header.DelBytes(strIfNoneMatch)
	req.Header.DelBytes(strIfModSince)
	if len(c.entry.ETag) > 0 {
		req.Header.SetBytesKV(strIfNoneMatch, c.entry.ETag)
	}
	if c.entry.LastModified != 0 {
		req.Header.SetBytesV(fasthttp.HeaderIfModifiedSince, cache.AppendHTTPDate(nil, c.entry.LastModified))
	}
	bg := &cacheState{key: bytes.Clone(c.key), vkey: bytes.Clone(c.vkey), val: bytes.Clone(c.val), urlLen: c.urlLen,
		seq: s.cache.store.Seq(), reqCC: c.reqCC, hasAuth: c.hasAuth, revalidate: true, fill: true}
	bg.entry.Decode(bg.val)
	consumer := bytes.Clone(consumerFor(st))
	req.Header.SetMethod(fasthttp.MethodGet) // a HEAD's refresh fetches the GET entry's answer
	go func() {
		defer s.cache.co.Done(f)
		defer fasthttp.ReleaseRequest(req)
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseResponse(resp)
		// Freshness runs on the pipeline's clock, as for every other fill;
		// only the socket deadline is the kernel's.
		bg.now = s.clock.Nanotime() / int64(time.Second)
		x := &policy.Exchange{Req: req, Resp: resp, Deadline: time.Now().Add(api.Timeout), Replayable: true, Target: -1}
		if err := api.Backend.Upstream.Do(x); err != nil {
			return
		}
		stripResponseHopByHop(&resp.Header)
		s.fillFrom(api, bg, strGET, consumer, &req.Header, resp, s.clock.Nanotime()/int64(time.Second))
	}()
}

// cacheStore is the response step after the response transformation: it
// stores the origin's answer to a miss, refreshes an entry the origin
// confirmed with 304, serves stale when the origin failed and stale-if-error
// allows it, and invalidates after unsafe methods.
func (s *Server) cacheStore(ctx *fasthttp.RequestCtx, st *reqState) {
	c := &st.c
	if c.unsafe {
		s.invalidate(ctx, st)
	}
	if !c.fill {
		if st.api.Cache != nil && c.out != cacheNone && c.out != cacheHit && c.out != cacheStale && c.out != cacheCoalesced {
			setCacheStatusFwd(ctx, c, "bypass", false)
		}
		return
	}
	resp := &ctx.Response
	status := resp.StatusCode()
	if c.revalidate {
		failed := !st.forwarded || status == 500 || status == 502 || status == 503 || status == 504
		switch {
		case st.forwarded && status == fasthttp.StatusNotModified:
			cacheRevalidated.Inc()
			c.fwdStatus = status
			s.refreshEntry(c, resp, st.api.Cache)
			c.out = cacheRevalidated304
			s.serveEntry(ctx, st, "")
			c.stBuf = append(c.stBuf[:0], "sluice; fwd=stale; fwd-status=304; stored"...)
			resp.Header.SetBytesKV(strCacheStatus, c.stBuf)
			c.storeZ = true
			return
		case failed && cache.ServeStaleOnError(&c.entry.Meta, &c.reqCC, c.now, st.api.Cache.StaleIfError):
			cache.NoteStale()
			c.out = cacheStale
			st.errCode = ""
			s.serveEntry(ctx, st, "stale-if-error")
			return
		}
		c.out = cacheRevalidated304
		cacheRevalidated.Inc()
	}
	if !st.forwarded {
		setCacheStatusFwd(ctx, c, "uri-miss", false)
		return
	}
	c.stored = s.fillFrom(st.api, c, ctx.Method(), consumerFor(st), &ctx.Request.Header, resp, c.now)
	resp.Header.DelBytes(st.api.Cache.TagHeader) // the origin's purge handles are not the client's business
	fwd := "uri-miss"
	if c.varyMiss {
		fwd = "vary-miss"
	}
	if c.revalidate {
		fwd = "stale"
	}
	setCacheStatusFwd(ctx, c, fwd, c.stored)
	c.storeZ = c.stored
}

func consumerFor(st *reqState) []byte {
	if len(st.consumerName) == 0 {
		return anonymousKey
	}
	return st.consumerName
}

func setCacheStatusFwd(ctx *fasthttp.RequestCtx, c *cacheState, fwd string, stored bool) {
	c.stBuf = append(c.stBuf[:0], "sluice; fwd="...)
	c.stBuf = append(c.stBuf, fwd...)
	if c.fwdStatus == 0 {
		c.fwdStatus = ctx.Response.StatusCode()
	}
	c.stBuf = append(c.stBuf, "; fwd-status="...)
	c.stBuf = strconv.AppendInt(c.stBuf, int64(c.fwdStatus), 10)
	if stored {
		c.stBuf = append(c.stBuf, "; stored"...)
	}
	ctx.Response.Header.SetBytesKV(strCacheStatus, c.stBuf)
}

// fillFrom stores resp as the answer for c's key when RFC 9111 and the API's
// settings allow, writing a variants record first when the answer varies or
// is per consumer. It reports whether the answer was stored.
func (s *Server) fillFrom(api *policy.API, c *cacheState, method, consumer []byte, reqH *fasthttp.RequestHeader, resp *fasthttp.Response, now int64) bool {
	k := api.Cache
	store := s.cache.store
	if resp.IsBodyStream() {
		cacheRefusedStreamed.Inc()
		return false
	}
	status := resp.StatusCode()
	var r cache.Response
	var vary []byte
	c.hdr = c.hdr[:0]
	c.tags = c.tags[:0]
	setCookie := false
	for name, v := range resp.Header.All() {
		r.ParseResponseField(name, v, now)
		switch {
		case httpbytes.EqualFoldString(name, fasthttp.HeaderContentLength), httpbytes.EqualFoldString(name, "Age"),
			httpbytes.EqualFoldString(name, fasthttp.HeaderConnection), httpbytes.EqualFoldString(name, "Cache-Status"),
			httpbytes.EqualFoldString(name, "X-Request-Id"):
			continue
		case httpbytes.EqualFoldString(name, fasthttp.HeaderSetCookie):
			setCookie = true
		case httpbytes.EqualFoldString(name, "Vary"):
			if len(vary) > 0 {
				vary = append(vary, ',')
			}
			vary = append(vary, v...) // rare; small
		case httpbytes.EqualFoldString(name, b2s(k.TagHeader)):
			if len(c.tags) > 0 {
				c.tags = append(c.tags, ' ')
			}
			c.tags = append(c.tags, v...)
		}
		c.hdr = append(c.hdr, name...)
		c.hdr = append(c.hdr, 0)
		c.hdr = append(c.hdr, v...)
		c.hdr = append(c.hdr, 0)
	}
	in := cache.StoreInput{Method: method, Status: status, Req: &c.reqCC, Resp: &r, Statuses: &k.Statuses, Vary: vary,
		HasAuth: c.hasAuth, SetCookie: setCookie, CookieOK: k.StoreSetCookie, DefaultTTL: k.TTL}
	if cache.MayStore(&in) != cache.Storable {
		return false
	}
	body := resp.Body()
	if len(body)+len(c.hdr) > k.MaxObjectSize {
		return s.refuseTooLarge()
	}
	reqTime := c.now
	m := cache.NewMeta(&r, status, reqTime, now, k.TTL, k.Override, k.Heuristic)
	perConsumer := api.Auth != nil && m.Flags&cache.MetaPublic == 0
	key := c.key
	if len(vary) > 0 || perConsumer {
		rec := cache.Entry{Meta: cache.Meta{Flags: cache.MetaVariants}, Header: vary, Seq: c.seq, StoredAt: now}
		if perConsumer {
			rec.Flags |= cache.MetaPerConsumer
		} else {
			consumer = nil
		}
		store.Set(c.key, c.urlLen, &rec)
		var ok bool
		if c.vkey, ok = cache.AppendVariantKey(c.vkey[:0], c.key, vary, consumer, reqH); !ok {
			return false
		}
		key = c.vkey
	} else {
		c.vkey = append(c.vkey[:0], c.key...)
	}
	var etag []byte
	if v := resp.Header.Peek(fasthttp.HeaderETag); len(v) > 0 {
		etag = v
	}
	e := cache.Entry{Meta: m, Status: status, StoredAt: now, ETag: etag, Header: c.hdr, Body: body, Tags: c.tags, Seq: c.seq}
	if !store.Set(key, c.urlLen, &e) {
		return false
	}
	c.meta = m
	s.dropCompressed(c)
	return true
}

func (s *Server) refuseTooLarge() bool {
	cacheRefusedTooLarge.Inc()
	return false
}

var cacheRefusedTooLarge = metrics.NewCounter(`sluice_cache_refused_api_too_large_total`)

// dropCompressed removes the compressed variants of c.vkey: they hold the
// previous answer.
func (s *Server) dropCompressed(c *cacheState) {
	for enc := policy.EncodingBrotli; enc < policy.NumEncodings; enc++ {
		c.zkey = appendVariantEncoding(c.zkey[:0], c.vkey, enc)
		s.cache.store.Delete(c.zkey)
	}
}

// refreshEntry applies a 304 to the stored entry c.entry (RFC 9111 §4.3.4)
// and stores it again under c.vkey.
func (s *Server) refreshEntry(c *cacheState, resp *fasthttp.Response, k *policy.Cache) {
	var r cache.Response
	for name, v := range resp.Header.All() {
		r.ParseResponseField(name, v, c.now)
	}
	e := &c.entry
	e.Meta.Refresh(&r, e.Status, c.now, c.now, k.TTL, k.Override, k.Heuristic)
	e.Seq = c.seq
	e.StoredAt = c.now
	e.Tags = tagsFromHeader(e.Header, k.TagHeader)
	s.cache.store.Set(c.vkey, c.urlLen, e)
	c.meta = e.Meta
	s.dropCompressed(c)
}

// tagsFromHeader finds the surrogate-key line in stored header lines.
func tagsFromHeader(h, name []byte) []byte {
	for len(h) > 0 {
		i := bytes.IndexByte(h, 0)
		if i < 0 {
			return nil
		}
		n := h[:i]
		h = h[i+1:]
		j := bytes.IndexByte(h, 0)
		if j < 0 {
			return nil
		}
		if httpbytes.EqualFoldString(n, b2s(name)) {
			return h[:j]
		}
		h = h[j+1:]
	}
	return nil
}

// invalidate removes the stored answers for the request's URL after an
// unsafe method the origin answered 2xx or 3xx (RFC 9111 §4.4). The URL's
// cache settings are its GET API's when the method's API has none.
func (s *Server) invalidate(ctx *fasthttp.RequestCtx, st *reqState) {
	if !cache.InvalidatesOnUnsafe(ctx.Method(), ctx.Response.StatusCode()) {
		return
	}
	api := st.api
	if api.Cache == nil {
		var ps = st.params
		a, _, res := st.snap.Match(st.host, st.stage, strGET, st.path, &ps)
		if res != policy.Matched || a.Cache == nil {
			return
		}
		api = a
	}
	c := &st.c
	url, ok := api.Cache.Key.AppendURL(c.key[:0], s2b(api.Group.Name), stageKeys[st.stage], st.path, rawQuery(ctx.Request.Header.RequestURI()))
	c.key = url
	if ok {
		s.cache.store.PurgeURL(url, st.start/int64(time.Second))
	}
}

// cacheDone ends the request's fill flight after the store and compression
// steps, waking coalesced waiters.
func (s *Server) cacheDone(st *reqState) {
	if o := st.c.out; o != cacheNone {
		cacheOutcomes[o].Inc()
	}
	if st.c.leader {
		st.c.leader = false
		s.cache.co.Done(st.c.flight)
	}
}

func unsafeMethod(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return false
	}
	return true
}
