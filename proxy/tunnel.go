package proxy

import (
	"bufio"
	"errors"
	"github.com/sluicegw/sluice/policy/httpbytes"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluicegw/sluice/policy"
	"github.com/sluicegw/sluice/proxy/accesslog"
	"github.com/valyala/fasthttp"
)

// Codes of the WebSocket handshake.
const (
	CodeTooManyTunnels = "TooManyTunnels"
	CodeUpgradeFailed  = "UpgradeFailed"
)

// Tunnel metrics over every API; per-API opened and open counts live in
// policy.WebSocket.
var (
	tunnelsOpenAll        atomic.Int64
	_                     = metrics.NewGauge(`sluice_tunnels_open_all`, func() float64 { return float64(tunnelsOpenAll.Load()) })
	tunnelsClosedPeer     = metrics.NewCounter(`sluice_tunnels_closed_total{reason="peer"}`)
	tunnelsClosedIdle     = metrics.NewCounter(`sluice_tunnels_closed_total{reason="idle"}`)
	tunnelsClosedLifetime = metrics.NewCounter(`sluice_tunnels_closed_total{reason="lifetime"}`)
	tunnelsClosedShutdown = metrics.NewCounter(`sluice_tunnels_closed_total{reason="shutdown"}`)
	tunnelsRefused        = metrics.NewCounter(`sluice_tunnels_refused_total`)
	tunnelBytesUp         = metrics.NewCounter(`sluice_tunnel_bytes_total{direction="upstream"}`)
	tunnelBytesDown       = metrics.NewCounter(`sluice_tunnel_bytes_total{direction="downstream"}`)
)

// Why a tunnel ended; the first reason set wins.
const (
	endPeer int32 = iota + 1
	endIdle
	endLifetime
	endShutdown
)

// tunnelBufSize is each direction's copy buffer. Small on purpose: an idle
// tunnel holds both while it waits, and the goal is well under 16 KiB of
// gateway memory per open tunnel; a busy one just reads more often.
const tunnelBufSize = 2 << 10

// isWebSocketUpgrade reports a WebSocket handshake (RFC 6455 §4.1): a GET
// with "Upgrade: websocket" and "upgrade" among the Connection tokens. It
// runs before the hop-by-hop headers are stripped.
func isWebSocketUpgrade(h *fasthttp.RequestHeader) bool {
	if !h.IsGet() || !hasToken(h.Peek("Upgrade"), "websocket") {
		return false
	}
	return hasToken(h.Peek("Connection"), "upgrade")
}

// hasToken reports whether a comma-separated header value holds token
// (case-insensitive).
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		i := httpbytes.IndexByte(v, ',')
		tok := v
		if i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if httpbytes.EqualFoldASCII(httpbytes.TrimOWS(tok), token) {
			return true
		}
	}
	return false
}

// tunnels counts and tracks open tunnels across snapshots, so caps hold
// over reloads and shutdown can reach every tunnel. Safe for concurrent use;
// the lock is taken only when a tunnel opens or closes.
type tunnels struct {
	mu     sync.Mutex
	open   map[*tunnel]struct{}
	perAPI map[uint64]int64 // key: API id and stage
	done   chan struct{}    // closed and replaced when the set becomes empty
}

func apiTunnelKey(api *policy.API) uint64 { return api.ID ^ uint64(api.Stage)<<56 }

// add registers t unless a cap is reached.
func (ts *tunnels) add(t *tunnel, api *policy.API, global int64) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.open == nil {
		ts.open, ts.perAPI = map[*tunnel]struct{}{}, map[uint64]int64{}
	}
	k := apiTunnelKey(api)
	if global > 0 && int64(len(ts.open)) >= global || api.WebSocket.MaxTunnels > 0 && ts.perAPI[k] >= api.WebSocket.MaxTunnels {
		return false
	}
	ts.open[t] = struct{}{}
	ts.perAPI[k]++
	return true
}

func (ts *tunnels) remove(t *tunnel) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	delete(ts.open, t)
	k := apiTunnelKey(t.api)
	if ts.perAPI[k]--; ts.perAPI[k] <= 0 {
		delete(ts.perAPI, k)
	}
	if len(ts.open) == 0 && ts.done != nil {
		close(ts.done)
		ts.done = nil
	}
}

// shutdown lets open tunnels run until ctx ends, then closes each with a
// 1001 close frame to the client. It returns when every tunnel ended.
func (ts *tunnels) shutdown(deadline <-chan struct{}) {
	ts.mu.Lock()
	if len(ts.open) == 0 {
		ts.mu.Unlock()
		return
	}
	if ts.done == nil {
		ts.done = make(chan struct{})
	}
	done := ts.done
	ts.mu.Unlock()
	select {
	case <-done:
		return
	case <-deadline:
	}
	ts.mu.Lock()
	for t := range ts.open {
		t.stop(endShutdown)
	}
	ts.mu.Unlock()
	select {
	case <-done:
	case <-time.After(2 * time.Second): // a copier stuck in a write: the close below ends it
	}
}

// tunnel is one open WebSocket connection pair. It keeps copies of what its
// access-log record needs: the request's memory is the server's again once
// the hijack handler returns.
type tunnel struct {
	s        *Server
	api      *policy.API
	mu       sync.Mutex // guards client: set by the hijack handler, read by stop
	client   net.Conn
	up       net.Conn
	early    []byte // bytes the upstream sent right behind its 101
	idle     time.Duration
	opened   int64 // server clock
	last     atomic.Int64
	in, out  atomic.Int64 // client→upstream, upstream→client bytes
	reason   atomic.Int32
	lifetime *time.Timer

	// for the access-log record
	requestID, traceID, consumer, host, path, query, ua, upstream []byte
	clientIP                                                      []byte
	stage                                                         string
	authOK                                                        bool
}

// tunnel is the terminal of a WebSocket API's handshake: it dials a target
// through the backend's balancing, forwards the handshake, and on 101 hands
// the client connection to a tunnel; any other answer is relayed as usual.
func (s *Server) tunnel(ctx *fasthttp.RequestCtx, st *reqState) outcome {
	api := st.api
	c, ok := api.Backend.Upstream.(*chain)
	if !ok {
		s.finish(ctx, st, fasthttp.StatusBadGateway, CodeUpgradeFailed, "this API's backend cannot carry a WebSocket")
		return answered
	}
	req := &ctx.Request
	s.prepareUpstreamRequest(ctx, st)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	deadline := time.Now().Add(api.Timeout)
	x := &st.x
	x.Req, x.Resp, x.Client, x.Path, x.Params = req, &ctx.Response, st.client, st.path, &st.params
	up, ti, err := c.dialAny(x, deadline)
	st.x.Target, st.x.Attempts = ti, 1
	if err != nil {
		status, code, msg := upstreamError(err)
		s.finish(ctx, st, status, code, msg)
		return answered
	}
	if !c.clientHost {
		req.Header.SetHostBytes(c.hosts[ti])
	}
	_ = up.SetDeadline(deadline)
	// Pooled handshake buffers: an open tunnel keeps none of them.
	hs := handshakeBufs.Get().(*handshakeBuf)
	defer handshakeBufs.Put(hs)
	hs.bw.Reset(up)
	hs.br.Reset(up)
	defer hs.bw.Reset(nil)
	defer hs.br.Reset(nil)
	bw, br := hs.bw, hs.br
	if err = req.Write(bw); err == nil {
		err = bw.Flush()
	}
	rh := &hs.rh
	rh.Reset()
	if err == nil {
		err = rh.Read(br)
	}
	if err != nil {
		_ = up.Close()
		status, code, msg := upstreamError(err)
		s.finish(ctx, st, status, code, msg)
		return answered
	}
	resp := &ctx.Response
	if rh.StatusCode() != fasthttp.StatusSwitchingProtocols {
		// The origin refused the upgrade: its answer is relayed like any.
		rh.CopyTo(&resp.Header)
		err = resp.ReadBody(br, int(st.snap.Server.StreamThreshold))
		_ = up.Close()
		if err != nil {
			s.finish(ctx, st, fasthttp.StatusBadGateway, CodeBadGateway, "the upstream's answer to the upgrade could not be read")
			return answered
		}
		stripResponseHopByHop(&resp.Header)
		st.forwarded = true
		return answered
	}
	if !hasToken(rh.Peek("Upgrade"), "websocket") {
		_ = up.Close()
		s.finish(ctx, st, fasthttp.StatusBadGateway, CodeUpgradeFailed, "the upstream switched to a protocol other than websocket")
		return answered
	}
	t := &tunnel{s: s, api: api, up: up, idle: api.WebSocket.IdleTimeout, opened: s.clock.Nanotime()}
	if !s.tunnels.add(t, api, st.snap.Server.MaxTunnels) {
		_ = up.Close()
		tunnelsRefused.Inc()
		s.finish(ctx, st, fasthttp.StatusServiceUnavailable, CodeTooManyTunnels, "too many open WebSocket tunnels")
		return answered
	}
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		t.early = append([]byte(nil), b...)
	}
	t.record(ctx, st)
	resp.Reset()
	rh.CopyTo(&resp.Header)
	stripResponseHopByHop(&resp.Header)
	resp.Header.SetNoDefaultContentType(true)
	resp.SetStatusCode(fasthttp.StatusSwitchingProtocols)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(net.Conn) { t.start(ctx) })
	return hijacked
}

// handshakeBuf is what a WebSocket handshake needs only while it lasts.
type handshakeBuf struct {
	bw *bufio.Writer
	br *bufio.Reader
	rh fasthttp.ResponseHeader
}

var handshakeBufs = sync.Pool{New: func() any {
	return &handshakeBuf{bw: bufio.NewWriterSize(nil, 4<<10), br: bufio.NewReaderSize(nil, 4<<10)}
}}

// prepareUpstreamRequest sets the forwarding headers and the upstream URI.
// The client's hop-by-hop headers were removed in admit; these are set after
// every client header was settled.
func (s *Server) prepareUpstreamRequest(ctx *fasthttp.RequestCtx, st *reqState) {
	req := &ctx.Request
	api := st.api
	st.ubuf = setForwarded(&req.Header, st.seen, st.peer, st.host, st.ubuf[:0], forwardedProto(ctx))
	if st.seen.has(seenExpect) {
		req.Header.Del("Expect")
	}
	st.ubuf = appendVia(&req.Header, st.seen, st.ubuf[:0])
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
}

// dialAny opens a fresh connection to a target the balancer picks, with
// the chain's health, ejection and breaker rules, moving to the next target
// when one refuses. A tunnel's connection never comes from, or goes back
// to, the keep-alive pool.
func (c *chain) dialAny(x *policy.Exchange, deadline time.Time) (net.Conn, int, error) {
	n := len(c.pools)
	var tried uint64
	var err error
	t := 0
	for k := 0; k < n; k++ {
		var cerr error
		if t, cerr = c.choose(x, tried, c.now()); cerr != nil {
			return nil, t, cerr
		}
		tried |= bit(t)
		p := c.pools[t]
		var nc net.Conn
		if p.dial != nil {
			nc, err = p.dial(p.addr)
		} else {
			nc, err = net.DialTimeout("tcp", p.addr, min(p.connectTimeout, time.Until(deadline)))
		}
		if err == nil {
			return nc, t, nil
		}
		err = &errDial{err}
		if c.targets[t].observe(err, 0, &c.outlier) {
			c.maybeEject(t, c.now())
		}
	}
	return nil, t, err
}

// record copies what the tunnel's access-log record needs.
func (t *tunnel) record(ctx *fasthttp.RequestCtx, st *reqState) {
	cp := func(b []byte) []byte { return append([]byte(nil), b...) }
	t.requestID, t.traceID, t.consumer = cp(st.requestID()), cp(st.traceID[:]), cp(st.consumerName)
	t.host, t.path, t.query = cp(st.host), cp(st.path), cp(st.query)
	t.ua = cp(ctx.Request.Header.UserAgent())
	t.clientIP = st.client.AppendTo(nil)
	if tg := st.x.Target; tg >= 0 && tg < len(st.api.Backend.Targets) {
		t.upstream = []byte(st.api.Backend.Targets[tg].URL)
	}
	t.stage = st.stage.String()
	t.authOK = st.authOutcome == authKey || st.authOutcome == authHMAC || st.authOutcome == authJWT
}

// start runs in fasthttp's hijack handler: it writes the 101 (with the
// headers the response phase added), then leaves the connection to the
// tunnel's own goroutines and returns, so fasthttp can reuse the request's
// memory (KeepHijackedConns: fasthttp neither closes the connection nor
// keeps its read buffer for it). Bytes a client sends before it has seen the
// 101 are not expected (RFC 6455 §4.1: the client waits for the handshake's
// answer) and are not forwarded.
func (t *tunnel) start(ctx *fasthttp.RequestCtx) {
	tunnelsOpenAll.Add(1)
	t.api.WebSocket.Opened.Inc()
	t.api.WebSocket.Open.Inc()
	t.mu.Lock()
	t.client = ctx.Conn()
	stopped := t.reason.Load() != 0
	t.mu.Unlock()
	if stopped { // shutdown reached the tunnel before its 101 was written
		t.finish()
		return
	}
	b := append(make([]byte, 0, 512), "HTTP/1.1 101 Switching Protocols\r\n"...)
	for k, v := range ctx.Response.Header.All() {
		switch string(k) {
		case fasthttp.HeaderContentLength, fasthttp.HeaderContentType, fasthttp.HeaderConnection, "Upgrade":
			continue
		}
		b = append(append(append(append(b, k...), ": "...), v...), "\r\n"...)
	}
	b = append(b, "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"...)
	b = append(b, t.early...)
	t.early = nil
	t.last.Store(time.Now().UnixNano())
	if _, err := t.client.Write(b); err != nil {
		t.reason.CompareAndSwap(0, endPeer)
		t.finish()
		return
	}
	t.lifetime = time.AfterFunc(t.api.WebSocket.MaxLifetime, func() { t.stop(endLifetime) })
	go t.run()
}

// run copies both ways until either side ends, then closes both and logs.
func (t *tunnel) run() {
	done := make(chan struct{})
	go func() {
		t.copy(t.up, t.client, &t.in, tunnelBytesUp, nil)
		t.stop(endPeer)
		close(done)
	}()
	var ft frameTracker
	t.copy(t.client, t.up, &t.out, tunnelBytesDown, &ft)
	t.stop(endPeer)
	<-done
	t.finish()
}

// copy moves bytes from src to dst until either fails or the tunnel stops.
// The read deadline is the idle timeout; a deadline that passes while the
// other direction was active is simply renewed. The downstream copier alone
// writes to the client, so it is the one that sends the close frame on
// shutdown, and only between two frames.
func (t *tunnel) copy(dst, src net.Conn, count *atomic.Int64, bytes *metrics.Counter, ft *frameTracker) {
	buf := make([]byte, tunnelBufSize)
	for {
		if t.reason.Load() != 0 {
			break
		}
		_ = src.SetReadDeadline(time.Now().Add(t.idle))
		n, err := src.Read(buf)
		if n > 0 {
			t.last.Store(time.Now().UnixNano())
			if ft != nil {
				ft.feed(buf[:n])
			}
			// A peer that stops reading must not hold the tunnel forever:
			// a write may take at most the idle timeout.
			_ = dst.SetWriteDeadline(time.Now().Add(t.idle))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			count.Add(int64(n))
			bytes.Add(n)
		}
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && t.reason.Load() == 0 {
			if time.Since(time.Unix(0, t.last.Load())) < t.idle {
				continue // the other direction kept the tunnel busy
			}
			t.reason.CompareAndSwap(0, endIdle)
		}
		break
	}
	if ft != nil && ft.atBoundary() {
		switch t.reason.Load() {
		case endShutdown, endLifetime:
			_ = dst.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = dst.Write(closeGoingAway)
		}
	}
}

// stop ends the tunnel for reason (the first reason set wins) by waking both
// copiers; the downstream one sends the close frame where one is due.
func (t *tunnel) stop(reason int32) {
	t.reason.CompareAndSwap(0, reason)
	past := time.Unix(1, 0)
	_ = t.up.SetReadDeadline(past)
	t.mu.Lock()
	if t.client != nil {
		_ = t.client.SetReadDeadline(past)
	}
	t.mu.Unlock()
}

// finish closes both connections, counts the close and writes the tunnel's
// one access-log record.
func (t *tunnel) finish() {
	if t.lifetime != nil {
		t.lifetime.Stop()
	}
	_ = t.up.Close()
	_ = closeHijacked(t.client) // counts a plain connection's close (server.go)
	switch t.reason.Load() {
	case endIdle:
		tunnelsClosedIdle.Inc()
	case endLifetime:
		tunnelsClosedLifetime.Inc()
	case endShutdown:
		tunnelsClosedShutdown.Inc()
	default:
		tunnelsClosedPeer.Inc()
	}
	tunnelsOpenAll.Add(-1)
	t.api.WebSocket.Open.Dec()
	t.s.tunnels.remove(t)
	t.log()
}

// log writes the tunnel's record: status 101, its whole duration and the
// bytes each way.
func (t *tunnel) log() {
	l := t.s.accessLog
	if l == nil {
		return
	}
	r := l.Reserve(fasthttp.StatusSwitchingProtocols)
	if r == nil {
		return
	}
	r.Time = t.opened
	r.Total = time.Duration(t.s.clock.Nanotime() - t.opened)
	r.BytesIn, r.BytesOut = t.in.Load(), t.out.Load()
	r.Group, r.API, r.Stage = t.api.Group.Name, t.api.Name, t.stage
	if t.authOK {
		r.Auth = accesslog.AuthOK
	}
	r.SetString(accesslog.FieldUpstream, string(t.upstream))
	r.Set(accesslog.FieldRequestID, t.requestID)
	r.Set(accesslog.FieldTraceID, t.traceID)
	r.Set(accesslog.FieldConsumer, t.consumer)
	r.Set(accesslog.FieldClientIP, t.clientIP)
	r.SetString(accesslog.FieldMethod, fasthttp.MethodGet)
	r.Set(accesslog.FieldHost, t.host)
	r.Set(accesslog.FieldPath, t.path)
	if l.KeepsQuery() {
		r.Set(accesslog.FieldQuery, t.query)
	}
	r.Set(accesslog.FieldUserAgent, t.ua)
	l.Commit(r)
}
