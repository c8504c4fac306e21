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
	snap            *policy.Snapshot
	api             *policy.API
	start           time.Time
	peer            netip.Addr
	client          netip.Addr
	params          radix.Params
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
	id              [maxRequestIDLen]byte
	stage           policy.StageID
	target          int
	errCode         string
	authOutcome     string
	throttleOutcome string
	nameBuf         []byte
	pathBuf         []byte
	hostBuf         []byte
	tbuf            []byte // scratch for one header value at a time
	rbuf            []byte // template rendering
	ubuf            []byte // upstream URI, X-Forwarded-For
	bodyBuf         []byte // a streamed body read for HMAC or parameter checks
	lim             limitReader
}

var reqStatePool = sync.Pool{New: func() any {
	return &reqState{nameBuf: make([]byte, 0, 64), pathBuf: make([]byte, 0, 256), hostBuf: make([]byte, 0, 64),
		tbuf: make([]byte, 0, 256), rbuf: make([]byte, 0, 256), ubuf: make([]byte, 0, 512)}
}}

func acquireReqState() *reqState { return reqStatePool.Get().(*reqState) }

func releaseReqState(st *reqState) {
	st.reset()
	reqStatePool.Put(st)
}

// reset truncates: buffers keep their capacity for the next request.
func (st *reqState) reset() {
	nameBuf, pathBuf, hostBuf := st.nameBuf[:0], st.pathBuf[:0], st.hostBuf[:0]
	tbuf, rbuf, ubuf, bodyBuf := st.tbuf[:0], st.rbuf[:0], st.ubuf[:0], st.bodyBuf[:0]
	if cap(bodyBuf) > 1<<20 {
		bodyBuf = nil // do not pin a large upload's buffer in the pool
	}
	*st = reqState{nameBuf: nameBuf, pathBuf: pathBuf, hostBuf: hostBuf, tbuf: tbuf, rbuf: rbuf, ubuf: ubuf, bodyBuf: bodyBuf}
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

// handle is the request pipeline. Its steps run in this fixed order, and an
// API runs only the steps it configures (DESIGN.md, "The request's way
// through"); operators cannot reorder them, so one config always enforces
// the same way:
//
//	0 framing, request id, stage, route        400 / 404 / 405 / 413 / 503
//	1 IP access control                        403
//	2 CORS preflight                           204, never reaches auth or backend
//	3 authentication, authorization            401 / 403
//	4 throttling                               429 + Retry-After
//	5 parameter validation                     400 / 413
//	6 request transformation
//	7 response cache lookup                    (no cache yet)
//	8 forward to upstream (or mock)            502 / 503 / 504
//
// and on the way back, in reverse: response transformation, (cache store),
// CORS headers, rate-limit headers; last, one access-log record and metrics.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	st := acquireReqState()
	defer releaseReqState(st)
	defer s.account(ctx, st)
	st.start = time.Now()
	st.snap = s.current.Load()
	st.target = -1

	inflightAll.Add(1)
	n := s.inflight.Add(1)
	defer func() {
		s.inflight.Add(-1)
		inflightAll.Add(-1)
	}()

	s.requestID(ctx, st)
	propagateTrace(&ctx.Request.Header, &st.traceID)
	if reason := checkFraming(ctx.Request.Header.RawHeaders()); reason != "" {
		rejectedFraming.Inc()
		s.reject(ctx, st, fasthttp.StatusBadRequest, CodeMalformedRequest, "ambiguous request framing: "+reason)
		ctx.SetConnectionClose()
		return
	}
	if max := st.snap.Server.MaxConcurrentRequests; max > 0 && n > max {
		rejectedOverload.Inc()
		s.reject(ctx, st, fasthttp.StatusServiceUnavailable, CodeOverloaded, "too many concurrent requests")
		return
	}
	stage, ok := policy.ParseStage(ctx.Request.Header.Peek("X-Ca-Stage"))
	if !ok {
		s.reject(ctx, st, fasthttp.StatusBadRequest, CodeUnknownStage, "unknown X-Ca-Stage: want RELEASE, PRE or TEST")
		return
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
		s.reject(ctx, st, fasthttp.StatusNotFound, CodeNotFound, "no API matches this path in stage "+stage.String())
		return
	case policy.WrongMethod:
		// A CORS preflight is an OPTIONS for a method the API does answer:
		// route it by the method it asks about, so step 2 can answer it.
		if api = s.preflightRoute(ctx, st); api == nil {
			s.reject(ctx, st, fasthttp.StatusMethodNotAllowed, CodeMethodNotAllowed, "method not allowed for this path")
			ctx.Response.Header.Set(fasthttp.HeaderAllow, allow)
			return
		}
	}
	st.api = api
	if cl := ctx.Request.Header.ContentLength(); int64(cl) > st.snap.Server.MaxBodySize {
		rejectedBodySize.Inc()
		s.finish(ctx, st, fasthttp.StatusRequestEntityTooLarge, CodePayloadTooLarge, "request body is larger than the limit")
		ctx.SetConnectionClose() // the unread body must not be parsed as the next request
		return
	}
	st.peer = peerAddr(ctx)
	st.client = clientIP(st.peer, &ctx.Request.Header, st.snap.TrustedProxies)

	if !s.ipAccess(ctx, st) {
		return
	}
	if api.ReadsBody && !s.readBody(ctx, st) {
		return
	}
	s.limitStream(ctx, st)
	if s.preflight(ctx, st) {
		return
	}
	if !s.authenticate(ctx, st) || !s.throttle(ctx, st) || !s.validate(ctx, st) {
		s.decorate(ctx, st)
		return
	}
	s.transformRequest(ctx, st)

	if m := api.Backend.Mock; m != nil {
		answerMock(ctx, m)
	} else if !s.forward(ctx, st) {
		s.decorate(ctx, st)
		return
	}
	s.transformResponse(ctx, st)
	s.decorate(ctx, st)
	ctx.Response.Header.SetBytesV(headerRequestID, st.requestID())
}

// account records the finished request: per-API counters and latency
// histograms, then one access-log record. Deferred, so every exit of the
// pipeline passes here exactly once.
func (s *Server) account(ctx *fasthttp.RequestCtx, st *reqState) {
	status := ctx.Response.StatusCode()
	total := time.Since(st.start)
	if st.backend > total {
		total = st.backend
	}
	if api := st.api; api != nil {
		api.Stats.Count(status)
		api.Stats.Total.Observe(total)
		if st.target >= 0 {
			api.Stats.Backend.Observe(st.backend)
		}
	} else {
		unmatchedRequests.Inc()
	}
	if s.accessLog != nil {
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

// decorate adds the response headers every answer of a matched API gets,
// errors included: CORS (so a browser can read the error) and rate limits.
func (s *Server) decorate(ctx *fasthttp.RequestCtx, st *reqState) {
	if p := st.api.CORS; p != nil {
		p.Decorate(&ctx.Request, &ctx.Response)
	}
	setRateLimitHeaders(ctx, st)
}

// requestID keeps the client's X-Request-Id when it is a short safe token and
// makes one otherwise; either way it is sent upstream and echoed.
func (s *Server) requestID(ctx *fasthttp.RequestCtx, st *reqState) {
	id := ctx.Request.Header.Peek(headerRequestID)
	if validRequestID(id) {
		st.idLen = copy(st.id[:], id)
		return
	}
	st.idLen = len(appendRequestID(st.id[:0]))
	ctx.Request.Header.SetBytesV(headerRequestID, st.requestID())
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

// forward sends the request upstream and leaves the upstream's answer in
// ctx.Response. It returns false when it already answered with an error.
func (s *Server) forward(ctx *fasthttp.RequestCtx, st *reqState) bool {
	req := &ctx.Request
	st.ubuf = setForwarded(&req.Header, st.peer, st.host, st.ubuf[:0])
	clientClose := stripRequestHopByHop(&req.Header)
	req.Header.Del("Expect")

	api := st.api
	if api.BackendPath != nil {
		q := ctx.URI().QueryString()
		if st.queryModified {
			q = ctx.URI().QueryArgs().QueryString()
		}
		st.ubuf = api.BackendPath.AppendExpand(st.ubuf[:0], &st.params, st.path, q)
		req.SetRequestURIBytes(st.ubuf)
	} else {
		req.SetRequestURIBytes(ctx.URI().RequestURI())
	}
	if !s.bufferBody(ctx, st) {
		return false
	}
	sent := time.Now()
	target, err := api.Backend.Upstream.Do(req, &ctx.Response, api.Timeout)
	s.endUpload(st)
	st.backend = time.Since(sent)
	st.target = target
	if err != nil {
		status, code, msg := upstreamError(err)
		if isClientBody(err) {
			clientClose = true
		}
		if st.lim.tripped {
			rejectedBodySize.Inc()
			status, code, msg = fasthttp.StatusRequestEntityTooLarge, CodePayloadTooLarge, "request body is larger than the limit"
			clientClose = true
		}
		s.finish(ctx, st, status, code, msg)
		if clientClose {
			ctx.SetConnectionClose()
		}
		return false
	}
	stripResponseHopByHop(&ctx.Response.Header)
	if clientClose {
		ctx.Response.SetConnectionClose()
	}
	return true
}

// upstreamError maps a forwarding failure to the client's status.
func upstreamError(err error) (int, string, string) {
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

func answerMock(ctx *fasthttp.RequestCtx, m *policy.MockAnswer) {
	ctx.Response.SetStatusCode(m.Status)
	for _, h := range m.Headers {
		ctx.Response.Header.SetBytesKV(h[0], h[1])
	}
	ctx.Response.SetBodyRaw(m.Body)
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
