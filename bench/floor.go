package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/sluicegw/sluice/policy"
	"github.com/sluicegw/sluice/policy/httpbytes"
	"github.com/valyala/fasthttp"
)

// The floor target (issue 16, build point 1): a minimal fasthttp reverse
// proxy with no policy, run beside the gateway in the scenarios a plain
// proxy can do, so every report separates what fasthttp itself costs per
// request from what Sluice adds on top.
//
// It is tuned the way the gateway is: the client side uses the fasthttp
// server options of proxy/server.go's httpServer with [server]'s defaults
// (the bench config sets none), the upstream side a keep-alive pool like
// proxy/pool.go's (16 KiB bufio buffers per connection, LIFO reuse, the
// bench's pool_size, the default upstream idle timeout, one socket deadline
// per exchange at the default API timeout). Keep these in step with those
// files: a floor tuned differently measures the tuning, not the policy.
//
// It does what any reverse proxy must and nothing else: strips the route
// prefix, removes hop-by-hop headers both ways (and those the Connection
// header names), appends the client to X-Forwarded-For, forwards the body
// as fasthttp framed it, and answers 502/503/504 when the origin fails. It
// has no routing table, no request id, no access log, no metrics, no
// retries and no probe of idle upstream connections: all of those show up
// as Sluice's overhead over the floor, which is the point.
const (
	floorPoolSize       = 1024 // GatewayParams.PoolSize as the runner renders it
	floorBufferSize     = 16 << 10
	floorMaxInterim     = 16 // 1xx answers skipped before the final one
	floorConnListLen    = 256
	floorForwardedLen   = 128
	floorShutdownBudget = 5 * time.Second
)

// floorPrefix is the bench API's route prefix, the one the peers' configs
// strip too (NewPeerParams).
const floorPrefix = "/anon"

// RunFloor serves the floor proxy on listen, forwarding to origin with
// prefix removed from every request path, until ctx ends. Both addresses
// must be loopback (listen may use port 0). prefix is "" or "/name": a
// request whose path does not start with it gets 404.
func RunFloor(ctx context.Context, listen, origin, prefix string) error {
	return runFloor(ctx, listen, origin, prefix, nil)
}

// runFloor is RunFloor; ready, when set, gets the bound address once the
// listener is open.
func runFloor(ctx context.Context, listen, origin, prefix string, ready func(addr string)) error {
	if err := checkLoopbackListen(listen); err != nil {
		return err
	}
	if err := CheckLoopbackAddr(origin); err != nil {
		return err
	}
	f, err := newFloorProxy(origin, prefix)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	return f.serve(ctx, ln)
}

// floorProxy is the floor's handler and upstream pool. Safe for concurrent use.
type floorProxy struct {
	origin string
	prefix []byte
	srv    *fasthttp.Server

	mu   sync.Mutex
	idle []*floorConn // LIFO: the warmest connection on top
	open int
}

// floorConn is one keep-alive connection to the origin with its buffers.
type floorConn struct {
	c        net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
}

func newFloorProxy(origin, prefix string) (*floorProxy, error) {
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix != "" && (prefix[0] != '/' || strings.ContainsAny(prefix, "?# \t\r\n")) {
		return nil, fmt.Errorf("bench: floor: -strip-prefix %q: want empty or /path", prefix)
	}
	f := &floorProxy{origin: origin, prefix: []byte(prefix)}
	// The options of proxy/server.go's httpServer, with [server]'s
	// defaults where it reads the config. The handlers it adds for parse
	// errors and Expect: 100-continue are policy (JSON errors, early
	// refusals); fasthttp's own behaviour is the floor's.
	f.srv = &fasthttp.Server{
		Handler:                       f.handle,
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		ReadTimeout:                   policy.DefaultReadTimeout,
		WriteTimeout:                  policy.DefaultWriteTimeout,
		IdleTimeout:                   policy.DefaultIdleTimeout,
		ReadBufferSize:                policy.DefaultMaxHeaderSize,
		WriteBufferSize:               floorBufferSize,
		MaxRequestBodySize:            policy.DefaultStreamThreshold,
		StreamRequestBody:             true,
		DisablePreParseMultipartForm:  true,
		CloseOnShutdown:               true,
		TCPKeepalive:                  true,
		Concurrency:                   1 << 20,
		Logger:                        floorQuietLogger{},
		SecureErrorLogMessage:         true,
		DisableHeaderNamesNormalizing: false,
	}
	return f, nil
}

// floorQuietLogger drops fasthttp's per-connection error lines: a bench
// run's closed connections are not news.
type floorQuietLogger struct{}

func (floorQuietLogger) Printf(string, ...any) {}

// serve runs the server on ln until ctx ends, then shuts it down and
// closes the idle upstream connections.
func (f *floorProxy) serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- f.srv.Serve(ln) }()
	select {
	case err := <-errc:
		f.closeIdle()
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), floorShutdownBudget)
	defer cancel()
	// Shutdown closes the listener; a request in flight gets its answer.
	err := f.srv.ShutdownWithContext(sctx)
	_ = ln.Close()
	f.closeIdle()
	if errors.Is(err, context.DeadlineExceeded) {
		return nil // the process is exiting anyway
	}
	return err
}

// Static answers of the floor itself; no JSON, no request id.
var (
	floorNotFound   = []byte("not found\n")
	floorBadBody    = []byte("request body not received\n")
	floorBadGateway = []byte("bad gateway\n")
	floorNoConns    = []byte("no free upstream connection\n")
	floorTimeout    = []byte("upstream timeout\n")
)

// handle proxies one request. It allocates nothing in steady state
// (TestFloorHandlerZeroAllocs).
func (f *floorProxy) handle(ctx *fasthttp.RequestCtx) {
	req := &ctx.Request
	if !f.stripPrefix(req) {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.Response.SetBodyRaw(floorNotFound)
		return
	}
	body, err := floorBufferBody(req)
	if err != nil {
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
		ctx.Response.SetBodyRaw(floorBadBody)
		ctx.SetConnectionClose() // the rest of the body may still be on the wire
		return
	}
	clientClose, hasXFF := floorStripRequest(&req.Header)
	floorForwardedFor(&req.Header, ctx.RemoteIP(), hasXFF)
	if len(req.Header.Host()) == 0 {
		// HTTP/1.0 without Host: fasthttp will not write a request without one.
		req.Header.SetHost(f.origin)
	}
	// The server read the clock for this request already; reuse it rather
	// than reading it again (under LazyRequestTime it is read here).
	now := ctx.Time()
	if now.IsZero() {
		now = time.Now()
	}
	resp := &ctx.Response
	if err := f.roundTrip(req, resp, now); err != nil {
		resp.Reset()
		switch {
		case errors.Is(err, fasthttp.ErrNoFreeConns):
			resp.SetStatusCode(fasthttp.StatusServiceUnavailable)
			resp.SetBodyRaw(floorNoConns)
		case isFloorTimeout(err):
			resp.SetStatusCode(fasthttp.StatusGatewayTimeout)
			resp.SetBodyRaw(floorTimeout)
		default:
			resp.SetStatusCode(fasthttp.StatusBadGateway)
			resp.SetBodyRaw(floorBadGateway)
		}
	} else {
		floorStripResponse(&resp.Header)
	}
	if clientClose {
		resp.SetConnectionClose()
	}
	if body != nil {
		req.ResetBody() // the request no longer points into the pooled buffer
		floorBodies.Put(body)
	}
}

// floorBodies are request-body buffers, reused across requests.
var floorBodies = sync.Pool{New: func() any { return new([]byte) }}

// floorBufferBody reads a streamed request body of at most the gateway's
// stream threshold into a pooled buffer before the upstream is contacted,
// as the gateway does (request buffering, proxy/body.go's bufferBody; nginx
// does the same): the body is then sent upstream in one piece, and a slow
// uploader holds no upstream connection. Chunked and larger bodies stream
// through as fasthttp writes them. It returns the buffer to put back after
// the exchange, or nil.
func floorBufferBody(req *fasthttp.Request) (*[]byte, error) {
	if !req.IsBodyStream() {
		return nil, nil
	}
	n := req.Header.ContentLength()
	if n < 0 || n > policy.DefaultStreamThreshold {
		return nil, nil
	}
	bp := floorBodies.Get().(*[]byte)
	if cap(*bp) < n {
		*bp = make([]byte, n)
	}
	b := (*bp)[:n]
	if _, err := io.ReadFull(req.BodyStream(), b); err != nil {
		floorBodies.Put(bp)
		return nil, err
	}
	// Raw: the body is written from this buffer, not copied into fasthttp's.
	req.SetBodyRaw(b)
	return bp, nil
}

func isFloorTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, fasthttp.ErrTimeout) || (errors.As(err, &ne) && ne.Timeout())
}

// stripPrefix removes the route prefix from the request URI in place and
// reports whether the path had it. Only the raw request URI is touched:
// parsing it into a fasthttp.URI would make Request.Write rebuild the URI
// from the parsed copy.
func (f *floorProxy) stripPrefix(req *fasthttp.Request) bool {
	if len(f.prefix) == 0 {
		return true
	}
	uri := req.Header.RequestURI()
	if len(uri) < len(f.prefix) || string(uri[:len(f.prefix)]) != string(f.prefix) {
		return false
	}
	rest := uri[len(f.prefix):]
	switch {
	case len(rest) > 0 && rest[0] == '/':
		// Overlapping copy into the same buffer: append moves memory.
		req.SetRequestURIBytes(rest)
	case len(rest) == 0 || rest[0] == '?':
		var buf [256]byte // the heap only for a query longer than this
		req.SetRequestURIBytes(append(append(buf[:0], '/'), rest...))
	default:
		return false // "/anonymous" is not under "/anon"
	}
	return true
}

// floorHop are the headers that describe one connection rather than the
// message (RFC 9110 §7.6.1). Transfer-Encoding is not among them: fasthttp
// frames each message it writes and rewrites that header itself.
var floorHop = [...]string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Upgrade",
}

// floorXFFBit marks X-Forwarded-For in floorHeaderBits' result.
const floorXFFBit = 1 << len(floorHop)

// floorHeaderBit returns floorHop entry i's bit for a header named k,
// floorXFFBit for X-Forwarded-For, or 0. Callers OR the bits of one pass
// over the headers: a Del per name would scan and normalize for headers
// most requests lack. (The pass ranges over the header's All directly, not
// through a func value, which would move its loop state to the heap.)
func floorHeaderBit(k []byte) uint32 {
	for i := range floorHop {
		if len(k) == len(floorHop[i]) && httpbytes.EqualFoldString(k, floorHop[i]) {
			return 1 << i
		}
	}
	if len(k) == len("X-Forwarded-For") && httpbytes.EqualFoldString(k, "X-Forwarded-For") {
		return floorXFFBit
	}
	return 0
}

// floorStripRequest removes the hop-by-hop headers of a request about to
// be forwarded. clientClose reports that the client wants its connection
// closed after the answer; hasXFF that X-Forwarded-For is present.
func floorStripRequest(h *fasthttp.RequestHeader) (clientClose, hasXFF bool) {
	clientClose = h.ConnectionClose()
	var bits uint32
	for k := range h.All() {
		bits |= floorHeaderBit(k)
	}
	if bits&1 != 0 { // Connection: first the headers it names
		var buf [floorConnListLen]byte
		for rest := floorJoin(buf[:0], h.PeekAll(fasthttp.HeaderConnection)); len(rest) > 0; {
			var tok []byte
			tok, rest = floorNextToken(rest)
			if httpbytes.EqualFoldASCII(tok, "close") {
				clientClose = true
			} else if floorMayDelete(tok) {
				h.DelBytes(tok)
			}
		}
	}
	for i := range floorHop {
		if bits&(1<<i) != 0 {
			h.Del(floorHop[i])
		}
	}
	// The upstream connection is pooled whatever the client does with its own.
	h.ResetConnectionClose()
	return clientClose, bits&floorXFFBit != 0
}

// floorStripResponse does the same for the origin's answer.
func floorStripResponse(h *fasthttp.ResponseHeader) {
	var bits uint32
	for k := range h.All() {
		bits |= floorHeaderBit(k)
	}
	if bits&1 != 0 {
		var buf [floorConnListLen]byte
		for rest := floorJoin(buf[:0], h.PeekAll(fasthttp.HeaderConnection)); len(rest) > 0; {
			var tok []byte
			tok, rest = floorNextToken(rest)
			if floorMayDelete(tok) && !httpbytes.EqualFoldASCII(tok, "close") {
				h.DelBytes(tok)
			}
		}
	}
	for i := range floorHop {
		if bits&(1<<i) != 0 {
			h.Del(floorHop[i])
		}
	}
	// The origin closing its connection says nothing about the client's.
	h.ResetConnectionClose()
}

// floorMayDelete reports whether a name listed in Connection may be removed:
// framing and Host are not a sender's to drop (deleting Content-Length after
// the body was framed by it would desynchronise the upstream connection).
func floorMayDelete(tok []byte) bool {
	return len(tok) > 0 && !httpbytes.EqualFoldASCII(tok, "keep-alive") &&
		!httpbytes.EqualFoldASCII(tok, "content-length") && !httpbytes.EqualFoldASCII(tok, "transfer-encoding") &&
		!httpbytes.EqualFoldASCII(tok, "host")
}

// floorJoin copies field values into dst as one comma-separated list. The
// copy is needed: deleting headers moves the storage the values live in.
func floorJoin(dst []byte, fields [][]byte) []byte {
	for _, v := range fields {
		if len(dst) > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, v...)
	}
	return dst
}

// floorNextToken splits the first element off a comma-separated list.
func floorNextToken(list []byte) (tok, rest []byte) {
	if i := httpbytes.IndexByte(list, ','); i >= 0 {
		return httpbytes.TrimOWS(list[:i]), list[i+1:]
	}
	return httpbytes.TrimOWS(list), nil
}

// floorForwardedFor appends the client's address to X-Forwarded-For, as
// nginx's $proxy_add_x_forwarded_for does: every earlier hop kept, in order.
func floorForwardedFor(h *fasthttp.RequestHeader, ip net.IP, present bool) {
	var buf [floorForwardedLen]byte
	b := buf[:0]
	if present {
		b = floorJoin(b, h.PeekAll("X-Forwarded-For"))
		b = append(b, ", "...)
		h.Del("X-Forwarded-For") // several fields become one
	}
	if a, ok := netip.AddrFromSlice(ip); ok {
		b = a.Unmap().AppendTo(b)
	}
	h.SetBytesV("X-Forwarded-For", b)
}

// roundTrip sends req to the origin over a pooled connection and reads the
// answer into resp. Nothing is retried.
func (f *floorProxy) roundTrip(req *fasthttp.Request, resp *fasthttp.Response, now time.Time) error {
	c, err := f.acquire(now)
	if err != nil {
		return err
	}
	if err := f.exchange(c, req, resp, now.Add(policy.DefaultAPITimeout)); err != nil {
		f.discard(c)
		return err
	}
	// Bytes after a complete answer belong to no request: such a
	// connection cannot be reused.
	if resp.Header.ConnectionClose() || c.br.Buffered() > 0 {
		f.discard(c)
		return nil
	}
	c.lastUsed = now
	f.mu.Lock()
	f.idle = append(f.idle, c)
	f.mu.Unlock()
	return nil
}

// exchange writes req on c and reads the final answer. One deadline per
// exchange bounds the whole of it, as the gateway's pool does.
func (f *floorProxy) exchange(c *floorConn, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	if err := c.c.SetDeadline(deadline); err != nil {
		return err
	}
	if err := req.Write(c.bw); err != nil {
		return err
	}
	if err := c.bw.Flush(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		if err := resp.Header.Read(c.br); err != nil {
			return err
		}
		st := resp.Header.StatusCode()
		if st >= 200 {
			break
		}
		if st == fasthttp.StatusSwitchingProtocols || n == floorMaxInterim {
			return fmt.Errorf("bench: floor: origin answered %d; not a plain proxy's job", st)
		}
	}
	if st := resp.Header.StatusCode(); req.Header.IsHead() || st == fasthttp.StatusNoContent || st == fasthttp.StatusNotModified {
		resp.SkipBody = true
		return nil
	}
	return resp.ReadBody(c.br, 0)
}

// acquire takes the warmest idle connection that has not been idle too
// long, or dials one while under the pool's size.
func (f *floorProxy) acquire(now time.Time) (*floorConn, error) {
	var stale []*floorConn
	f.mu.Lock()
	for n := len(f.idle); n > 0; n = len(f.idle) {
		c := f.idle[n-1]
		f.idle[n-1] = nil
		f.idle = f.idle[:n-1]
		if now.Sub(c.lastUsed) < policy.DefaultUpstreamIdle {
			f.mu.Unlock()
			return c, nil
		}
		f.open--
		stale = append(stale, c) // closed outside the lock
	}
	full := f.open >= floorPoolSize
	if !full {
		f.open++
	}
	f.mu.Unlock()
	for _, c := range stale {
		_ = c.c.Close()
	}
	if full {
		return nil, fasthttp.ErrNoFreeConns
	}
	nc, err := net.DialTimeout("tcp", f.origin, policy.DefaultConnectTimeout)
	if err != nil {
		f.mu.Lock()
		f.open--
		f.mu.Unlock()
		return nil, err
	}
	return &floorConn{c: nc, br: bufio.NewReaderSize(nc, floorBufferSize), bw: bufio.NewWriterSize(nc, floorBufferSize)}, nil
}

// discard closes a connection that must not be reused.
func (f *floorProxy) discard(c *floorConn) {
	_ = c.c.Close()
	f.mu.Lock()
	f.open--
	f.mu.Unlock()
}

// closeIdle closes every idle upstream connection.
func (f *floorProxy) closeIdle() {
	f.mu.Lock()
	idle := f.idle
	f.idle = nil
	f.open -= len(idle)
	f.mu.Unlock()
	for _, c := range idle {
		_ = c.c.Close()
	}
}

// cmdFloor implements "floor": serve the floor proxy until SIGINT/SIGTERM.
func cmdFloor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("floor", stderr)
	listen := fs.String("listen", "127.0.0.1:8082", "loopback address to listen on (port 0: any)")
	origin := fs.String("origin", "127.0.0.1:8081", "loopback origin to proxy to")
	prefix := fs.String("strip-prefix", "", `route prefix removed from every path before proxying ("/anon": /anon/x goes to /x; others get 404)`)
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file until exit (as `sluice run -cpuprofile`, to set the two side by side)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected arguments %q", fs.Args())
	}
	if err := checkLoopbackListen(*listen); err != nil {
		return usageErr("%v", err)
	}
	if err := CheckLoopbackAddr(*origin); err != nil {
		return usageErr("%v", err)
	}
	if _, err := newFloorProxy(*origin, *prefix); err != nil {
		return usageErr("%v", err)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	return runFloor(ctx, *listen, *origin, *prefix, func(addr string) {
		fmt.Fprintf(stdout, "floor listening on %s, proxying to %s\n", addr, *origin)
	})
}

// floorApplies reports whether the floor belongs in sc: beside the
// gateway (it is the gateway's reference; alone it says nothing) wherever
// the peers run (a plain-proxy job with a fair comparison), never in a
// baseline comparison (two gateway configs against each other).
func (r *runner) floorApplies(sc *Scenario) bool {
	return !r.opts.NoFloor && sc.Peers && sc.Baseline == "" && r.gatewayReason(sc) == ""
}

// floorReason says why the floor cannot run sc, or "" if it can. Policy
// that only costs CPU (key checks, limits that never deny, the access log)
// is fine: the floor just proxies, and the gap is the policy's cost (that is
// the point of full-chain's floor). Policy that changes the answer is not.
func (r *runner) floorReason(sc *Scenario) string {
	for _, f := range sc.Features {
		if f == FeatureCache {
			return "the gateway answers from its response cache here; a proxy to the origin is no floor for that"
		}
		if st := GatewayFeatures[f].ExpectStatus; st != 0 && st != fasthttp.StatusOK {
			return fmt.Sprintf("the gateway answers %d here (feature %s); the floor answers what the origin does", st, f)
		}
	}
	if _, err := r.floorBin(); err != nil {
		return err.Error()
	}
	return ""
}

// floorBin is the binary run as "BIN floor ...".
func (r *runner) floorBin() (string, error) {
	bin := r.opts.FloorBin
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("floor: cannot find this program to run its floor command: %w", err)
		}
		bin = exe
	}
	if st, err := os.Stat(bin); err != nil || !st.Mode().IsRegular() {
		return "", fmt.Errorf("floor binary %s not found", bin)
	}
	return filepath.Abs(bin)
}

// startFloor starts the floor as its own process, pinned and limited to one
// P like the gateway, proxying to the origin with the bench API's prefix
// stripped.
func (r *runner) startFloor(ctx context.Context, dir string) (liveTarget, error) {
	bin, err := r.floorBin()
	if err != nil {
		return liveTarget{}, err
	}
	fdir := filepath.Join(dir, TargetFloor)
	if err := os.MkdirAll(fdir, 0o755); err != nil {
		return liveTarget{}, err
	}
	listen, err := FreeAddr()
	if err != nil {
		return liveTarget{}, err
	}
	proc, err := StartProc(ctx, ProcSpec{
		Name:  TargetFloor,
		Argv:  []string{bin, "floor", "-listen", listen, "-origin", r.origin.Addr(), "-strip-prefix", floorPrefix},
		Env:   []string{"GOMAXPROCS=1"},
		Dir:   fdir,
		Ready: HTTPReady(listen, floorPrefix+"/ready?size=2"),
	}, r.plan)
	if err != nil {
		return liveTarget{}, err
	}
	return liveTarget{name: TargetFloor, addr: listen, proc: proc}, nil
}

// withoutTarget returns ts without name.
func withoutTarget(ts []string, name string) []string {
	var out []string
	for _, t := range ts {
		if t != name {
			out = append(out, t)
		}
	}
	return out
}

// addFloorRatios sets VsFloor on every target that ran beside the floor:
// the median of its per-repetition ratios to the floor's figures of the
// same repetition (the same window when time-sliced).
func addFloorRatios(targets []TargetResult) {
	var floor *TargetResult
	for i := range targets {
		if targets[i].Target == TargetFloor && targets[i].Skipped == "" && !allFailed(targets[i].Runs) {
			floor = &targets[i]
		}
	}
	if floor == nil {
		return
	}
	for i := range targets {
		t := &targets[i]
		if t == floor || t.Target == TargetDirect || t.Skipped != "" || len(t.Runs) == 0 {
			continue
		}
		t.VsFloor = pairRatios(t.Runs, floor.Runs, TargetFloor)
	}
}

// cpuOverFloor extracts target's CPU per request over the floor's in
// scenario, for a goal.
func cpuOverFloor(scenario, target string) func(*Results) (float64, string, string) {
	return func(res *Results) (float64, string, string) {
		var sr *ScenarioResult
		for i := range res.Scenarios {
			if res.Scenarios[i].Scenario.Name == scenario {
				sr = &res.Scenarios[i]
			}
		}
		if sr == nil {
			return 0, "", "scenario " + scenario + " not in this run"
		}
		var t, f *TargetResult
		for i := range sr.Targets {
			switch sr.Targets[i].Target {
			case target:
				t = &sr.Targets[i]
			case TargetFloor:
				f = &sr.Targets[i]
			}
		}
		for _, x := range []struct {
			name string
			tr   *TargetResult
		}{{target, t}, {TargetFloor, f}} {
			switch {
			case x.tr == nil:
				return 0, "", x.name + " did not run"
			case x.tr.Skipped != "":
				return 0, "", x.name + " skipped: " + oneLine(x.tr.Skipped)
			case allFailed(x.tr.Runs):
				return 0, "", x.name + " failed every repetition"
			}
		}
		switch {
		case t.VsFloor == nil:
			return 0, "", "no repetition of " + target + " paired with one of the floor"
		case t.VsFloor.CPUPerRequestUS <= 0:
			return 0, "", "no CPU figures"
		}
		return t.VsFloor.CPUPerRequestUS, fmt.Sprintf("%s %s vs floor %s µs/req (%s)", target,
			fmtCPU(t.Median.CPUPerRequestUS), fmtCPU(f.Median.CPUPerRequestUS), fmtOverhead(t.VsFloor.CPUPerRequestUS)), ""
	}
}

// fmtOverhead renders a ratio as the overhead it means: 1.052 is "+5.2 %".
func fmtOverhead(ratio float64) string {
	if ratio <= 0 {
		return "—"
	}
	return fmt.Sprintf("%+.1f %%", (ratio-1)*100)
}

// writeFloorSummary writes, when the floor ran, what it is and a table of
// every scenario's overhead over it.
func writeFloorSummary(b *strings.Builder, res *Results) {
	var rows []ScenarioResult
	for _, sr := range res.Scenarios {
		for _, t := range sr.Targets {
			if t.VsFloor != nil {
				rows = append(rows, sr)
				break
			}
		}
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("- `floor` is a minimal fasthttp reverse proxy with no policy (`sluice-bench floor`), tuned as the gateway's " +
		"server and upstream pool (same fasthttp server options, 16 KiB buffers, keep-alive pool, timeouts), run on one core " +
		"like the gateway: it strips the route prefix and hop-by-hop headers and appends X-Forwarded-For, nothing else. " +
		"\"Over the floor\" is the median of per-repetition ratios target / floor, minus one: what the target adds to fasthttp's own cost.\n")
	b.WriteString("\n### Over the fasthttp floor\n\n")
	b.WriteString("| scenario | sluice CPU µs/req | floor CPU µs/req | Sluice's CPU over the floor | sluice req/s vs floor | floor CPU vs nginx |\n" +
		"|---|--:|--:|--:|--:|--:|\n")
	for _, sr := range rows {
		var s, f *TargetResult
		for i := range sr.Targets {
			switch sr.Targets[i].Target {
			case TargetSluice:
				s = &sr.Targets[i]
			case TargetFloor:
				f = &sr.Targets[i]
			}
		}
		if f == nil {
			continue
		}
		sCPU, over, tput := "—", "—", "—"
		if s != nil && s.Skipped == "" {
			sCPU = fmtCPU(s.Median.CPUPerRequestUS)
			if s.VsFloor != nil {
				over, tput = fmtOverhead(s.VsFloor.CPUPerRequestUS), fmtRatio(s.VsFloor.Throughput)
			}
		}
		vsNginx := "—"
		if f.VsReference != nil && f.VsReference.Reference == "nginx" {
			vsNginx = fmtRatio(f.VsReference.CPUPerRequestUS)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", sr.Scenario.Name, sCPU, fmtCPU(f.Median.CPUPerRequestUS), over, tput, vsNginx)
	}
}

// writeFloorLine writes, under a scenario's table, each target's CPU per
// request over the floor that ran beside it.
func writeFloorLine(b *strings.Builder, sr ScenarioResult) {
	var parts []string
	for _, t := range sr.Targets {
		if t.VsFloor != nil && t.VsFloor.CPUPerRequestUS > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", t.Target, fmtOverhead(t.VsFloor.CPUPerRequestUS)))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(b, "\nCPU per request over the fasthttp floor (median of per-repetition ratios): %s.\n", strings.Join(parts, ", "))
	}
}
