package proxy

import (
	"errors"
	"io"

	"github.com/valyala/fasthttp"
)

// errBodyTooLarge ends a body stream that passed max_body_size.
var errBodyTooLarge = errors.New("request body is larger than the limit")

// limitReader passes at most max bytes of a request body through and fails
// the stream when there are more. A chunked body's size is known only while
// it streams, so this is how max_body_size holds for it. Lives in reqState.
type limitReader struct {
	src     io.Reader
	left    int64
	tripped bool
	probe   [1]byte
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.tripped {
		return 0, errBodyTooLarge
	}
	if l.left <= 0 {
		// Exactly at the limit: one more byte means too large.
		n, err := l.src.Read(l.probe[:])
		if n > 0 {
			l.tripped = true
			return 0, errBodyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.src.Read(p)
	l.left -= int64(n)
	return n, err
}

// bodyBuffered reports whether fasthttp already holds the whole body in
// memory: a known length up to the stream threshold, or no body at all.
func bodyBuffered(req *fasthttp.Request, threshold int) bool {
	cl := req.Header.ContentLength()
	return cl >= 0 && cl <= threshold || !req.IsBodyStream()
}

// limitStream makes a streamed body of unknown length (chunked) fail past
// max_body_size while it is forwarded. Known lengths were checked already.
func (s *Server) limitStream(ctx *fasthttp.RequestCtx, st *reqState) {
	req := &ctx.Request
	if req.Header.ContentLength() != -1 || !req.IsBodyStream() {
		return
	}
	st.lim = limitReader{src: req.BodyStream(), left: st.snap.Server.MaxBodySize}
	req.SetBodyStream(&st.lim, -1)
}

// readBody brings a streamed body into memory for the steps that read it
// (HMAC signatures, form and JSON parameters), reading at most max_body_size:
// an unauthenticated client must not make the gateway buffer without bound.
// It answers 413 itself and returns false when the body is too large.
func (s *Server) readBody(ctx *fasthttp.RequestCtx, st *reqState) bool {
	req := &ctx.Request
	if bodyBuffered(req, st.snap.Server.StreamThreshold) {
		return true
	}
	st.lim = limitReader{src: req.BodyStream(), left: st.snap.Server.MaxBodySize}
	b := st.bodyBuf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := st.lim.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			st.bodyBuf = b[:0]
			if st.lim.tripped {
				rejectedBodySize.Inc()
				s.finish(ctx, st, fasthttp.StatusRequestEntityTooLarge, CodePayloadTooLarge, "request body is larger than the limit")
			} else {
				s.finish(ctx, st, fasthttp.StatusBadRequest, CodeMalformedRequest, "cannot read the request body")
			}
			ctx.SetConnectionClose()
			return false
		}
	}
	st.bodyBuf = b
	req.SetBody(b)
	return true
}
