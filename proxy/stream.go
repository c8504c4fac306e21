package proxy

import (
	"io"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// bodyStream carries a large, chunked or close-delimited upstream body to
// the client without holding it in memory. fasthttp's own streaming reader
// (fixed length and chunked decoding) sits in holder; when the body has been
// read to its end the connection goes back to the pool, and when the client
// went away first it is closed. Pooled; one per streaming answer.
type bodyStream struct {
	pool       *targetPool
	conn       *upConn
	holder     fasthttp.Response
	src        io.Reader
	timeout    time.Duration
	done       bool
	closeAfter bool
	chunked    bool
	// pre is body already read from src by a response step that then let
	// the body pass whole (a JSON body transform over its bound): it goes
	// out first. src stays fasthttp's own stream, so a cut is still told
	// from an end (chunkedEnded).
	pre []byte
}

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
	resp.Header.CopyTo(&bs.holder.Header)
	bs.holder.StreamBody = true
	if err := bs.holder.ReadBody(c.br, 0); err != nil {
		bs.release(true)
		return err
	}
	bs.src = bs.holder.BodyStream()
	size := cl
	if size < 0 {
		size = -1
	}
	resp.SetBodyStream(bs, size)
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

// Close is called by fasthttp once the answer was written (or abandoned).
func (bs *bodyStream) Close() error {
	bs.release(!bs.done || bs.closeAfter)
	return nil
}

func (bs *bodyStream) release(discard bool) {
	_ = bs.holder.CloseBodyStream()
	bs.holder.Reset()
	if discard {
		bs.pool.discard(bs.conn)
	} else {
		bs.pool.finish(bs.conn, false)
	}
	bs.pool, bs.conn, bs.src, bs.pre = nil, nil, nil, nil
	bodyStreamPool.Put(bs)
}
