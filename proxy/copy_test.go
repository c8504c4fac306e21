package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/sluicegw/sluice/store/certs/certstest"
	"github.com/valyala/fasthttp"
)

// Issue 16: bodies are copied once between the sockets' buffers. These
// tests pin down what those changes must keep: exact framing and intact
// bytes at every size around the buffers' edges (the upstream's 32 KiB
// pooled buffers, the client side's 16 KiB write buffer and fasthttp's writev
// above it, the 1 MiB stream threshold), for Content-Length and chunked
// answers and uploads, on one keep-alive connection each, so a body one byte
// long or short shows up as a broken next answer.

// bodySizes straddles every buffer edge on the way.
var bodySizes = []int{0, 1, 4095, 4096, 16383, 16384, 16385, 32767, 32768, 32769, 1 << 20, 1<<20 + 1}

// pattern is n bytes that differ with their offset, so a shifted, doubled
// or dropped piece changes the body.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>9)
	}
	return b
}

// copyOrigin answers GET /cl?size=N with N pattern bytes and a
// Content-Length, GET /chunked?size=N with the same bytes chunked, and
// POST /echo with the request body it received (Content-Length).
func copyOrigin(t testing.TB) string {
	addr, _ := copyOriginCounting(t)
	return addr
}

// copyOriginCounting is copyOrigin that also counts the connections it
// accepted: a gateway that ends every answer cleanly keeps reusing one.
func copyOriginCounting(t testing.TB) (string, *atomic.Int64) {
	return copyOriginOn(t, nil)
}

// copyOriginOn is copyOriginCounting, behind TLS when cfg is set.
func copyOriginOn(t testing.TB, cfg *tls.Config) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	var accepted atomic.Int64
	srv := &fasthttp.Server{MaxRequestBodySize: 4 << 20, ConnState: func(_ net.Conn, st fasthttp.ConnState) {
		if st == fasthttp.StateNew {
			accepted.Add(1)
		}
	}, Handler: func(ctx *fasthttp.RequestCtx) {
		n, _ := strconv.Atoi(string(ctx.QueryArgs().Peek("size")))
		switch string(ctx.Path()) {
		case "/cl":
			ctx.SetBody(pattern(n))
		case "/chunked":
			ctx.SetBodyStream(bytes.NewReader(pattern(n)), -1)
		case "/echo":
			ctx.SetBody(ctx.PostBody())
		default:
			ctx.SetStatusCode(404)
		}
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String(), &accepted
}

// rawClient is one keep-alive client connection that writes requests by
// hand and parses answers with fasthttp's strict reader.
type rawClient struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialClient(t testing.TB, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

// roundTrip sends raw and reads one answer.
func (rc *rawClient) roundTrip(raw []byte, resp *fasthttp.Response) {
	rc.t.Helper()
	_ = rc.c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := rc.c.Write(raw); err != nil {
		rc.t.Fatal(err)
	}
	resp.Reset()
	if err := resp.Read(rc.br); err != nil {
		rc.t.Fatalf("reading the answer to %.40q: %v", raw, err)
	}
}

func chunkedBody(b []byte, piece int) []byte {
	var out []byte
	for len(b) > 0 {
		n := min(piece, len(b))
		out = append(out, strconv.FormatInt(int64(n), 16)...)
		out = append(out, "\r\n"...)
		out = append(out, b[:n]...)
		out = append(out, "\r\n"...)
		b = b[n:]
	}
	return append(out, "0\r\n\r\n"...)
}

// TestCopyAnswersAtBufferEdges: answers of every edge size, with a
// Content-Length and chunked, reach the client byte for byte, framed with
// their exact length, one after another on one keep-alive connection.
func TestCopyAnswersAtBufferEdges(t *testing.T) {
	g := startGateway(t, scriptedBackendConfig(copyOrigin(t), ""))
	for _, mode := range []string{"cl", "chunked"} {
		rc := dialClient(t, g.addr)
		var resp fasthttp.Response
		for _, n := range bodySizes {
			rc.roundTrip(fmt.Appendf(nil, "GET /%s?size=%d HTTP/1.1\r\nHost: x\r\n\r\n", mode, n), &resp)
			if resp.StatusCode() != 200 {
				t.Fatalf("%s %d: status %d", mode, n, resp.StatusCode())
			}
			// An answer the gateway read whole carries its length; one it
			// streamed keeps the upstream's framing.
			if cl := resp.Header.ContentLength(); mode == "cl" && cl != n || mode == "chunked" && cl != n && cl != -1 {
				t.Fatalf("%s %d: Content-Length %d", mode, n, cl)
			}
			if !bytes.Equal(resp.Body(), pattern(n)) {
				t.Fatalf("%s %d: body of %d bytes differs", mode, n, len(resp.Body()))
			}
		}
	}
}

// TestCopyStreamedAnswersAtBufferEdges: with a 4 KiB stream threshold
// every answer above it streams: a Content-Length one through bodyStream's
// WriteTo (the reader's buffered bytes, then ReadFrom from the upstream
// socket, spliced once the client's buffer is flushed), a chunked one through
// fasthttp's decoder. Bytes and framing stay exact, and every answer ends
// cleanly: the gateway keeps using one upstream connection.
func TestCopyStreamedAnswersAtBufferEdges(t *testing.T) {
	addr, accepted := copyOriginCounting(t)
	g := startGateway(t, scriptedBackendConfig(addr, "[server]\nstream_threshold = \"4KiB\"\n"))
	for _, mode := range []string{"cl", "chunked"} {
		rc := dialClient(t, g.addr)
		var resp fasthttp.Response
		for _, n := range append(bodySizes, 4097, 65536, 3<<20+7) {
			rc.roundTrip(fmt.Appendf(nil, "GET /%s?size=%d HTTP/1.1\r\nHost: x\r\n\r\n", mode, n), &resp)
			if resp.StatusCode() != 200 || !bytes.Equal(resp.Body(), pattern(n)) {
				t.Fatalf("%s %d: status %d, body of %d bytes differs", mode, n, resp.StatusCode(), len(resp.Body()))
			}
			if cl := resp.Header.ContentLength(); mode == "cl" && cl != n {
				t.Fatalf("%s %d: Content-Length %d", mode, n, cl)
			}
		}
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("the gateway opened %d upstream connections for sequential answers, want 1 reused", n)
	}
}

// TestCopyUploadsAtBufferEdges: uploads of every edge size, with a
// Content-Length and chunked, reach the upstream byte for byte (it echoes
// them) on one keep-alive connection. Bodies up to the stream threshold are
// buffered and handed to the request without a copy; the largest streams.
func TestCopyUploadsAtBufferEdges(t *testing.T) {
	g := startGateway(t, scriptedBackendConfig(copyOrigin(t), ""))
	for _, chunked := range []bool{false, true} {
		rc := dialClient(t, g.addr)
		var resp fasthttp.Response
		for _, n := range bodySizes {
			body := pattern(n)
			var raw []byte
			if chunked {
				raw = append([]byte("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"), chunkedBody(body, 5000)...)
			} else {
				raw = append(fmt.Appendf(nil, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", n), body...)
			}
			rc.roundTrip(raw, &resp)
			if resp.StatusCode() != 200 || !bytes.Equal(resp.Body(), body) {
				t.Fatalf("chunked=%v %d: status %d, echoed %d bytes, equal=%v", chunked, n, resp.StatusCode(),
					len(resp.Body()), bytes.Equal(resp.Body(), body))
			}
		}
	}
}

// slowConn reads at most 1 KiB at a time, pausing now and then, so the
// gateway's writes to it fill the socket buffers and block half-way.
type slowConn struct {
	net.Conn
	n int
}

func (s *slowConn) Read(p []byte) (int, error) {
	if len(p) > 1024 {
		p = p[:1024]
	}
	s.n++
	if s.n%64 == 0 {
		time.Sleep(time.Millisecond)
	}
	return s.Conn.Read(p)
}

// TestCopySlowReader: a client that reads slowly (a small receive buffer,
// small reads, pauses) gets the large answers and echoes intact, and the
// connection stays in step for the next request.
func TestCopySlowReader(t *testing.T) {
	g := startGateway(t, scriptedBackendConfig(copyOrigin(t), ""))
	rc := dialClient(t, g.addr)
	_ = rc.c.(*net.TCPConn).SetReadBuffer(64 << 10)
	rc.br = bufio.NewReaderSize(&slowConn{Conn: rc.c}, 1024)
	var resp fasthttp.Response
	for _, n := range []int{16385, 1 << 20, 1<<20 + 1} {
		for _, mode := range []string{"cl", "chunked"} {
			rc.roundTrip(fmt.Appendf(nil, "GET /%s?size=%d HTTP/1.1\r\nHost: x\r\n\r\n", mode, n), &resp)
			if resp.StatusCode() != 200 || !bytes.Equal(resp.Body(), pattern(n)) {
				t.Fatalf("%s %d: status %d, %d bytes", mode, n, resp.StatusCode(), len(resp.Body()))
			}
		}
		body := pattern(n)
		rc.roundTrip(append(fmt.Appendf(nil, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", n), body...), &resp)
		if resp.StatusCode() != 200 || !bytes.Equal(resp.Body(), body) {
			t.Fatalf("echo %d: status %d, %d bytes", n, resp.StatusCode(), len(resp.Body()))
		}
	}
}

// TestOpenConnectionsCountedUnwrapped: plain TCP connections reach fasthttp
// unwrapped (so it can writev), and sluice_open_connections still counts
// them: up when accepted, down when fasthttp closes them.
func TestOpenConnectionsCountedUnwrapped(t *testing.T) {
	g := startGateway(t, scriptedBackendConfig(copyOrigin(t), ""))
	base := settledOpenConns()
	var conns []*rawClient
	var resp fasthttp.Response
	for i := 0; i < 3; i++ {
		rc := dialClient(t, g.addr)
		rc.roundTrip([]byte("GET /cl?size=16385 HTTP/1.1\r\nHost: x\r\n\r\n"), &resp)
		if resp.StatusCode() != 200 {
			t.Fatalf("status %d", resp.StatusCode())
		}
		conns = append(conns, rc)
	}
	if d := openConns.Load() - base; d != 3 {
		t.Fatalf("sluice_open_connections moved by %d with 3 clients connected, want 3", d)
	}
	for _, rc := range conns {
		_ = rc.c.Close()
	}
	waitFor(t, func() bool { return openConns.Load() == base })
}

// TestCountingListenerUnwrapsTCP: the listener hands fasthttp the
// *net.TCPConn itself (fasthttp writes head and body with one writev only
// to that type) and counts it; countClosed counts its close exactly once,
// and ignores connections it never counted.
func TestCountingListenerUnwrapsTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
			_, _ = c.Read(make([]byte, 1))
		}
	}()
	before := openConns.Load()
	c, err := countingListener{ln}.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(*net.TCPConn); !ok {
		t.Fatalf("accepted %T, want *net.TCPConn", c)
	}
	if d := openConns.Load() - before; d != 1 {
		t.Fatalf("accept counted %d", d)
	}
	countClosed(c, fasthttp.StateActive)
	countClosed(&clientConn{}, fasthttp.StateClosed) // an in-memory ServeConn connection
	if d := openConns.Load() - before; d != 1 {
		t.Fatalf("after other states: %d", d)
	}
	_ = c.Close()
	countClosed(c, fasthttp.StateClosed)
	if d := openConns.Load() - before; d != 0 {
		t.Fatalf("after close: %d", d)
	}
}

// TestOpenConnectionsCountTunnels: a plain connection a WebSocket tunnel
// takes over stays counted while the tunnel runs (fasthttp reports it
// hijacked, not closed) and is uncounted once, when the tunnel closes it.
func TestOpenConnectionsCountTunnels(t *testing.T) {
	g := startGateway(t, wsConfig(""))
	base := settledOpenConns()
	c, resp, err := dialWS(t, g, "/ws", keyHeader())
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	echoOnce(t, c, websocket.TextMessage, []byte("hello"))
	if d := openConns.Load() - base; d != 1 {
		t.Fatalf("sluice_open_connections moved by %d with one tunnel open, want 1", d)
	}
	_ = c.Close()
	waitFor(t, func() bool { return openConns.Load() == base })
	// Settled: not uncounted twice.
	if v := settledOpenConns(); v != base {
		t.Fatalf("sluice_open_connections %d after the tunnel closed, want %d", v, base)
	}
}

// settledOpenConns reads the process-wide gauge once it stopped moving:
// other tests' gateways in this binary may still be closing connections.
func settledOpenConns() int64 {
	last := openConns.Load()
	for i := 0; i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
		v := openConns.Load()
		if v == last {
			return v
		}
		last = v
	}
	return last
}

// pausingOrigin answers each request with a Content-Length of 3×part bytes,
// sent in three parts with pause between them.
func pausingOrigin(t testing.TB, part int, pause time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	body := pattern(3 * part)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				var req fasthttp.Request
				for req.Read(br) == nil {
					if _, err := c.Write(fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))); err != nil {
						return
					}
					for i := 0; i < 3; i++ {
						if i > 0 {
							time.Sleep(pause)
						}
						if _, err := c.Write(body[i*part : (i+1)*part]); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func pauseConfig(addr, timeout string) string {
	return `
[server]
stream_threshold = "4KiB"
[[backends]]
name = "pausing"
targets = [{ url = "http://` + addr + `" }]
[[groups]]
name = "g"
[[groups.apis]]
name = "all"
path = "/{rest:*}"
backend = "pausing"
timeout = "` + timeout + `"
`
}

// TestCopyStreamedPauseWithinTimeout: a streamed Content-Length answer
// whose upstream pauses mid-body for less than the API's timeout reaches
// the client whole (WriteTo renews the upstream deadline per chunk).
func TestCopyStreamedPauseWithinTimeout(t *testing.T) {
	const part = 20 << 10
	g := startGateway(t, pauseConfig(pausingOrigin(t, part, 150*time.Millisecond), "2s"))
	rc := dialClient(t, g.addr)
	var resp fasthttp.Response
	for i := 0; i < 2; i++ {
		rc.roundTrip([]byte("GET /p HTTP/1.1\r\nHost: x\r\n\r\n"), &resp)
		if resp.StatusCode() != 200 || !bytes.Equal(resp.Body(), pattern(3*part)) {
			t.Fatalf("status %d, %d bytes", resp.StatusCode(), len(resp.Body()))
		}
	}
}

// TestCopyStreamedStallCut: an upstream that stops mid-body for longer than
// the API's timeout has its streamed answer cut: the client never sees it
// complete, and its connection is closed.
func TestCopyStreamedStallCut(t *testing.T) {
	const part = 20 << 10
	g := startGateway(t, pauseConfig(pausingOrigin(t, part, 3*time.Second), "300ms"))
	start := time.Now()
	out, closed := rawExchange(t, g.addr, "GET /p HTTP/1.1\r\nHost: x\r\n\r\n")
	if !closed {
		t.Fatal("client connection left open after a stalled upstream answer")
	}
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Fatalf("the stalled answer was cut after %v, not at the 300ms timeout", took)
	}
	var resp fasthttp.Response
	if err := resp.Read(bufio.NewReader(bytes.NewReader([]byte(out)))); err == nil {
		t.Fatalf("the cut answer parses as complete (%d bytes)", len(resp.Body()))
	}
}

// TestCopyHTTPSUpstreamStreams: behind TLS the upstream connection is no
// *net.TCPConn, so a streamed Content-Length answer goes through
// copyThrough (Read with a pooled buffer) instead of ReadFrom/splice. The
// bytes arrive exact, buffered and streamed, Content-Length and chunked, and
// every answer ends cleanly: one TLS connection serves them all.
func TestCopyHTTPSUpstreamStreams(t *testing.T) {
	upCA := certstest.NewCA(t, "origin CA")
	srvCert := upCA.Issue(t, certstest.Options{DNS: []string{"origin.internal"}, CN: "origin.internal"})
	addr, accepted := copyOriginOn(t, &tls.Config{Certificates: []tls.Certificate{srvCert.TLS}})
	cfg := strings.ReplaceAll(`
[server]
listen = ["{{PLAIN}}"]
stream_threshold = "4KiB"
[[backends]]
name = "private"
targets = [{ url = "https://{{UP}}", tls = { ca = "file:{{DIR}}/up-ca.pem", server_name = "origin.internal" } }]
[[groups]]
name = "g"
[[groups.apis]]
name = "private"
path = "/{p:*}"
backend = "private"
`, "{{UP}}", addr)
	g := startTLSGateway(t, cfg, func(g *tlsGateway) { certstest.WriteFile(t, g.dir+"/up-ca.pem", upCA.PEM) })
	rc := dialClient(t, g.plain)
	var resp fasthttp.Response
	for _, mode := range []string{"cl", "chunked"} {
		for _, n := range []int{4095, 16385, 32769, 1<<20 + 1} {
			rc.roundTrip(fmt.Appendf(nil, "GET /%s?size=%d HTTP/1.1\r\nHost: x\r\n\r\n", mode, n), &resp)
			if resp.StatusCode() != 200 || !bytes.Equal(resp.Body(), pattern(n)) {
				t.Fatalf("%s %d: status %d, %d bytes differ", mode, n, resp.StatusCode(), len(resp.Body()))
			}
			if cl := resp.Header.ContentLength(); mode == "cl" && cl != n {
				t.Fatalf("%s %d: Content-Length %d", mode, n, cl)
			}
		}
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("%d TLS connections to the origin for sequential answers, want 1 reused", n)
	}
}
