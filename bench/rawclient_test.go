package bench

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/valyala/fasthttp"
)

// respCase is one response stream and what the reader must find in it.
type respCase struct {
	name    string
	in      string
	head    bool
	status  int
	bodyLen int64
	close   bool
	rest    string // bytes left for the next response
	err     bool
}

var respCases = []respCase{
	{name: "length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1", status: 200, bodyLen: 5, rest: "HTTP/1.1"},
	{name: "no reason", in: "HTTP/1.1 204\r\n\r\n", status: 204},
	{name: "header case and spaces", in: "HTTP/1.1 201 Created\r\ncOnTeNt-LeNgTh:\t 3 \r\nX: y\r\n\r\nabc", status: 201, bodyLen: 3},
	{name: "bare LF", in: "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", status: 200, bodyLen: 2},
	{name: "chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nnext",
		status: 200, bodyLen: 15, rest: "next"},
	{name: "chunked wins over length", in: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", status: 200, bodyLen: 1},
	{name: "HEAD ignores length", in: "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP", head: true, status: 200, rest: "HTTP"},
	{name: "304 has no body", in: "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", status: 304},
	{name: "interim 100 skipped", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", status: 200, bodyLen: 1},
	{name: "101 ends the connection", in: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nframes", status: 101, close: true, rest: "frames"},
	{name: "close delimited", in: "HTTP/1.1 200 OK\r\n\r\nall of this", status: 200, bodyLen: 11, close: true},
	{name: "connection close", in: "HTTP/1.1 503 Busy\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n", status: 503, close: true},
	{name: "HTTP/1.0", in: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", status: 200, bodyLen: 1, close: true},
	{name: "HTTP/1.0 keep-alive", in: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", status: 200, bodyLen: 1},
	{name: "gzip then chunked is chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", status: 200},
	{name: "not HTTP", in: "SSH-2.0-OpenSSH\r\n\r\n", err: true},
	{name: "short status", in: "HTTP/1.1 20\r\n\r\n", err: true},
	{name: "status letters", in: "HTTP/1.1 2x0 OK\r\n\r\n", err: true},
	{name: "status 099", in: "HTTP/1.1 099 OK\r\n\r\n", err: true},
	{name: "status too long", in: "HTTP/1.1 2000 OK\r\n\r\n", err: true},
	{name: "header without colon", in: "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", err: true},
	{name: "bad length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: true},
	{name: "conflicting lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", err: true},
	{name: "truncated body", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", err: true},
	{name: "truncated head", in: "HTTP/1.1 200 OK\r\nContent-Len", err: true},
	{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", err: true},
	{name: "chunk without CRLF", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy0\r\n\r\n", err: true},
	{name: "huge chunk", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n", err: true},
	{name: "empty", in: "", err: true},
}

// readAll frames one response out of in, read through rd's splits, and
// returns it with the bytes left unread.
func readOne(rd io.Reader, head bool, size int) (respInfo, []byte, error) {
	rr := newRespReader(rd, size)
	info, err := rr.read(head)
	rest := append([]byte(nil), rr.buf[rr.r:rr.w]...)
	more, _ := io.ReadAll(rd)
	return info, append(rest, more...), err
}

func TestRespReader(t *testing.T) {
	for _, c := range respCases {
		for _, split := range []string{"whole", "byte by byte"} {
			var rd io.Reader = bytes.NewReader([]byte(c.in))
			if split != "whole" {
				rd = iotest.OneByteReader(rd)
			}
			info, rest, err := readOne(rd, c.head, 64)
			if c.err {
				if err == nil {
					t.Errorf("%s (%s): accepted as %+v", c.name, split, info)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s (%s): %v", c.name, split, err)
				continue
			}
			if info.status != c.status || info.bodyLen != c.bodyLen || info.close != c.close || string(rest) != c.rest {
				t.Errorf("%s (%s): got %+v rest %q, want status %d body %d close %v rest %q",
					c.name, split, info, rest, c.status, c.bodyLen, c.close, c.rest)
			}
		}
	}
	// A head larger than the buffer is an error, not a hang; a body larger
	// than the buffer streams through it.
	big := "HTTP/1.1 200 OK\r\nX: " + string(bytes.Repeat([]byte("a"), 100)) + "\r\n\r\n"
	if _, _, err := readOne(bytes.NewReader([]byte(big)), false, 64); !errors.Is(err, errRespHeadTooLarge) {
		t.Errorf("oversized head: %v", err)
	}
	body := bytes.Repeat([]byte("b"), 1000)
	in := append([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"), body...)
	if info, _, err := readOne(bytes.NewReader(in), false, 64); err != nil || info.bodyLen != 1000 {
		t.Errorf("body larger than the buffer: %+v %v", info, err)
	}
}

// FuzzRespReader checks that the response reader never panics, frames a
// stream the same way however it is split into reads, and agrees with
// fasthttp's response parser on status and body length wherever both accept
// a response. Run: go test -fuzz FuzzRespReader ./bench/
func FuzzRespReader(f *testing.F) {
	for _, c := range respCases {
		f.Add([]byte(c.in), c.head)
	}
	f.Fuzz(func(t *testing.T, in []byte, head bool) {
		info, rest, err := readOne(bytes.NewReader(in), head, 256)
		info1, rest1, err1 := readOne(iotest.OneByteReader(bytes.NewReader(in)), head, 256)
		if (err == nil) != (err1 == nil) || (err == nil && (info != info1 || !bytes.Equal(rest, rest1))) {
			t.Fatalf("split changes the result: whole %+v %q %v, byte by byte %+v %q %v", info, rest, err, info1, rest1, err1)
		}
		if err != nil || info.status == 101 {
			return
		}
		var resp fasthttp.Response
		resp.SkipBody = head
		if ferr := resp.Read(bufio.NewReader(bytes.NewReader(in))); ferr != nil {
			return
		}
		if resp.StatusCode() != info.status {
			t.Fatalf("status %d, fasthttp %d", info.status, resp.StatusCode())
		}
		if !head && int64(len(resp.Body())) != info.bodyLen {
			t.Fatalf("body %d bytes, fasthttp %d (status %d)", info.bodyLen, len(resp.Body()), info.status)
		}
	})
}
