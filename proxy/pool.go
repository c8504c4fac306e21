package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
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

// upConn is one upstream connection with its buffers.
type upConn struct {
	c        net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
}

// errDial marks a failure to establish a connection: nothing was sent.
type errDial struct{ err error }

func (e *errDial) Error() string { return "dial: " + e.err.Error() }
func (e *errDial) Unwrap() error { return e.err }

// acquire returns an idle connection (reused=true) or dials a new one.
func (p *targetPool) acquire(now time.Time, fresh bool) (*upConn, bool, error) {
	p.mu.Lock()
	for !fresh && len(p.idle) > 0 {
		n := len(p.idle) - 1
		c := p.idle[n]
		p.idle[n] = nil
		p.idle = p.idle[:n]
		if now.Sub(c.lastUsed) < p.idleTimeout {
			p.mu.Unlock()
			return c, true, nil
		}
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
	return &upConn{c: nc, br: bufio.NewReaderSize(nc, 16<<10), bw: bufio.NewWriterSize(nc, 16<<10)}, false, nil
}

// release returns a healthy connection to the idle stack.
func (p *targetPool) release(c *upConn, now time.Time) {
	c.lastUsed = now
	p.mu.Lock()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// discard closes a connection that must not be reused.
func (p *targetPool) discard(c *upConn) {
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

// do sends req and reads the answer's header into resp, then its body or a
// stream of it: one attempt. fresh dials a new connection instead of taking
// an idle one. A reused connection that failed before any answer byte, for a
// request safe to send again, fails with an error isStale reports: the
// chain's retry layer then tries once more on a fresh connection.
func (p *targetPool) do(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, fresh bool) error {
	now := time.Now()
	if !now.Before(deadline) {
		return fasthttp.ErrTimeout
	}
	c, reused, err := p.acquire(now, fresh)
	if err != nil {
		return err
	}
	retry, err := p.exchange(c, req, resp, deadline)
	if err != nil && retry && reused {
		return &errStale{err}
	}
	return err
}

// errStale is a failure on a reused idle connection before any answer byte.
type errStale struct{ err error }

func (e *errStale) Error() string { return "stale keep-alive connection: " + e.err.Error() }
func (e *errStale) Unwrap() error { return e.err }

func isStale(err error) bool {
	_, ok := err.(*errStale)
	return ok
}

// errClientBody is a failure to read the client's request body while it was
// forwarded: the client's fault, not the upstream's.
type errClientBody struct {
	err     error
	timeout bool
}

func (e *errClientBody) Error() string { return "client body: " + e.err.Error() }
func (e *errClientBody) Unwrap() error { return e.err }

func (p *targetPool) exchange(c *upConn, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) (retry bool, err error) {
	streamingUp := req.IsBodyStream()
	// One deadline call where possible: each one is a runtime timer update.
	if streamingUp {
		// A large upload may legitimately take longer than the answer timeout;
		// the client connection's read timeout bounds it instead.
		if err = c.c.SetWriteDeadline(time.Time{}); err == nil {
			err = c.c.SetReadDeadline(deadline)
		}
	} else {
		err = c.c.SetDeadline(deadline)
	}
	if err == nil {
		if err = req.Write(c.bw); err == nil {
			err = c.bw.Flush()
		}
	}
	if err != nil {
		p.discard(c)
		return !streamingUp, err
	}
	if err = readAnswerHeader(c.br, &resp.Header); err != nil {
		p.discard(c)
		// io.EOF before the first byte: the upstream closed an idle
		// connection; the request was most likely never processed.
		return errors.Is(err, io.EOF) && !streamingUp && isIdempotent(req), err
	}
	closeAfter := resp.Header.ConnectionClose()
	if req.Header.IsHead() || noBodyStatus(resp.Header.StatusCode()) {
		resp.SkipBody = true
		p.finish(c, closeAfter)
		return false, nil
	}
	cl := resp.Header.ContentLength()
	if cl >= 0 && cl <= p.streamAbove {
		if err = resp.ReadBody(c.br, 0); err != nil {
			p.discard(c)
			return false, err
		}
		p.finish(c, closeAfter)
		return false, nil
	}
	return false, p.streamBody(c, resp, cl, closeAfter)
}

// finish returns a connection whose exchange is complete to the pool. Its
// deadline is left as it is: an idle connection does no I/O, and the next
// exchange sets a fresh one.
func (p *targetPool) finish(c *upConn, closeAfter bool) {
	if closeAfter {
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
