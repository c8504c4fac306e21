package proxy

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// bodyStream carries a large, chunked or close-delimited upstream body to
// the client without holding it in memory. A body with a Content-Length is
// read by bodyStream itself (left counts what is still to come); chunked and
// close-delimited ones go through fasthttp's own decoder, which sits in
// holder. When the body has been read to its end the connection goes back
// to the pool, and when the client went away first it is closed. Pooled;
// one per streaming answer.
type bodyStream struct {
	pool   *targetPool
	conn   *upConn
	holder fasthttp.Response
	// src is fasthttp's decoder (chunked, close-delimited), fixedLength{}
	// for a Content-Length body, and nil once a read failed (the connection
	// is then discarded on Close; bodytransform.go reads nil as "failed").
	src        io.Reader
	timeout    time.Duration
	done       bool
	closeAfter bool
	chunked    bool
	fixed      bool  // a Content-Length body, read from conn.br by Read / WriteTo
	left       int64 // bytes of a fixed-length body still to come
	lr         io.LimitedReader
	// pre is body already read from the stream by a response step that then
	// let the body pass whole (a JSON body transform over its bound): it goes
	// out first. src stays fasthttp's own stream, so a cut is still told
	// from an end (chunkedEnded).
	pre []byte
}

// fixedLength stands in src for a Content-Length body, which bodyStream
// reads itself; it is never read.
type fixedLength struct{}

func (fixedLength) Read([]byte) (int, error) { return 0, io.EOF }

var bodyStreamPool = sync.Pool{New: func() any { return &bodyStream{} }}

// stall bounds each wait for more of the body: the API's answer timeout.
// Not the pool's idle timeout: that is kept short, below origins'
// keep-alive timeouts, and says nothing about how long a body may pause.
func (p *targetPool) streamBody(c *upConn, resp *fasthttp.Response, cl int, closeAfter bool, stall time.Duration) error {
	bs := bodyStreamPool.Get().(*bodyStream)
	bs.pool, bs.conn, bs.done = p, c, false
	bs.closeAfter = closeAfter || cl == -2 // a close-delimited body ends with the connection
	bs.chunked = cl == -1
	bs.timeout = stall
	if cl >= 0 {
		// Issue 16: a fixed length needs no decoder, and no copy of the
		// header into one: Read and WriteTo take the bytes from the
		// connection themselves.
		bs.fixed, bs.left, bs.src = true, int64(cl), fixedLength{}
		resp.SetBodyStream(bs, cl)
		return nil
	}
	bs.fixed, bs.left = false, 0
	resp.Header.CopyTo(&bs.holder.Header)
	bs.holder.StreamBody = true
	if err := bs.holder.ReadBody(c.br, 0); err != nil {
		bs.release(true)
		return err
	}
	bs.src = bs.holder.BodyStream()
	resp.SetBodyStream(bs, -1)
	return nil
}

// Read refreshes the upstream read deadline on every call: a stream may run
// long, but an upstream that stops sending for the API's timeout is cut.
//
// An answer cut short must never reach the client as complete (issue 10,
// defect 2): fasthttp reports a chunked body whose upstream closed between
// chunks as io.EOF, like a real end (see chunkedEnded), so that EOF becomes
// io.ErrUnexpectedEOF here; a Content-Length body cut short already fails
// with it. Any error is returned alone, never with data: fasthttp's chunked
// writer writes data that comes with an error and keeps going. On an error
// fasthttp's server stops writing the answer without the terminating chunk
// and closes the client connection.
func (bs *bodyStream) Read(p []byte) (int, error) {
	if len(bs.pre) > 0 {
		n := copy(p, bs.pre)
		bs.pre = bs.pre[n:]
		return n, nil
	}
	if bs.src == nil {
		return 0, io.ErrUnexpectedEOF
	}
	if bs.fixed {
		return bs.readFixed(p)
	}
	_ = bs.conn.c.SetReadDeadline(time.Now().Add(bs.timeout))
	n, err := bs.src.Read(p)
	if err == nil {
		return n, nil
	}
	if err == io.EOF && (!bs.chunked || chunkedEnded(bs.src)) {
		bs.done = true
		return n, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	bs.src = nil // failed: the connection is discarded on Close
	return 0, err
}

// readFixed reads a Content-Length body: what the connection's reader holds
// first, then (bufio reads around its buffer when p is large) the socket.
func (bs *bodyStream) readFixed(p []byte) (int, error) {
	if bs.left == 0 {
		bs.done = true
		return 0, io.EOF
	}
	if int64(len(p)) > bs.left {
		p = p[:bs.left]
	}
	_ = bs.conn.c.SetReadDeadline(time.Now().Add(bs.timeout))
	n, err := bs.conn.br.Read(p)
	bs.left -= int64(n)
	if n > 0 {
		// At the end now, so a reader that stops at exactly the length
		// still returns a reusable connection. An error that came with
		// data comes back on the next call.
		bs.done = bs.left == 0
		return n, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF // the upstream closed before Content-Length bytes
	}
	bs.src = nil
	return 0, err
}

// spliceChunk bounds one ReadFrom of WriteTo: the upstream's read deadline
// is renewed before each, so an upstream must send at least this much per
// API timeout (Read renews it per read instead). Large enough that splice
// moves it with few calls.
const spliceChunk = 256 << 10

// WriteTo is how fasthttp writes a fixed-length body (writeBodyFixedSize
// prefers a reader's WriteTo), and the copy-once path of issue 16: bytes
// the connection's reader already holds are written from its buffer, and the
// rest goes through w's ReadFrom straight from the upstream socket. w is
// fasthttp's fixed-size writer over the client connection's bufio.Writer:
// it reads into its buffer directly from the socket while the response
// header still sits there, then, with the buffer flushed and the client a
// plain *net.TCPConn (see countingListener), net's ReadFrom moves the rest
// with splice(2), socket to socket, never through user space.
//
// Without WriteTo, fasthttp's ReadFrom would hand this stream to
// net.TCPConn.ReadFrom, which cannot splice from it and allocates a 32 KiB
// buffer per answer for io.Copy.
//
// Anything else (chunked or close-delimited bodies, an upstream behind TLS,
// a writer without ReadFrom) is copied through Read with a pooled buffer.
// An error ends the answer: fasthttp closes the client connection, and
// Close discards the upstream one.
func (bs *bodyStream) WriteTo(w io.Writer) (int64, error) {
	var total int64
	if len(bs.pre) > 0 {
		n, err := w.Write(bs.pre)
		total += int64(n)
		bs.pre = bs.pre[n:]
		if err != nil {
			return total, err
		}
	}
	rf, ok := w.(io.ReaderFrom)
	tc, plain := bs.conn.c.(*net.TCPConn)
	if !bs.fixed || bs.src == nil || !ok || !plain {
		n, err := bs.copyThrough(w)
		return total + n, err
	}
	if k := int(min(int64(bs.conn.br.Buffered()), bs.left)); k > 0 {
		b, _ := bs.conn.br.Peek(k)
		n, err := w.Write(b)
		_, _ = bs.conn.br.Discard(n)
		bs.left -= int64(n)
		total += int64(n)
		if err != nil {
			bs.src = nil
			return total, err
		}
	}
	for bs.left > 0 {
		_ = tc.SetReadDeadline(time.Now().Add(bs.timeout))
		bs.lr = io.LimitedReader{R: tc, N: min(bs.left, spliceChunk)}
		n, err := rf.ReadFrom(&bs.lr)
		bs.left -= n
		total += n
		if err == nil && n == 0 {
			err = io.ErrUnexpectedEOF // the upstream closed before Content-Length bytes
		}
		if err != nil {
			bs.src = nil
			return total, err
		}
	}
	bs.lr.R = nil
	bs.done = true
	return total, nil
}

// copyThrough copies the rest of the stream to w through Read.
func (bs *bodyStream) copyThrough(w io.Writer) (int64, error) {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	var total int64
	for {
		n, err := bs.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				bs.src, bs.done = nil, false
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// copyBufPool holds copyThrough's buffers: as large as the upstream reader's
// buffer, so bufio reads into them directly instead of through its own.
var copyBufPool = sync.Pool{New: func() any {
	b := make([]byte, upReadBufSize)
	return &b
}}

// Close is called by fasthttp once the answer was written (or abandoned).
func (bs *bodyStream) Close() error {
	bs.release(!bs.done || bs.src == nil || bs.closeAfter)
	return nil
}

func (bs *bodyStream) release(discard bool) {
	if !bs.fixed {
		_ = bs.holder.CloseBodyStream()
		bs.holder.Reset()
	}
	if discard {
		bs.pool.discard(bs.conn)
	} else {
		bs.pool.finish(bs.conn, false)
	}
	bs.pool, bs.conn, bs.src, bs.pre, bs.lr.R = nil, nil, nil, nil, nil
	bodyStreamPool.Put(bs)
}
