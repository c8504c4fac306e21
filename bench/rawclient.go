package bench

import (
	"bufio"
	"bytes"
	"errors"
	"io"

	"github.com/valyala/fasthttp"
)

// The open-loop generator (openloop.go) talks HTTP/1.1 over raw net.Conns:
// requests are serialised once (by fasthttp, so the bytes on the wire are the
// ones fasthttp's client sent before) and written whole, and answers are
// framed by the small reader below, which only finds where an answer ends and
// keeps its status and body length. fasthttp's client parsed every header
// into a ResponseHeader, copied the body, and took a pool lock per request;
// the generator needs none of that, and its core is shared with the origin.

// Errors of the response reader.
var (
	errRespHeadTooLarge = errors.New("bench: response head larger than the read buffer")
	errRespMalformed    = errors.New("bench: malformed HTTP response")
)

// respBufSize is each connection's read buffer. A response head must fit in
// it; bodies of any size stream through it.
const respBufSize = 16 << 10

// respReader frames HTTP/1.x responses read from one connection. It is owned
// by one goroutine; steady state allocates nothing.
type respReader struct {
	rd   io.Reader
	buf  []byte
	r, w int // unread bytes are buf[r:w]
}

func newRespReader(rd io.Reader, size int) *respReader {
	return &respReader{rd: rd, buf: make([]byte, size)}
}

// respInfo is what the generator keeps of one response.
type respInfo struct {
	status  int
	bodyLen int64
	// close is set when the connection cannot carry another request: the
	// server said so, spoke HTTP/1.0 without keep-alive, framed the body by
	// closing, or switched protocols.
	close bool
}

// fill reads more bytes into the buffer, compacting it first when the
// unread part does not start at 0. It returns an error only when no byte
// was read.
func (rr *respReader) fill() error {
	if rr.r > 0 {
		rr.w = copy(rr.buf, rr.buf[rr.r:rr.w])
		rr.r = 0
	}
	if rr.w == len(rr.buf) {
		return errRespHeadTooLarge
	}
	for {
		n, err := rr.rd.Read(rr.buf[rr.w:])
		rr.w += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// buffered reports whether unread bytes are waiting (a response has begun).
func (rr *respReader) buffered() bool { return rr.r < rr.w }

// waitData blocks until at least one byte is buffered: the generator uses it
// to learn that an answer has begun before it looks at the request it answers.
func (rr *respReader) waitData() error {
	if rr.r < rr.w {
		return nil
	}
	return rr.fill()
}

// line returns the next line without its CRLF (or bare LF), reading more as
// needed. The slice is valid until the next read.
func (rr *respReader) line() ([]byte, error) {
	for {
		if i := bytes.IndexByte(rr.buf[rr.r:rr.w], '\n'); i >= 0 {
			l := rr.buf[rr.r : rr.r+i]
			rr.r += i + 1
			if n := len(l); n > 0 && l[n-1] == '\r' {
				l = l[:n-1]
			}
			return l, nil
		}
		if err := rr.fill(); err != nil {
			if err == io.EOF && rr.r < rr.w {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// read reads one whole response. head says the request was HEAD, whose
// answer has no body whatever its Content-Length says. Interim 1xx answers
// (100 Continue, 103 Early Hints) are skipped.
func (rr *respReader) read(head bool) (respInfo, error) {
	for {
		info, clen, chunked, err := rr.readHead()
		if err != nil {
			return info, err
		}
		switch {
		case info.status >= 100 && info.status < 200 && info.status != 101:
			continue
		case head || info.status == 101 || info.status == 204 || info.status == 304:
			// No body; 101 hands the connection to another protocol.
			if info.status == 101 {
				info.close = true
			}
		case chunked:
			info.bodyLen, err = rr.skipChunked()
		case clen >= 0:
			info.bodyLen, err = clen, rr.skip(clen)
		default:
			// HTTP/1.x without a length: the body runs to the close.
			info.close = true
			info.bodyLen, err = rr.skipToEOF()
		}
		return info, err
	}
}

// readHead reads a status line and headers. clen is -1 when no
// Content-Length was given.
func (rr *respReader) readHead() (info respInfo, clen int64, chunked bool, err error) {
	l, err := rr.line()
	if err != nil {
		return info, -1, false, err
	}
	// "HTTP/1.1 200 OK": version, space, three digits, then a space or the end.
	if len(l) < 12 || string(l[:7]) != "HTTP/1." || l[8] != ' ' || (len(l) > 12 && l[12] != ' ') {
		return info, -1, false, errRespMalformed
	}
	for _, c := range l[9:12] {
		if c < '0' || c > '9' {
			return info, -1, false, errRespMalformed
		}
		info.status = info.status*10 + int(c-'0')
	}
	if info.status < 100 {
		return info, -1, false, errRespMalformed
	}
	keepAlive := l[7] == '1' // HTTP/1.1 keeps the connection unless told otherwise
	clen = -1
	for {
		l, err := rr.line()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return info, -1, false, err
		}
		if len(l) == 0 {
			break
		}
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 {
			return info, -1, false, errRespMalformed
		}
		name, value := l[:colon], trimOWS(l[colon+1:])
		switch {
		case asciiEqualFold(name, "content-length"):
			n, ok := parseContentLength(value)
			if !ok || (clen >= 0 && n != clen) {
				return info, -1, false, errRespMalformed
			}
			clen = n
		case asciiEqualFold(name, "transfer-encoding"):
			// Chunked must be the last coding; anything else is framed by close.
			chunked = hasSuffixFold(value, "chunked")
			if !chunked {
				keepAlive = false
			}
		case asciiEqualFold(name, "connection"):
			if tokenListHas(value, "close") {
				keepAlive = false
			} else if tokenListHas(value, "keep-alive") {
				keepAlive = true
			}
		}
	}
	info.close = !keepAlive
	return info, clen, chunked, nil
}

// skip discards n body bytes.
func (rr *respReader) skip(n int64) error {
	for {
		avail := int64(rr.w - rr.r)
		if avail >= n {
			rr.r += int(n)
			return nil
		}
		n -= avail
		rr.r, rr.w = 0, 0
		if err := rr.fill(); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
}

// skipToEOF discards everything up to the end of the stream.
func (rr *respReader) skipToEOF() (int64, error) {
	var n int64
	for {
		n += int64(rr.w - rr.r)
		rr.r, rr.w = 0, 0
		if err := rr.fill(); err != nil {
			if err == io.EOF {
				return n, nil
			}
			return n, err
		}
	}
}

// maxChunkSize bounds one chunk's declared size (1 TiB), so a hostile size
// line cannot overflow the body length.
const maxChunkSize = 1 << 40

// skipChunked discards a chunked body and its trailers, returning the
// decoded length.
func (rr *respReader) skipChunked() (int64, error) {
	var total int64
	for {
		l, err := rr.line()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return total, err
		}
		if i := bytes.IndexByte(l, ';'); i >= 0 {
			l = l[:i]
		}
		l = trimOWS(l)
		if len(l) == 0 {
			return total, errRespMalformed
		}
		var size int64
		for _, c := range l {
			var d byte
			switch {
			case c >= '0' && c <= '9':
				d = c - '0'
			case c >= 'a' && c <= 'f':
				d = c - 'a' + 10
			case c >= 'A' && c <= 'F':
				d = c - 'A' + 10
			default:
				return total, errRespMalformed
			}
			size = size<<4 | int64(d)
			if size > maxChunkSize {
				return total, errRespMalformed
			}
		}
		if size == 0 {
			// Trailers, then the empty line that ends the body.
			for {
				l, err := rr.line()
				if err != nil {
					if err == io.EOF {
						err = io.ErrUnexpectedEOF
					}
					return total, err
				}
				if len(l) == 0 {
					return total, nil
				}
			}
		}
		total += size
		if err := rr.skip(size); err != nil {
			return total, err
		}
		l, err = rr.line()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return total, err
		}
		if len(l) != 0 {
			return total, errRespMalformed
		}
	}
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// parseContentLength accepts only digits, as RFC 9110 does.
func parseContentLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// asciiEqualFold compares b with the lower-case ASCII s, ignoring case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func hasSuffixFold(b []byte, s string) bool {
	return len(b) >= len(s) && asciiEqualFold(b[len(b)-len(s):], s)
}

// tokenListHas reports whether the comma-separated list b holds tok (lower case).
func tokenListHas(b []byte, tok string) bool {
	for len(b) > 0 {
		i := bytes.IndexByte(b, ',')
		item := b
		if i >= 0 {
			item, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if asciiEqualFold(trimOWS(item), tok) {
			return true
		}
	}
	return false
}

// byteSink is an io.Writer appending to b.
type byteSink struct{ b []byte }

func (s *byteSink) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

// reqWriter serialises fasthttp requests the way the closed loop's
// fasthttp.HostClient puts them on the wire (its Name as User-Agent, paths as
// given). One per goroutine; steady state allocates nothing.
type reqWriter struct {
	sink byteSink
	bw   *bufio.Writer
}

func newReqWriter() *reqWriter {
	w := &reqWriter{}
	w.bw = bufio.NewWriterSize(&w.sink, 4096)
	return w
}

// appendRequest appends req's wire form to dst.
func (w *reqWriter) appendRequest(dst []byte, req *fasthttp.Request) ([]byte, error) {
	req.URI().DisablePathNormalizing = true
	if len(req.Header.UserAgent()) == 0 {
		req.Header.SetUserAgent(loadUserAgent)
	}
	w.sink.b = dst
	w.bw.Reset(&w.sink)
	if err := req.Write(w.bw); err != nil {
		return dst, err
	}
	if err := w.bw.Flush(); err != nil {
		return dst, err
	}
	out := w.sink.b
	w.sink.b = nil
	return out, nil
}
