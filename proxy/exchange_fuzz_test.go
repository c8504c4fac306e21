package proxy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// exchangeScript is what the fuzzed upstream answers to the first request
// of an iteration; the second request always gets a well-formed answer
// carrying that request's own unguessable token.
type exchangeScript struct {
	raw        []byte
	closeAfter bool
}

// fuzzScript is what the origin answers the first request of an iteration.
var fuzzScript atomic.Pointer[exchangeScript]

// startFuzzOrigin starts the scripted origin for one run of the fuzz target
// (f's cleanup stops it, so -count=N starts N of them).
func startFuzzOrigin(f *testing.F) *scriptedOrigin {
	return startScripted(f, func(req *fasthttp.Request) (string, bool) {
		if tok := req.Header.Peek("X-Token"); len(tok) > 0 {
			return "HTTP/1.1 200 OK\r\nX-Second: yes\r\nContent-Length: " + itoa(len(tok)) + "\r\n\r\n" + string(tok), false
		}
		s := fuzzScript.Load()
		return string(s.raw), s.closeAfter
	})
}

func itoa(n int) string {
	var b [20]byte
	return string(appendUint(b[:0], uint64(n)))
}

func appendUint(dst []byte, n uint64) []byte {
	if n >= 10 {
		dst = appendUint(dst, n/10)
	}
	return append(dst, byte('0'+n%10))
}

// FuzzUpstreamExchange is acceptance 3 of issue 10: scripted upstream bytes
// (any framing, trailing bytes, truncation, interim answers) for one
// exchange, then a second exchange on the same pool. Property: no byte of
// the first answer ever reaches the second request; its answer is exactly
// the well-formed one the upstream sent for it, whatever the first did.
//
//	go test -run '^$' -fuzz FuzzUpstreamExchange -fuzztime 60s ./proxy/
func FuzzUpstreamExchange(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 204 No Content\r\n\r\nSPLIT!",
		"HTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSPLIT",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokSPLIT!",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nSPLIT!",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nSPLIT!",
		"HTTP/1.1 200 OK\r\n\r\nclose-delimited SPLIT!",
		"HTTP/1.1 200 OK\r\nContent-Length: 80\r\n\r\n" + strings.Repeat("S", 80) + "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nX",
	} {
		f.Add([]byte(s), false, false, byte(255))
		f.Add([]byte(s), true, false, byte(3))
		f.Add([]byte(s), false, true, byte(0))
	}
	o := startFuzzOrigin(f)
	f.Fuzz(func(t *testing.T, raw []byte, head, closeAfter bool, readLimit byte) {
		if len(raw) > 8<<10 {
			return
		}
		fuzzScript.Store(&exchangeScript{raw: raw, closeAfter: closeAfter})
		p := testPool(o.addr)
		bp := testChain(p)

		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("/one")
		if head {
			req.Header.SetMethod("HEAD")
		}
		// 30 ms bounds the wait for an answer and each pause in a streamed body.
		if _, err := bp.doTimeout(req, resp, 30*time.Millisecond); err == nil && resp.IsBodyStream() {
			if readLimit == 255 {
				_, _ = io.Copy(io.Discard, resp.BodyStream())
			} else {
				_, _ = io.CopyN(io.Discard, resp.BodyStream(), int64(readLimit))
			}
			_ = resp.CloseBodyStream()
		}

		var tok [12]byte
		_, _ = rand.Read(tok[:])
		token := hex.EncodeToString(tok[:])
		req.Reset()
		resp.Reset()
		req.SetRequestURI("/two")
		req.Header.Set("X-Token", token)
		if _, err := bp.doTimeout(req, resp, time.Second); err != nil {
			t.Fatalf("second exchange failed after %q: %v", raw, err)
		}
		body := resp.Body()
		if resp.IsBodyStream() {
			body, _ = io.ReadAll(resp.BodyStream())
			_ = resp.CloseBodyStream()
		}
		if resp.StatusCode() != 200 || string(resp.Header.Peek("X-Second")) != "yes" || string(body) != token {
			t.Fatalf("second answer %d %q X-Second=%q after first answer %q: bytes crossed exchanges",
				resp.StatusCode(), body, resp.Header.Peek("X-Second"), raw)
		}
		p.closeIdle()
	})
}

// FuzzChunkedBodyGuard fuzzes the chunk validation a client's chunked body
// passes (fasthttp's decoder plus limitReader). Soundness: when the guard
// reports a clean end, the bytes are a well-formed chunked body by a strict
// reference decoder, with exactly the data the guard passed on. The guard
// never passes data together with an error, and its errors are the
// client's (errClientBody) or the size limit.
func FuzzChunkedBodyGuard(f *testing.F) {
	for _, s := range []string{
		"5\r\nhello\r\n0\r\n\r\n",
		"5\r\nhello\r\n",
		"1\r\nAB0\r\n\r\n",
		"3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n",
		"0\r\n\r\n",
		"5 \r\nhello\r\n0\r\n\r\n",
		"fffffffffffffffff\r\n",
		"2\r\nab\r\n0\r\n",
		"2\nab\r\n0\r\n\r\n",
		"4\r\nabc\n\r\n0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	const head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	f.Fuzz(func(t *testing.T, body []byte) {
		var req fasthttp.Request
		br := bufio.NewReader(io.MultiReader(strings.NewReader(head), bytes.NewReader(body)))
		if err := req.Header.Read(br); err != nil {
			t.Fatal(err)
		}
		if err := req.ContinueReadBodyStream(br, 0, false); err != nil {
			return // refused before any body byte: nothing to guard
		}
		l := limitReader{src: req.BodyStream(), left: 1 << 20, want: -1}
		var out []byte
		buf := make([]byte, 7) // small reads cross chunk boundaries
		var err error
		for i := 0; i < len(body)+16; i++ {
			var n int
			n, err = l.Read(buf)
			if err != nil && err != io.EOF && n != 0 {
				t.Fatalf("%d bytes passed together with %v", n, err)
			}
			out = append(out, buf[:n]...)
			if err != nil {
				break
			}
		}
		ref, ok := refDecodeChunked(body)
		switch {
		case err == io.EOF:
			if !ok {
				t.Fatalf("guard accepted %q, the reference decoder refuses it", body)
			}
			if !bytes.Equal(out, ref) {
				t.Fatalf("guard passed %q, reference decodes %q from %q", out, ref, body)
			}
		case err == nil:
			t.Fatalf("reads of %q neither ended nor failed", body)
		default:
			var cb *errClientBody
			if !errors.As(err, &cb) && !errors.Is(err, errBodyTooLarge) {
				t.Fatalf("error %v (%T) is not the client's", err, err)
			}
			if ok && simpleChunked(body) {
				t.Fatalf("guard refused well-formed %q: %v", body, err)
			}
		}
	})
}

// refDecodeChunked is a strict RFC 9112 §7.1 chunked decoder of the body's
// data for the guard's fuzz oracle: hex size, optional whitespace or
// ";extension" up to CRLF, data, CRLF, until the zero chunk.
func refDecodeChunked(b []byte) ([]byte, bool) {
	var out []byte
	for {
		i := 0
		size := 0
		for i < len(b) && isHex(b[i]) {
			if i >= 15 {
				return nil, false
			}
			size = size<<4 | hexVal(b[i])
			i++
		}
		if i == 0 {
			return nil, false
		}
		line := bytes.Index(b, []byte("\r\n"))
		if line < i {
			return nil, false
		}
		rest := b[i:line]
		if bytes.ContainsAny(rest, "\r\n") {
			return nil, false
		}
		if t := bytes.TrimLeft(rest, " \t"); len(t) > 0 && (t[0] != ';' || len(t) != len(rest)) {
			return nil, false // only whitespace, or an extension right after the size
		}
		b = b[line+2:]
		if size == 0 {
			// The body's data ends here. What follows is the trailer
			// section, which this oracle does not judge: fasthttp reads it
			// leniently (ReadTrailer's io.EOF on a section cut short, even
			// an empty one, counts as the end), and it carries no body
			// bytes. Known and accepted: a client can cut its trailers.
			return out, true
		}
		if len(b) < size+2 || b[size] != '\r' || b[size+1] != '\n' {
			return nil, false
		}
		out = append(out, b[:size]...)
		b = b[size+2:]
	}
}

// simpleChunked: sizes of hex digits only, no extensions, no trailers; the
// guard must accept every well-formed body of this form.
func simpleChunked(b []byte) bool {
	for {
		i := 0
		for i < len(b) && isHex(b[i]) {
			i++
		}
		if i == 0 || i > 8 || len(b) < i+2 || b[i] != '\r' || b[i+1] != '\n' {
			return false
		}
		size := 0
		for _, c := range b[:i] {
			size = size<<4 | hexVal(c)
		}
		b = b[i+2:]
		if size == 0 {
			return len(b) >= 2 && b[0] == '\r' && b[1] == '\n'
		}
		if len(b) < size+2 {
			return false
		}
		b = b[size+2:]
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func hexVal(c byte) int {
	switch {
	case c <= '9':
		return int(c - '0')
	case c >= 'a':
		return int(c-'a') + 10
	}
	return int(c-'A') + 10
}
