package origin

import (
	"bytes"
	"errors"
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// HeaderAnswer steers a replay origin's answer from the request headers
// rather than the query: "STATUS SIZE DELAY_US", e.g. "200 5120 1500" answers
// 200 with 5120 body bytes after 1.5 ms. A capacity plan (`sluice-bench
// plan`) replays an operator's logged traffic through the operator's own
// config, whose backend_path templates rewrite paths and queries as they
// please (the quickstart's users API calls /echo?user={id}); a header passes
// through the gateway untouched, so every logged request gets its logged
// answer size, status and backend latency whatever its route does to the URL.
const HeaderAnswer = "X-Sluice-Replay-Answer"

// StartReplay is Start for a replay origin: a request carrying HeaderAnswer
// is answered as it says, any other request as by the plain origin (health
// checks, /echo, ?size=...).
func StartReplay(addr string) (*Server, error) {
	ln, err := listenLoopback(addr)
	if err != nil {
		return nil, err
	}
	return ServeReplay(ln), nil
}

// ServeReplay is Serve for a replay origin, with the same server options.
func ServeReplay(ln net.Listener) *Server { return serve(ln, (*Server).handleReplay) }

func (s *Server) handleReplay(ctx *fasthttp.RequestCtx) {
	v := ctx.Request.Header.Peek(HeaderAnswer)
	if len(v) == 0 {
		s.handle(ctx)
		return
	}
	s.requests.Add(1)
	status, size, delay, err := ParseAnswer(v)
	if err != nil {
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
		ctx.SetBodyString("bad " + HeaderAnswer + " header\n")
		return
	}
	answerReplay(ctx, status, size, delay)
}

// MaxReplayDelay is the longest delay an answer header gets: the
// gateway's longest API timeout, so no logged backend time is cut short.
const MaxReplayDelay = maxDelay

var errAnswer = errors.New("origin: answer header wants STATUS SIZE DELAY_US")

// ParseAnswer parses a HeaderAnswer value without allocating.
func ParseAnswer(v []byte) (status, size int, delay time.Duration, err error) {
	var f [3][]byte
	for i := range f {
		v = bytes.TrimLeft(v, " ")
		end := bytes.IndexByte(v, ' ')
		if end < 0 {
			end = len(v)
		}
		f[i], v = v[:end], v[end:]
	}
	if len(bytes.TrimSpace(v)) > 0 {
		return 0, 0, 0, errAnswer
	}
	status, err1 := fasthttp.ParseUint(f[0])
	size, err2 := fasthttp.ParseUint(f[1])
	us, err3 := fasthttp.ParseUint(f[2])
	if err1 != nil || err2 != nil || err3 != nil || status < 100 || status > 599 || size > maxSize {
		return 0, 0, 0, errAnswer
	}
	return status, size, min(time.Duration(us)*time.Microsecond, maxDelay), nil
}

// AppendAnswer appends a HeaderAnswer value.
func AppendAnswer(dst []byte, status, size int, delay time.Duration) []byte {
	dst = fasthttp.AppendUint(dst, status)
	dst = append(dst, ' ')
	dst = fasthttp.AppendUint(dst, size)
	dst = append(dst, ' ')
	return fasthttp.AppendUint(dst, int(max(delay, 0)/time.Microsecond))
}

// answerReplay waits out the backend latency and answers. The sleep holds
// only this connection's goroutine, as a slow backend would.
func answerReplay(ctx *fasthttp.RequestCtx, status, size int, delay time.Duration) {
	if delay > 0 {
		time.Sleep(delay)
	}
	if st := ctx.RequestBodyStream(); st != nil {
		_, _ = io.Copy(io.Discard, st) // read an upload whole, as a backend would
	}
	ctx.SetStatusCode(status)
	if size == 0 {
		return
	}
	// The answer is JSON of exactly size bytes: APIs mostly answer JSON,
	// and a composite backend merges its calls' answers as JSON objects,
	// so filler bytes would fail every composite call with 502 where
	// production answered.
	ctx.Response.Header.SetContentType("application/json")
	switch {
	case size < len(jsonHead)+len(jsonTail):
		ctx.Response.SetBodyRaw(jsonShort[size])
	case size <= len(filler):
		// Appended into the response's reused buffer: no allocation.
		ctx.Response.AppendBody(jsonHead)
		ctx.Response.AppendBody(filler[:size-len(jsonHead)-len(jsonTail)])
		ctx.Response.AppendBody(jsonTail)
	default:
		ctx.Response.SetBodyStream(&jsonFill{n: int64(size)}, size)
	}
}

// A replay answer of n bytes is {"r":"abc..."}, or for n < 8 the shortest
// JSON of n bytes: "0", then "{}" padded with spaces.
var (
	jsonHead  = []byte(`{"r":"`)
	jsonTail  = []byte(`"}`)
	jsonShort = [...][]byte{nil, []byte("0"), []byte("{}"), []byte("{} "), []byte("{}  "), []byte("{}   "),
		[]byte("{}    "), []byte("{}     ")}
)

// jsonFill produces an n-byte JSON answer (n >= 8) without holding it in
// memory: jsonHead, filler bytes (JSON-safe letters), jsonTail.
type jsonFill struct{ off, n int64 }

func (r *jsonFill) Read(p []byte) (int, error) {
	k := 0
	for k < len(p) && r.off < r.n {
		var src []byte
		switch tail := r.n - int64(len(jsonTail)); {
		case r.off < int64(len(jsonHead)):
			src = jsonHead[r.off:]
		case r.off >= tail:
			src = jsonTail[r.off-tail:]
		default:
			src = filler[:min(int64(len(filler)), tail-r.off)]
		}
		c := copy(p[k:], src)
		k += c
		r.off += int64(c)
	}
	if k == 0 {
		return 0, io.EOF
	}
	return k, nil
}
