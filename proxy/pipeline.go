package proxy

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/sluicegw/sluice/policy"
	"github.com/sluicegw/sluice/policy/jwtauth"
	"github.com/sluicegw/sluice/policy/radix"
	"github.com/sluicegw/sluice/store/ratelimit"
	"github.com/valyala/fasthttp"
)

// reqState is what one request carries through the pipeline. Pooled
// (acquireReqState/releaseReqState): steps hand it to policy checks through
// interfaces, which would move a stack value to the heap on every request.
type reqState struct {
	// reqFields is zeroed for every request; the arrays and buffers below
	// are not (reset): zeroing all of reqState's 2 KiB took more time than
	// any step of a plain proxied request (issue 16).
	reqFields
	params    radix.Params // Reset by reset; the match fills what it reports
	limitReqs [ratelimit.MaxRequests]ratelimit.Request
	id        [maxRequestIDLen]byte // valid up to idLen
	nameBuf   []byte
	pathBuf   []byte
	hostBuf   []byte
	tbuf      []byte     // scratch for one header value at a time
	rbuf      []byte     // template rendering
	ubuf      []byte     // upstream URI, X-Forwarded-For
	bodyBuf   []byte     // a streamed body read for HMAC or parameter checks
	c         cacheState // response cache and compression (cache.go); reset only after an API that used it
}

// reqFields are the per-request fields of reqState that start at zero.
type reqFields struct {
	snap            *policy.Snapshot
	api             *policy.API
	start           int64 // Server clock, Unix ns
	x               policy.Exchange
	peer            netip.Addr
	client          netip.Addr
	path            []byte // the matched path, in pathBuf
	query           []byte // the client's query string, after path in pathBuf; only kept for the access log
	host            []byte // the client's Host, in hostBuf
	consumer        *policy.Consumer
	consumerName    []byte // points into nameBuf
	verified        *jwtauth.Verified
	backend         time.Duration // time waiting for the upstream's answer header
	traceID         [32]byte
	rl              ratelimit.Decision
	rlSet           bool
	queryModified   bool
	idLen           int
	stage           policy.StageID
	clientClose     bool      // the client asked to close; the answer says so
	preflighted     bool      // answered as a CORS preflight: headers are set
	forwarded       bool      // the answer came through the backend's chain
	upgrade         bool      // a WebSocket handshake (seen before hop-by-hop headers go)
	seen            headerSet // which pipeline-read headers the request may carry (census.go)
	errCode         string
	authOutcome     string
	throttleOutcome string
	lim             limitReader
}

var reqStatePool = sync.Pool{New: func() any {
	return &reqState{nameBuf: make([]byte, 0, 64), pathBuf: make([]byte, 0, 256), hostBuf: make([]byte, 0, 64),
		tbuf: make([]byte, 0, 256), rbuf: make([]byte, 0, 256), ubuf: make([]byte, 0, 512), reqFields: reqFields{seen: seenAll}}
}}

func acquireReqState() *reqState { return reqStatePool.Get().(*reqState) }

func releaseReqState(st *reqState) {
	st.reset()
	reqStatePool.Put(st)
}

// reset readies st for the next request. The cache state is 656 bytes and
// only APIs with a cache or compression, or an unsafe method's invalidation,
// write it; otherwise it is still as the last reset left it.
func (st *reqState) reset() {
	if api := st.api; st.c.unsafe || api != nil && (api.Cache != nil || api.Compression != nil) {
		st.c = st.c.keep()
	}
	st.reqFields = reqFields{seen: seenAll}
	st.params.Reset()
	st.nameBuf, st.pathBuf, st.hostBuf = st.nameBuf[:0], st.pathBuf[:0], st.hostBuf[:0]
	st.tbuf, st.rbuf, st.ubuf = st.tbuf[:0], st.rbuf[:0], st.ubuf[:0]
	st.bodyBuf = st.bodyBuf[:0]
	if cap(st.bodyBuf) > 1<<20 {
		st.bodyBuf = nil // do not pin a large upload's buffer in the pool
	}
}

func (st *reqState) requestID() []byte { return st.id[:st.idLen] }

func (st *reqState) setName(name string) []byte {
	st.nameBuf = append(st.nameBuf[:0], name...)
	return st.nameBuf
}

func (st *reqState) setNameBytes(name []byte) []byte {
	st.nameBuf = append(st.nameBuf[:0], name...)
	return st.nameBuf
}

// outcome is how a step ended.
type outcome uint8

const (
	// proceed: the next step runs.
	proceed outcome = iota
	// answered: ctx.Response holds the final answer (an error, a preflight,
	// a cache hit, the upstream's answer); the response phase runs next.
	answered
	// hijacked: a tunnel takes the client connection once the handler
	// returns; the response phase still decorates its 101, and the tunnel
	// writes the access-log record when it closes.
	hijacked
)

// step is one request step. Each returns proceed at once when its API does
// not use it, so an API pays only for the steps it configures.
type step func(s *Server, ctx *fasthttp.RequestCtx, st *reqState) outcome

// requestSteps is the pipeline's fixed order (DESIGN.md, "The request's way
// through"); operators cannot reorder it, so one config always enforces the
// same way. Step 0 (framing, request id, stage, route, body size: 400 / 404 /
// 405 / 413 / 503) runs before it in admit.
//
//	1 IP access control                        403
//	  body buffering for steps that read it    400 / 408 / 413
//	2 CORS preflight                           204, never reaches auth or backend
//	3 authentication, authorization            401 / 403
//	4 throttling                               429 + Retry-After
//	5 parameter validation                     400 / 413
//	6 request transformation
//	7 response cache lookup                    hit ends here (cache.go)
//	8 forward: the backend's chain             502 / 503 / 504
//
// Every answer, errors included, then passes respond, which applies the
// response steps in reverse order: response transformation, cache store,
// compression, CORS headers, rate-limit headers, X-Request-Id. Last, account writes one
// access-log record and the metrics.
var requestSteps = [...]step{
	(*Server).ipAccess,
	(*Server).readBodyStep,
	(*Server).preflight,
	(*Server).authenticate,
	(*Server).throttle,
	(*Server).validate,
	(*Server).transformRequest,
	(*Server).cacheLookup,
	(*Server).forward,
}

// handle is the request pipeline as a fasthttp handler.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	st := acquireReqState()
	defer releaseReqState(st)
	st.start = s.clock.Nanotime()
	st.snap = s.current.Load()
	st.x.Target = -1

	inflightAll.Add(1)
	n := s.inflight.Add(1)
	o := s.admit(ctx, st, n)
	for i := 0; o == proceed && i < len(requestSteps); i++ {
		o = requestSteps[i](s, ctx, st)
	}
	s.respond(ctx, st)
	s.inflight.Add(-1)
	inflightAll.Add(-1)
	s.account(ctx, st, o != hijacked) // a tunnel logs its own record when it closes
}

// admit is step 0: what every request passes before it has an API. The
// client's hop-by-hop headers go first of all, before the gateway sets any
// header of its own (request id, trace context, forwarding and identity
// headers): a header the client names in Connection must never be able to
// remove one the gateway adds.
func (s *Server) admit(ctx *fasthttp.RequestCtx, st *reqState, inflight int64) outcome {
	if reason := checkFraming(ctx.Request.Header.RawHeaders()); reason != "" {
		s.requestID(ctx, st)
		rejectedFraming.Inc()
		s.reject(ctx, st, fasthttp.StatusBadRequest, CodeMalformedRequest, "ambiguous request framing: "+reason)
		ctx.SetConnectionClose()
		return answered
	}
	if status, code, msg := checkRequest(ctx); status != 0 {
		s.requestID(ctx, st)
		s.reject(ctx, st, status, code, msg)
		ctx.SetConnectionClose()
		return answered
	}
	st.seen = censusRequest(&ctx.Request.Header)
	st.upgrade = st.seen.has(seenUpgrade) && isWebSocketUpgrade(&ctx.Request.Header)
	st.clientClose = stripRequestHopByHop(&ctx.Request.Header, st.seen)
	s.requestID(ctx, st)
	propagateTrace(&ctx.Request.Header, st.seen, &st.traceID)
	if o := s.edgeStep(ctx, st); o != proceed { // TLS edge: proxy/tls.go
		return o
	}
	if max := st.snap.Server.MaxConcurrentRequests; max > 0 && inflight > max {
		rejectedOverload.Inc()
		s.reject(ctx, st, fasthttp.StatusServiceUnavailable, CodeOverloaded, "too many concurrent requests")
		return answered
	}
	var stageName []byte
	if st.seen.has(seenStage) {
		stageName = ctx.Request.Header.Peek("X-Ca-Stage")
	}
	stage, ok := policy.ParseStage(stageName)
	if !ok {
		s.reject(ctx, st, fasthttp.StatusBadRequest, CodeUnknownStage, "unknown X-Ca-Stage: want RELEASE, PRE or TEST")
		return answered
	}
	st.stage = stage
	// Own copies: forwarding rewrites the request's URI and Host in place,
	// and parameters are offsets into the path. The access log wants the
	// client's query, not the upstream's: it goes behind the path.
	st.pathBuf = append(st.pathBuf[:0], ctx.Path()...)
	pathLen := len(st.pathBuf)
	if s.accessLog.KeepsQuery() {
		st.pathBuf = append(st.pathBuf, rawQuery(ctx.Request.Header.RequestURI())...)
		st.query = st.pathBuf[pathLen:]
	}
	st.path = st.pathBuf[:pathLen:pathLen]
	st.hostBuf = append(st.hostBuf[:0], ctx.Host()...)
	st.host = st.hostBuf
	api, allow, res := st.snap.Match(st.host, stage, ctx.Method(), st.path, &st.params)
	switch res {
	case policy.NoRoute:
		s.reject(ctx, st, fasthttp.StatusNotFound, CodeNotFound, noRouteMessages[stage])
		return answered
	case policy.WrongMethod:
		// A CORS preflight is an OPTIONS for a method the API does answer:
		// route it by the method it asks about, so step 2 can answer it.
		if api = s.preflightRoute(ctx, st); api == nil {
			s.reject(ctx, st, fasthttp.StatusMethodNotAllowed, CodeMethodNotAllowed, "method not allowed for this path")
			ctx.Response.Header.Set(fasthttp.HeaderAllow, allow)
			return answered
		}
	}
	st.api = api
	st.peer = peerAddr(ctx)
	st.client = clientIP(st.peer, &ctx.Request.Header, st.snap.TrustedProxies)
	if cl := ctx.Request.Header.ContentLength(); int64(cl) > st.snap.Server.MaxBodySize {
		rejectedBodySize.Inc()
		s.finish(ctx, st, fasthttp.StatusRequestEntityTooLarge, CodePayloadTooLarge, "request body is larger than the limit")
		ctx.SetConnectionClose() // the unread body must not be parsed as the next request
		return answered
	}
	return proceed
}

// noRouteMessages are the 404 messages per stage, built once: a scan of
// unknown paths must cost no allocation.
var noRouteMessages = func() (m [3]string) {
	for i := range m {
		m[i] = "no API matches this path in stage " + policy.StageID(i).String()
	}
	return m
}()

// readBodyStep brings the body into memory for the steps that read it (HMAC,
// form and JSON parameters), bounded by max_body_size, and guards a streamed
// body while it is forwarded (body.go).
func (s *Server) readBodyStep(ctx *fasthttp.RequestCtx, st *reqState) outcome {
	if st.api.ReadsBody && !s.readBody(ctx, st) {
		return answered
	}
	s.limitStream(ctx, st)
	return proceed
}

// respond is the one response phase: every answer of the pipeline, errors
// included, passes here once, and the response steps run in the reverse of
// the request steps' order.
func (s *Server) respond(ctx *fasthttp.RequestCtx, st *reqState) {
	if api := st.api; api != nil {
		if st.forwarded {
			s.transformResponse(ctx, st)
		}
		if api.Cache != nil || st.c.unsafe {
			s.cacheStore(ctx, st)
		}
		s.compress(ctx, st)
		s.cacheDone(st)
		if p := api.CORS; p != nil && !st.preflighted {
			p.Decorate(&ctx.Request, &ctx.Response)
		}
		setRateLimitHeaders(ctx, st)
	}
	s.edgeRespond(ctx, st) // HSTS: proxy/tls.go
	if st.clientClose {
		ctx.SetConnectionClose()
	}
	ctx.Response.Header.SetCanonical(strRequestID, st.requestID())
}

// account records the finished request: per-API counters and latency
// histograms, then one access-log record. Every exit of the pipeline passes
// here exactly once.
func (s *Server) account(ctx *fasthttp.RequestCtx, st *reqState, log bool) {
	status := ctx.Response.StatusCode()
	total := time.Duration(s.clock.Nanotime() - st.start)
	if st.backend > total {
		total = st.backend
	}
	if api := st.api; api != nil {
		api.Stats.Count(status)
		api.Stats.Total.Observe(total)
		if st.x.Target >= 0 {
			api.Stats.Backend.Observe(st.backend)
		}
	} else {
		unmatchedRequests.Inc()
	}
	if log && s.accessLog != nil {
		s.logRecord(ctx, st, status, total)
	}
}

// preflightRoute returns the API a CORS preflight asks about, when that API
// has a CORS policy; nil otherwise.
func (s *Server) preflightRoute(ctx *fasthttp.RequestCtx, st *reqState) *policy.API {
	if !ctx.IsOptions() {
		return nil
	}
	want := ctx.Request.Header.Peek("Access-Control-Request-Method")
	if len(want) == 0 || len(ctx.Request.Header.Peek("Origin")) == 0 {
		return nil
	}
	api, _, res := st.snap.Match(st.host, st.stage, want, st.path, &st.params)
	if res != policy.Matched || api.CORS == nil {
		st.params.Reset()
		return nil
	}
	return api
}

// requestID keeps the client's X-Request-Id when it is a short safe token and
// makes one otherwise; either way it is sent upstream and echoed.
// Before admit's census is taken (a request rejected by framing checks), its
// zero value says "look": seen is all ones then (see reqState.reset).
func (s *Server) requestID(ctx *fasthttp.RequestCtx, st *reqState) {
	if st.seen.has(seenRequestID) {
		if id := ctx.Request.Header.Peek(headerRequestID); validRequestID(id) {
			st.idLen = copy(st.id[:], id)
			return
		}
	}
	st.idLen = len(appendRequestID(st.id[:0]))
	ctx.Request.Header.SetCanonical(strRequestID, st.requestID())
}

// reject answers a request that matched no API (or failed before routing).
func (s *Server) reject(ctx *fasthttp.RequestCtx, st *reqState, status int, code, msg string) {
	writeError(ctx, status, code, msg, st.requestID())
	st.errCode = code
}

// finish answers a matched API's request with an error and counts it.
func (s *Server) finish(ctx *fasthttp.RequestCtx, st *reqState, status int, code, msg string) {
	writeError(ctx, status, code, msg, st.requestID())
	st.errCode = code
}

// forward is step 8: the request goes through its backend's chain (retry,
// balancer, then the pool or a mock), and the answer is left in ctx.Response.
// The client's hop-by-hop headers were removed in admit; the forwarding
// headers are set here, after every client header was settled.
func (s *Server) forward(ctx *fasthttp.RequestCtx, st *reqState) outcome {
	req := &ctx.Request
	api := st.api
	if st.upgrade && api.WebSocket != nil {
		return s.tunnel(ctx, st)
	}
	if api.Composite != nil {
		return s.compose(ctx, st)
	}
	if api.Backend.Mock == nil {
		s.prepareUpstreamRequest(ctx, st)
		// Request buffering: a body up to stream_threshold is read whole
		// before an upstream connection is taken (body.go).
		if !s.bufferBody(ctx, st) {
			return answered
		}
	}
	x := &st.x
	x.Req, x.Resp = req, &ctx.Response
	x.Replayable = !req.IsBodyStream()
	x.Retry, x.Client, x.Path, x.Params = api.Retry, st.client, st.path, &st.params
	// One clock read serves the request: when the pipeline runs on the
	// process clock and no body was read, the request's start stands for
	// the send time (microseconds earlier, so the timeout also covers the
	// gateway's own work). A read body may have taken seconds: the clock is
	// read again then. (Body() would read a stream whole: streams first.)
	sent, now := time.Time{}, st.start
	if s.processClock && !req.IsBodyStream() && len(req.Body()) == 0 {
		sent = ratelimit.TimeAt(st.start)
	} else {
		sent, now = time.Now(), s.clock.Nanotime()
	}
	x.Start, x.Now, x.Deadline = sent, now, sent.Add(api.Timeout)
	err := api.Backend.Upstream.Do(x)
	s.endUpload(st)
	if x.Target >= 0 {
		st.backend = time.Since(sent)
	}
	if err != nil {
		status, code, msg := upstreamError(err)
		if isClientBody(err) {
			st.clientClose = true
		}
		if st.lim.tripped {
			rejectedBodySize.Inc()
			status, code, msg = fasthttp.StatusRequestEntityTooLarge, CodePayloadTooLarge, "request body is larger than the limit"
			st.clientClose = true
		}
		s.finish(ctx, st, status, code, msg)
		return answered
	}
	stripResponseHopByHop(&ctx.Response.Header)
	st.forwarded = true
	return answered
}

// upstreamError maps a forwarding failure to the client's status.
func upstreamError(err error) (int, string, string) {
	if status, code, msg, ok := resilienceError(err); ok {
		return status, code, msg
	}
	if status, code, msg, ok := upstreamTLSError(err); ok {
		return status, code, msg
	}
	switch {
	case isClientBody(err):
		return clientBodyStatus(err) // the client's fault, not the upstream's
	case errors.Is(err, errBodyTooLarge):
		return fasthttp.StatusRequestEntityTooLarge, CodePayloadTooLarge, "request body is larger than the limit"
	case errors.Is(err, fasthttp.ErrTimeout) || isTimeout(err):
		upstreamErrTimeout.Inc()
		return fasthttp.StatusGatewayTimeout, CodeGatewayTimeout, "the upstream did not answer in time"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		upstreamErrNoConn.Inc()
		return fasthttp.StatusServiceUnavailable, CodeNoTargetAvailable, "no upstream connection available"
	case isDialError(err):
		upstreamErrConnect.Inc()
		return fasthttp.StatusBadGateway, CodeBadGateway, "no upstream target accepted the connection"
	default:
		upstreamErrReset.Inc()
		return fasthttp.StatusBadGateway, CodeBadGateway, "the upstream closed or reset the connection"
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// peerAddr is the socket peer's address without allocating.
func peerAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	switch a := ctx.RemoteAddr().(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.IPv4Unspecified()
}
