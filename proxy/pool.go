package proxy

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// Pool hygiene counters: connections dropped instead of being reused.
var (
	staleDropped  = metrics.NewCounter(`sluice_upstream_conns_dropped_total{reason="stale"}`)
	desyncDropped = metrics.NewCounter(`sluice_upstream_conns_dropped_total{reason="unexpected_bytes"}`)
)

// targetPool is a keep-alive connection pool to one upstream target, and the
// HTTP/1.1 exchange over it.
//
// Why not fasthttp.HostClient: its streaming mode (needed so a 1 GiB answer
// never sits in memory) allocates four objects per request, closures
// included, which the zero-allocation rule of DESIGN.md rules out. This pool
// uses fasthttp's own message types to write requests and read answers, and
// decides per answer: bodies up to the stream threshold are read into the
// pooled response buffer, larger, chunked or close-delimited ones stream
// through a pooled reader that returns the connection when the body ends.
//
// Pools are kept across reloads by upstreams. Safe for concurrent use.
type targetPool struct {
	addr           string
	dial           DialFunc
	connectTimeout time.Duration
	idleTimeout    time.Duration
	maxConns       int
	streamAbove    int

	mu   sync.Mutex
	idle []*upConn // LIFO: the warmest connection first, the oldest at [0]
	open int
}

// upConn is one upstream connection. br and bw are set only while an
// exchange runs on it (attach / detach): an idle connection holds no buffers.
type upConn struct {
	c        net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
	probe    connProbe    // checks an idle connection before reuse; zero for test pipes
	ar       answerReader // br's source: sends a whole request inside the wait for its answer
	ww       writeWatch   // bw's sink: tells whether a request went out while it was written
}

// Upstream buffer sizes (issue 16). The reader holds the answer's header
// (fasthttp's header parser needs all of it in the buffer, so it is never
// below the 16 KiB upstream header limit it always had) and, in the same
// read(2), the start of the body: at 32 KiB a 16 KiB answer with its header
// arrives in one read instead of two, and the body is copied out of the
// buffer once. Bodies that do not fit are read straight from the socket
// into the body buffer (bufio reads around its buffer for large reads). The
// writer holds the request's header and an in-memory body up to ~32 KiB, so
// a 16 KiB upload goes out in one write(2) instead of two.
//
// The buffers are pooled per exchange rather than owned by the connection:
// an idle keep-alive connection holds none, so a pool of a thousand idle
// connections costs no buffer memory, and a larger size costs only per
// request in flight.
const (
	upReadBufSize  = 32 << 10
	upWriteBufSize = 32 << 10
)

var (
	upReaderPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, upReadBufSize) }}
	upWriterPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, upWriteBufSize) }}
)

// attach gives c pooled buffers for one exchange.
func (c *upConn) attach() {
	c.br = upReaderPool.Get().(*bufio.Reader)
	c.br.Reset(&c.ar)
	c.bw = upWriterPool.Get().(*bufio.Writer)
	c.bw.Reset(&c.ww)
}

// detach returns c's buffers to their pools. Whatever the reader still
// held is dropped with it: a connection released to the idle stack has no
// buffered bytes (finish closes it otherwise), and a discarded one is
// closed.
func (c *upConn) detach() {
	if c.br != nil {
		c.br.Reset(nil)
		upReaderPool.Put(c.br)
		c.br = nil
	}
	if c.bw != nil {
		c.bw.Reset(nil)
		upWriterPool.Put(c.bw)
		c.bw = nil
	}
}

// errDial marks a failure to establish a connection: nothing was sent.
type errDial struct{ err error }

func (e *errDial) Error() string { return "dial: " + e.err.Error() }
func (e *errDial) Unwrap() error { return e.err }

// errStale marks a failure on a reused keep-alive connection before any
// answer byte arrived, for a request that is safe to send again: the
// upstream most likely closed the idle connection just as it was taken.
// The backend layer retries it once on a freshly dialed connection
// (backendPool.Do); nothing else retries.
type errStale struct{ err error }

func (e *errStale) Error() string { return "stale keep-alive connection: " + e.err.Error() }
func (e *errStale) Unwrap() error { return e.err }

// isStale reports whether err says the request may be sent again on a fresh
// connection (see errStale). targetPool.do returns an *errStale unwrapped,
// so a type assertion does: errors.As would allocate on the success path.
func isStale(err error) bool {
	_, ok := err.(*errStale)
	return ok
}

// acquire returns an idle connection (reused=true) or dials a new one.
// fresh never takes an idle connection: it is the retry after a stale one,
// and another idle connection may be just as stale.
//
// An idle connection is probed before use (connProbe): one that the
// upstream closed, or that holds bytes nobody asked for, is dropped here,
// before anything was written to it, so any request, POST included, goes
// out on the next one instead.
func (p *targetPool) acquire(now time.Time, fresh bool) (*upConn, bool, error) {
	p.mu.Lock()
	for n := len(p.idle); !fresh && n > 0; n = len(p.idle) {
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		if now.Sub(c.lastUsed) < p.idleTimeout {
			p.mu.Unlock()
			if c.probe.alive() {
				c.attach()
				return c, true, nil
			}
			staleDropped.Inc()
			_ = c.c.Close()
			p.mu.Lock()
			p.open--
			continue
		}
		p.open--
		_ = c.c.Close()
	}
	if fresh && p.open >= p.maxConns && len(p.idle) > 0 {
		// A fresh dial at the connection cap: the oldest idle connection
		// gives its place, so the retry is not refused for lack of room.
		c := p.idle[0]
		copy(p.idle, p.idle[1:])
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		p.open--
		_ = c.c.Close()
	}
	if p.open >= p.maxConns {
		p.mu.Unlock()
		return nil, false, fasthttp.ErrNoFreeConns
	}
	p.open++
	p.mu.Unlock()

	var nc net.Conn
	var err error
	if p.dial != nil {
		nc, err = p.dial(p.addr)
	} else {
		nc, err = net.DialTimeout("tcp", p.addr, p.connectTimeout)
	}
	if err != nil {
		p.mu.Lock()
		p.open--
		p.mu.Unlock()
		return nil, false, &errDial{err}
	}
	c := &upConn{c: nc}
	c.probe.init(nc)
	c.ar.init(nc)
	c.ww.conn = nc
	c.attach()
	return c, false, nil
}

// release returns a healthy connection to the idle stack.
func (p *targetPool) release(c *upConn, now time.Time) {
	c.detach()
	c.lastUsed = now
	p.mu.Lock()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// discard closes a connection that must not be reused.
func (p *targetPool) discard(c *upConn) {
	c.detach()
	_ = c.c.Close()
	p.mu.Lock()
	p.open--
	p.mu.Unlock()
}

// closeIdle closes every idle connection (a reload dropped the target).
func (p *targetPool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.open -= len(idle)
	p.mu.Unlock()
	for _, c := range idle {
		_ = c.c.Close()
	}
}

// do makes ONE attempt: it sends req and reads the answer's header into
// resp, then its body or a stream of it. fresh dials a new connection
// instead of taking an idle one.
//
// It never retries by itself: when a reused connection failed before any
// answer byte and the request is safe to send again, the error satisfies
// isStale and the caller (backendPool.Do, the one place retries live) may
// call again with fresh=true.
func (p *targetPool) do(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, fresh bool) error {
	return p.doAt(req, resp, deadline, time.Now(), fresh)
}

// doAt is do at a clock reading the caller already took (the chain's try
// time): a clock read costs about 50-100 ns on a VM's kvm-clock (issue 16).
func (p *targetPool) doAt(req *fasthttp.Request, resp *fasthttp.Response, deadline, now time.Time, fresh bool) error {
	if !now.Before(deadline) {
		return fasthttp.ErrTimeout
	}
	c, reused, err := p.acquire(now, fresh)
	if err != nil {
		return err
	}
	// A streamed answer body may outlive the deadline of its header; each
	// pause in it is bounded by the API's timeout instead (the time left here).
	return p.exchange(c, reused, req, resp, deadline, deadline.Sub(now))
}

// exchange runs one request/answer over c. On any failure c is closed: the
// bytes on it are no longer known to be a message boundary.
func (p *targetPool) exchange(c *upConn, reused bool, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, stall time.Duration) error {
	// A body stream cannot be sent twice; a body in memory can.
	replayable := !req.IsBodyStream()
	var err error
	// One deadline call where possible: each one is a runtime timer update.
	if !replayable {
		// A large upload may legitimately take longer than the answer timeout;
		// the client connection's read timeout bounds it instead.
		if err = c.c.SetWriteDeadline(time.Time{}); err == nil {
			err = c.c.SetReadDeadline(deadline)
		}
	} else {
		err = c.c.SetDeadline(deadline)
	}
	if err == nil {
		c.ww.wrote = false
		if err = req.Write(c.bw); err == nil {
			if c.ar.canWait() && !c.ww.wrote && c.bw.Buffered() > 0 {
				c.ar.pending = c.bw // flushed inside the wait for the answer (answerReader)
			} else {
				err = c.bw.Flush()
			}
		}
	}
	if err == nil {
		// No answer byte yet is the one case a retry may cure: Peek tells it
		// apart from a failure in the middle of an answer.
		_, err = c.br.Peek(1)
	}
	if err != nil {
		p.discard(c)
		// The write may have reached the upstream, so only an idempotent
		// request is sent again; a POST is retried only when the probe in
		// acquire saw the connection closed before anything was written.
		if reused && replayable && isIdempotent(req) && !isTimeout(err) && !errors.Is(err, fasthttp.ErrTimeout) {
			return &errStale{err}
		}
		return err
	}
	if err = readAnswerHeader(c.br, &resp.Header); err != nil {
		p.discard(c)
		return err
	}
	closeAfter := resp.Header.ConnectionClose()
	if req.Header.IsHead() || noBodyStatus(resp.Header.StatusCode()) {
		resp.SkipBody = true
		p.finish(c, closeAfter)
		return nil
	}
	cl := resp.Header.ContentLength()
	if cl >= 0 && cl <= p.streamAbove {
		if err = resp.ReadBody(c.br, 0); err != nil {
			p.discard(c)
			return err
		}
		p.finish(c, closeAfter)
		return nil
	}
	return p.streamBody(c, resp, cl, closeAfter, stall)
}

// finish returns a connection whose exchange is complete to the pool. Its
// deadline is left as it is: an idle connection does no I/O, and the next
// exchange sets a fresh one.
//
// Bytes already buffered after a complete answer (after a 204 or 304, past a
// Content-Length, a body after a HEAD answer) belong to no request: reusing
// the connection would hand them to the next, unrelated one as its answer
// (response desync, issue 10 defect 3). Such a connection is closed. Bytes
// that arrive later are caught by the probe in acquire.
func (p *targetPool) finish(c *upConn, closeAfter bool) {
	if closeAfter || c.br.Buffered() > 0 {
		if !closeAfter {
			desyncDropped.Inc()
		}
		p.discard(c)
		return
	}
	p.release(c, time.Now())
}

// readAnswerHeader reads the final response header, skipping interim 1xx
// answers (100 Continue, 103 Early Hints).
func readAnswerHeader(br *bufio.Reader, h *fasthttp.ResponseHeader) error {
	for n := 0; n < 16; n++ {
		if err := h.Read(br); err != nil {
			return err
		}
		if st := h.StatusCode(); st < 100 || st > 199 {
			return nil
		}
		if h.StatusCode() == fasthttp.StatusSwitchingProtocols {
			return errors.New("upstream switched protocols; not supported")
		}
	}
	return errors.New("too many interim responses")
}

func noBodyStatus(st int) bool { return st == 204 || st == 304 || (st >= 100 && st < 200) }

func isIdempotent(req *fasthttp.Request) bool {
	m := req.Header.Method()
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}
