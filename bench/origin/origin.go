// Package origin is the bench and test backend: a small fasthttp server on
// loopback whose answers are steered by the request itself, so one process
// serves every scenario and test without configuration.
//
//	any path        ?size=N body of N bytes (default 1024), ?status=C, ?delay=D (Go duration, at most 30s)
//	POST /sink      reads and discards the body, answers {"bytes":N,"md5":"..."}
//	/echo           answers a JSON description of the request it got
//
// Every answer carries X-Origin-Method, X-Origin-Uri and X-Origin-Request-Id so
// tests can see what reached the origin.
package origin

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"
)

// maxDelay bounds ?delay so a typo cannot hang a test run.
const maxDelay = 30 * time.Second

// maxSize bounds ?size; larger bodies are streamed in chunks, never buffered.
const maxSize = 1 << 40

// Server is a running origin. Safe for concurrent use.
type Server struct {
	ln       net.Listener
	srv      *fasthttp.Server
	requests atomic.Uint64
	done     chan struct{}
}

// Start listens on addr (loopback only; "127.0.0.1:0" picks a free port) and serves until Close.
func Start(addr string) (*Server, error) {
	ln, err := listenLoopback(addr)
	if err != nil {
		return nil, err
	}
	return Serve(ln), nil
}

// listenLoopback listens on addr, refusing any address but loopback.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, errors.New("origin: refusing to listen on non-loopback address " + addr)
	}
	return net.Listen("tcp", addr)
}

// Serve runs an origin on an existing listener (tests use in-memory listeners).
func Serve(ln net.Listener) *Server { return serve(ln, (*Server).handle) }

// serve runs an origin answering with handler (the plain or the replay one).
func serve(ln net.Listener, handler func(*Server, *fasthttp.RequestCtx)) *Server {
	s := &Server{ln: ln, done: make(chan struct{})}
	s.srv = &fasthttp.Server{
		Handler:                       func(ctx *fasthttp.RequestCtx) { handler(s, ctx) },
		Name:                          "sluice-origin",
		NoDefaultDate:                 true,
		NoDefaultContentType:          true,
		DisableHeaderNamesNormalizing: false,
		StreamRequestBody:             true,
		MaxRequestBodySize:            1 << 20,
		ReadBufferSize:                16 << 10,
		IdleTimeout:                   90 * time.Second,
	}
	go func() {
		_ = s.srv.Serve(ln)
		close(s.done)
	}()
	return s
}

// Addr is the listening address, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is "http://" + Addr().
func (s *Server) URL() string { return "http://" + s.Addr() }

// Requests is how many requests the origin has answered.
func (s *Server) Requests() uint64 { return s.requests.Load() }

// Close stops the origin and closes its open connections. The listener is
// closed first: fasthttp's Shutdown waits forever when it runs before Serve
// has registered the listener, which a Close right after Start can do.
func (s *Server) Close() error {
	_ = s.ln.Close()
	err := s.srv.Shutdown()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
	return err
}

var (
	pathSink = []byte("/sink")
	pathEcho = []byte("/echo")
	pathWS   = []byte("/ws")
	filler   = func() []byte {
		b := make([]byte, 64<<10)
		for i := range b {
			b[i] = 'a' + byte(i%26)
		}
		return b
	}()
)

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	s.requests.Add(1)
	h := &ctx.Response.Header
	h.SetBytesV("X-Origin-Method", ctx.Method())
	h.SetBytesV("X-Origin-Uri", ctx.RequestURI())
	if id := ctx.Request.Header.Peek("X-Request-Id"); len(id) > 0 {
		h.SetBytesV("X-Origin-Request-Id", id)
	}
	args := ctx.QueryArgs()
	if d := args.Peek("delay"); len(d) > 0 {
		if dur, err := time.ParseDuration(string(d)); err == nil && dur > 0 {
			time.Sleep(min(dur, maxDelay))
		}
	}
	path := ctx.Path()
	switch {
	case string(path) == string(pathSink):
		s.sink(ctx)
		return
	case string(path) == string(pathEcho):
		echo(ctx)
		return
	case string(path) == string(pathWS) && websocket.FastHTTPIsWebSocketUpgrade(ctx):
		s.websocketEcho(ctx)
		return
	}
	status := fasthttp.StatusOK
	if c, err := fasthttp.ParseUint(args.Peek("status")); err == nil && c >= 100 && c <= 599 {
		status = c
	}
	ctx.SetStatusCode(status)
	size := 1024
	if n, err := fasthttp.ParseUint(args.Peek("size")); err == nil {
		size = min(n, maxSize)
	}
	h.SetContentType("application/octet-stream")
	if size <= len(filler) {
		ctx.Response.SetBodyRaw(filler[:size])
		return
	}
	ctx.Response.SetBodyStream(&fillReader{left: int64(size)}, size)
}

// fillReader produces n filler bytes without holding them in memory.
type fillReader struct{ left int64 }

func (r *fillReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	n := copy(p, filler)
	if int64(n) > r.left {
		n = int(r.left)
	}
	r.left -= int64(n)
	return n, nil
}

func (s *Server) sink(ctx *fasthttp.RequestCtx) {
	sum := md5.New()
	var n int64
	var err error
	if st := ctx.RequestBodyStream(); st != nil {
		n, err = io.Copy(sum, st)
	} else {
		var m int
		m, err = sum.Write(ctx.PostBody())
		n = int64(m)
	}
	if err != nil {
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
		ctx.SetBodyString(`{"error":"` + err.Error() + `"}`)
		return
	}
	ctx.SetContentType("application/json")
	digest := sum.Sum(nil)
	ctx.SetBodyString(`{"bytes":` + strconv.FormatInt(n, 10) + `,"md5":"` + hex.EncodeToString(digest) +
		`","md5_base64":"` + base64.StdEncoding.EncodeToString(digest) + `"}`)
}

// Echo is the JSON body /echo answers with.
type Echo struct {
	Method  string            `json:"method"`
	URI     string            `json:"uri"`
	Host    string            `json:"host"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

func echo(ctx *fasthttp.RequestCtx) {
	e := Echo{
		Method:  string(ctx.Method()),
		URI:     string(ctx.RequestURI()),
		Host:    string(ctx.Host()),
		Headers: map[string]string{},
		Body:    string(ctx.PostBody()),
	}
	for k, v := range ctx.Request.Header.All() {
		e.Headers[string(k)] = string(v)
	}
	b, _ := json.Marshal(&e)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// wsUpgrader accepts any origin: the stub stands behind the gateway, which
// applies the API's CORS policy.
var wsUpgrader = websocket.FastHTTPUpgrader{
	ReadBufferSize:  4 << 10,
	WriteBufferSize: 4 << 10,
	CheckOrigin:     func(*fasthttp.RequestCtx) bool { return true },
}

// websocketEcho answers a WebSocket upgrade on /ws and echoes every text
// and binary message back as it came, until the peer closes. Pings are
// answered with pongs by the library.
func (s *Server) websocketEcho(ctx *fasthttp.RequestCtx) {
	err := wsUpgrader.Upgrade(ctx, func(c *websocket.Conn) {
		defer c.Close()
		c.SetReadLimit(64 << 20)
		for {
			kind, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(kind, msg); err != nil {
				return
			}
		}
	})
	if err != nil {
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
	}
}
