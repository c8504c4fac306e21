package proxy

import (
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/sluicegw/sluice/policy"
	"github.com/sluicegw/sluice/policy/jwtauth"
	"github.com/sluicegw/sluice/proxy/accesslog"
	"github.com/sluicegw/sluice/store/nonce"
	"github.com/sluicegw/sluice/store/ratelimit"
	"github.com/valyala/fasthttp"
)

// Options configure a Server beyond what the config file says.
type Options struct {
	// Dial replaces the upstream dialer (tests dial in-memory pipes). Nil dials TCP.
	Dial DialFunc
	// Logger receives operational messages (reloads, listener errors). Nil discards.
	Logger *slog.Logger
	// Limits is the rate-limit and quota store (cmd/sluice builds it from
	// [state]). Nil: a local store sized by the first config's [state].
	Limits ratelimit.Store
	// Nonces is the HMAC replay store. Nil: a local store sized by [state].
	Nonces nonce.Store
	// Fleet sends the fleet-scoped limits to a store shared through Redis
	// and joins /readyz (BuildStores makes it from [state.redis]). Nil: all
	// limits go to Limits.
	Fleet *Fleet
	// Clock is the pipeline's time (request start, token buckets, signature
	// and token expiry). Nil: the process clock. Tests inject a fake one.
	Clock Clock
}

// Clock tells the pipeline the time, in Unix nanoseconds that never step
// backwards (ratelimit.Nanotime). Socket deadlines use the real clock
// whatever the Clock says: they are the kernel's.
type Clock interface {
	Nanotime() int64
}

type processClock struct{}

func (processClock) Nanotime() int64 { return ratelimit.Nanotime() }

// Server is the data plane: the client-facing fasthttp server, the current
// snapshot and the upstream pools that outlive snapshots. Safe for
// concurrent use.
type Server struct {
	opts     Options
	log      *slog.Logger
	current  atomic.Pointer[policy.Snapshot]
	version  atomic.Uint64
	ups      *upstreams
	inflight atomic.Int64
	clock    Clock
	// State that outlives snapshots: buckets, nonces, fetched JWT keys.
	limits    ratelimit.Store
	nonces    nonce.Store
	fleet     *Fleet
	accessLog *accesslog.Logger
	jwt       *jwtauth.Registry
	cache     cacheStores // the response cache (cache.go)

	stateReady bool // guarded by reloadMu
	tunnels    tunnels

	mu        sync.Mutex // guards publishing and the fields below
	http      *fasthttp.Server
	listeners []net.Listener
	serving   atomic.Int32 // listeners currently accepting
	reloadMu  sync.Mutex
	edge      edgeState // TLS at the edge: proxy/tls.go
}

// New returns a Server with no snapshot; Publish one before serving.
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	clock := opts.Clock
	if clock == nil {
		clock = processClock{}
	}
	return &Server{opts: opts, log: log, clock: clock, ups: newUpstreams(opts.Dial, clock.Nanotime), jwt: jwtauth.NewRegistry(),
		limits: opts.Limits, nonces: opts.Nonces, fleet: opts.Fleet}
}

// state creates the stores and the access logger on first compile, sized
// by that config (changes need a restart).
func (s *Server) state(cfg *policy.Config) error {
	if s.stateReady {
		return nil
	}
	if cfg.AccessLog != nil {
		l, err := accesslog.New(*cfg.AccessLog)
		if err != nil {
			return err
		}
		s.accessLog = l
	}
	if s.limits == nil || s.nonces == nil {
		lim, nonces, err := LocalStores(cfg.State)
		if err != nil {
			return err
		}
		if s.limits == nil {
			s.limits = lim
		}
		if s.nonces == nil {
			s.nonces = nonces
		}
	}
	s.newCacheStores(cfg) // cache.go
	s.stateReady = true
	return nil
}

// LocalStores builds the in-process rate-limit and nonce stores [state] sizes.
func LocalStores(cfg policy.StateConfig) (ratelimit.Store, nonce.Store, error) {
	lim, err := ratelimit.NewLocal(ratelimit.Options{MaxKeys: cfg.RateLimitMaxKeys})
	if err != nil {
		return nil, nil, err
	}
	return lim, nonce.NewLocal(nonce.Config{MaxEntries: cfg.NonceMaxEntries}), nil
}

// Compile compiles parsed config into a snapshot bound to this server's
// upstream pools, without publishing it.
func (s *Server) Compile(p *policy.Parsed) (*policy.Snapshot, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if err := s.state(p.Config); err != nil {
		return nil, err
	}
	s.ensureCache(p.Config)
	s.ups.begin(int(p.Config.Server.StreamThreshold))
	snap, err := policy.Compile(p, policy.Options{Bind: s.ups.bind, Nonces: s.nonces, JWT: s.jwt, Certs: s.certStore()})
	if err != nil {
		return nil, err
	}
	return snap, nil
}

// Publish makes snap the snapshot new requests see. Requests already running
// finish on the snapshot they loaded.
func (s *Server) Publish(snap *policy.Snapshot) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	snap.Version = s.version.Add(1)
	snap.Start() // fetchers start only for a snapshot in service, never at Compile
	old := s.current.Swap(snap)
	s.edgePublish(snap)
	s.ups.end()
	if old != nil {
		old.Close() // the new snapshot already holds its own key-set references
	}
}

// Load compiles and publishes in one step.
func (s *Server) Load(p *policy.Parsed) (*policy.Snapshot, error) {
	snap, err := s.Compile(p)
	if err != nil {
		return nil, err
	}
	s.Publish(snap)
	return snap, nil
}

// Snapshot is the snapshot new requests see (nil before the first Publish).
func (s *Server) Snapshot() *policy.Snapshot { return s.current.Load() }

// Handler is the pipeline as a fasthttp handler (benchmarks drive it directly).
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

// httpServer builds the fasthttp server from the first snapshot's [server]
// settings; changing them later needs a restart.
func (s *Server) httpServer() *fasthttp.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.http != nil {
		return s.http
	}
	snap := s.current.Load()
	if snap == nil {
		panic("BUG: serving before a snapshot was published")
	}
	cfg := snap.Server
	s.http = &fasthttp.Server{
		Handler:                       s.handle,
		ErrorHandler:                  s.parseError,
		ExpectHandler:                 s.expectContinue,
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		ReadTimeout:                   cfg.ReadTimeout,
		WriteTimeout:                  cfg.WriteTimeout,
		IdleTimeout:                   cfg.IdleTimeout,
		ReadBufferSize:                cfg.MaxHeaderSize,
		WriteBufferSize:               16 << 10,
		MaxRequestBodySize:            cfg.StreamThreshold,
		StreamRequestBody:             true,
		DisablePreParseMultipartForm:  true,
		CloseOnShutdown:               true,
		KeepHijackedConns:             true, // tunnels own their connections (tunnel.go)
		TCPKeepalive:                  true,
		Concurrency:                   1 << 20,
		Logger:                        quietLogger{s.log},
		SecureErrorLogMessage:         true,
		DisableHeaderNamesNormalizing: false,
	}
	return s.http
}

// parseError answers requests fasthttp could not parse with the JSON error
// shape and X-Request-Id (the client's when its header got that far and the
// id is valid); fasthttp closes the connection afterwards.
func (s *Server) parseError(ctx *fasthttp.RequestCtx, err error) {
	rejectedParse.Inc()
	var id [maxRequestIDLen]byte
	rid := appendRequestIDFor(id[:0], &ctx.Request.Header)
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		writeError(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, CodeHeaderTooLarge, "request header fields too large", rid)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, CodePayloadTooLarge, "request body is larger than the limit", rid)
	case errors.As(err, &ne) && ne.Timeout():
		writeError(ctx, fasthttp.StatusRequestTimeout, CodeRequestTimeout, "request not received in time", rid)
	default:
		writeError(ctx, fasthttp.StatusBadRequest, CodeMalformedRequest, "malformed HTTP request", rid)
	}
}

// expectContinue decides, from the header alone, whether a request with
// "Expect: 100-continue" may send its body. A request the pipeline would
// refuse before reading the body (bad version, Host or framing, a loop, a
// Content-Length over server.max_body_size) gets its final answer now,
// instead of "100 Continue" and then a wait for a body the gateway does
// not want (issue 10, defect 11). Refused requests skip the pipeline
// (fasthttp does not call the handler after a refusal), so they are
// counted here; fasthttp closes the connection, as the client may already
// be sending the body. Returning 100 lets fasthttp send "100 Continue".
func (s *Server) expectContinue(ctx *fasthttp.RequestCtx) int {
	status, code, msg := checkRequest(ctx)
	if status == 0 {
		if reason := checkFraming(ctx.Request.Header.RawHeaders()); reason != "" {
			rejectedFraming.Inc()
			status, code, msg = fasthttp.StatusBadRequest, CodeMalformedRequest, "ambiguous request framing"
		} else if cl := ctx.Request.Header.ContentLength(); cl > 0 && int64(cl) > s.current.Load().Server.MaxBodySize {
			rejectedBodySize.Inc()
			status, code, msg = fasthttp.StatusRequestEntityTooLarge, CodePayloadTooLarge, "request body is larger than the limit"
		}
	}
	if status == 0 {
		return fasthttp.StatusContinue
	}
	var id [maxRequestIDLen]byte
	writeError(ctx, status, code, msg, appendRequestIDFor(id[:0], &ctx.Request.Header))
	return status
}

// Serve accepts client connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	srv := s.httpServer()
	s.mu.Lock()
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	s.serving.Add(1)
	defer s.serving.Add(-1)
	return srv.Serve(countingListener{ln})
}

// Listen opens the snapshot's listen addresses.
func (s *Server) Listen() ([]net.Listener, error) {
	snap := s.current.Load()
	var lns []net.Listener
	var plain, secure string
	for _, spec := range snap.TLS.Listeners {
		ln, err := net.Listen("tcp", spec.Addr)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return nil, err
		}
		if spec.TLS {
			secure = cmp.Or(secure, ln.Addr().String())
			ln = s.ListenTLS(ln) // proxy/tls.go
		} else {
			plain = cmp.Or(plain, ln.Addr().String())
		}
		lns = append(lns, ln)
	}
	s.edge.acme.listenersBound(plain, secure)
	return lns, nil
}

// Ready reports whether a snapshot is loaded and at least one listener
// accepts, and, with [state.redis] readyz_in_fallback = false, whether Redis
// is in use.
func (s *Server) Ready() bool {
	return s.current.Load() != nil && s.serving.Load() > 0 && s.fleet.ready()
}

// Shutdown stops accepting, waits for in-flight requests until ctx ends,
// then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv := s.http
	s.mu.Unlock()
	var err error
	if srv != nil {
		err = srv.ShutdownWithContext(ctx)
	}
	// Tunnels run until the shutdown timeout, then get a 1001 close frame.
	s.tunnels.shutdown(ctx.Done())
	s.edgeStop()
	// After the listeners drained: every record of a finished request is in
	// the ring; ship them and the sinks' queues.
	if s.accessLog != nil {
		if lerr := s.accessLog.Shutdown(ctx); err == nil {
			err = lerr
		}
	}
	s.stopCache()
	if c, ok := s.limits.(io.Closer); ok {
		_ = c.Close()
	}
	s.ups.stopChecks() // health checkers (health.go)
	return err
}

// ReopenLogs reopens access-log files (SIGUSR1, after logrotate moved them).
func (s *Server) ReopenLogs() { s.accessLog.Reopen() }

// InFlight is the number of requests being handled now.
func (s *Server) InFlight() int64 { return s.inflight.Load() }

// quietLogger routes fasthttp's own log lines to slog at debug level: they
// are per-connection noise (client resets) an operator rarely needs.
type quietLogger struct{ l *slog.Logger }

func (q quietLogger) Printf(format string, args ...any) {
	if q.l.Enabled(context.Background(), slog.LevelDebug) {
		q.l.Debug("fasthttp", "msg", sprintf(format, args...))
	}
}

// countingListener keeps sluice_open_connections: fasthttp's ConnState hook
// reports closes of connections handed to ServeConn that it never reported
// opening, so counting happens where connections are accepted instead.
type countingListener struct{ net.Listener }

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	openConns.Add(1)
	return &countedConn{Conn: wrapRawConn(c)}, nil
}

type countedConn struct {
	net.Conn
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		openConns.Add(-1)
	}
	return c.Conn.Close()
}
