package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// bodyOrigin remembers every request body it received and whether it
// arrived complete (the message ended properly) or cut.
type bodyOrigin struct {
	addr     string
	entered  atomic.Int64
	mu       sync.Mutex
	complete []string
	cut      []string
}

func startBodyOrigin(t testing.TB) *bodyOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &bodyOrigin{addr: ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.entered.Add(1)
		b, err := io.ReadAll(r.Body)
		o.mu.Lock()
		if err != nil {
			o.cut = append(o.cut, string(b))
		} else {
			o.complete = append(o.complete, string(b))
		}
		o.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return o
}

func (o *bodyOrigin) counts() (complete, cut int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.complete), len(o.cut)
}

func (o *bodyOrigin) bodies() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.complete, "|") + "#" + strings.Join(o.cut, "|")
}

// halfClose sends raw, closes the sending side (the client is done, or
// gone) and returns everything read until the gateway closes.
func halfClose(t *testing.T, addr, raw string) (string, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	var ne net.Error
	return string(b), !(asNetErr(err, &ne) && ne.Timeout())
}

const uploadServer = `
[server]
stream_threshold = "4KiB"
read_timeout = "1s"
`

const chunkedHead = "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"

// bigChunk is one valid chunk larger than the 4 KiB stream threshold, so
// the body streams upstream.
var bigChunk = "2000\r\n" + strings.Repeat("z", 0x2000) + "\r\n"

func wantStatusLine(t *testing.T, out, want string) {
	t.Helper()
	if !strings.HasPrefix(out, want) {
		line, _, _ := strings.Cut(out, "\r\n")
		t.Fatalf("answer %q, want %q", line, want)
	}
}

// TestDefect2TruncatedChunkedRequestNotCompleted: a client that sends
// "5\r\nhello\r\n" and closes must not make the origin receive a complete
// request. fasthttp's chunked reader reports that cut as io.EOF, like a
// real end, and its chunked writer then adds the terminating chunk.
func TestDefect2TruncatedChunkedRequestNotCompleted(t *testing.T) {
	o := startBodyOrigin(t)
	g := startGateway(t, scriptedBackendConfig(o.addr, uploadServer))

	t.Run("buffered", func(t *testing.T) {
		out, closed := halfClose(t, g.addr, chunkedHead+"5\r\nhello\r\n")
		wantStatusLine(t, out, "HTTP/1.1 400")
		if !closed {
			t.Fatal("connection left open after a cut body")
		}
		time.Sleep(100 * time.Millisecond)
		if complete, cut := o.counts(); complete != 0 || cut != 0 {
			t.Fatalf("origin got %d complete and %d cut requests, want none: %s", complete, cut, o.bodies())
		}
	})
	t.Run("streamed", func(t *testing.T) {
		out, closed := halfClose(t, g.addr, chunkedHead+bigChunk)
		wantStatusLine(t, out, "HTTP/1.1 400")
		if !closed {
			t.Fatal("connection left open after a cut body")
		}
		waitFor(t, func() bool { c, k := o.counts(); return c+k > 0 })
		time.Sleep(50 * time.Millisecond)
		if complete, cut := o.counts(); complete != 0 || cut != 1 {
			t.Fatalf("origin got %d complete and %d cut requests, want the upload aborted: %.80s", complete, cut, o.bodies())
		}
	})
}

// TestDefect2TruncatedUpstreamAnswerNotCompleted: an upstream that closes
// in the middle of a chunked answer, or short of its Content-Length while
// the answer streams, must not give the client a clean end.
func TestDefect2TruncatedUpstreamAnswerNotCompleted(t *testing.T) {
	o := startScripted(t, func(req *fasthttp.Request) (string, bool) {
		if string(req.URI().Path()) == "/chunked" {
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", true
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n" + strings.Repeat("y", 5000), true
	})
	g := startGateway(t, scriptedBackendConfig(o.addr, uploadServer))

	out, closed := rawExchange(t, g.addr, "GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n")
	if !closed {
		t.Fatal("client connection left open after a cut upstream answer")
	}
	if strings.Contains(out, "\r\n0\r\n\r\n") {
		t.Fatalf("the client got a terminating chunk for a cut answer: %q", out)
	}
	// Completed by a client's parser, the cut answer must fail.
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := resp.Read(bufio.NewReader(strings.NewReader(out))); err == nil && resp.StatusCode() == 200 {
		t.Fatalf("the cut chunked answer parses as a complete 200: %q", out)
	}

	out, closed = rawExchange(t, g.addr, "GET /long HTTP/1.1\r\nHost: x\r\n\r\n")
	if !closed {
		t.Fatal("client connection left open after a short upstream answer")
	}
	resp.Reset()
	if err := resp.Read(bufio.NewReader(strings.NewReader(out))); err == nil && resp.StatusCode() == 200 {
		t.Fatalf("the short Content-Length answer parses as complete: %.120q", out)
	}
}

// TestDefect7LaxChunkFramingRejected: chunk data not followed by CRLF is
// refused with 400 and the connection closed; the bytes are never
// forwarded, buffered or streamed.
func TestDefect7LaxChunkFramingRejected(t *testing.T) {
	o := startBodyOrigin(t)
	g := startGateway(t, scriptedBackendConfig(o.addr, uploadServer))

	out, closed := rawExchange(t, g.addr, chunkedHead+"1\r\nAB0\r\n\r\n")
	wantStatusLine(t, out, "HTTP/1.1 400")
	if !closed {
		t.Fatal("connection left open after broken chunk framing")
	}
	time.Sleep(100 * time.Millisecond)
	if complete, cut := o.counts(); complete != 0 || cut != 0 {
		t.Fatalf("origin got %d complete and %d cut requests: %s", complete, cut, o.bodies())
	}

	out, closed = rawExchange(t, g.addr, chunkedHead+bigChunk+"1\r\nAB0\r\n\r\n")
	wantStatusLine(t, out, "HTTP/1.1 400")
	if !closed {
		t.Fatal("connection left open after broken chunk framing")
	}
	waitFor(t, func() bool { c, k := o.counts(); return c+k > 0 })
	time.Sleep(50 * time.Millisecond)
	if complete, _ := o.counts(); complete != 0 || strings.ContainsAny(o.bodies(), "AB") {
		t.Fatalf("broken framing reached the origin: %d complete, bodies %.80q", complete, o.bodies())
	}
}

// TestDefect8ClientBodyErrorsAreTheClients: a malformed chunk, a cut body
// and a stalled upload are answered 400 / 400 / 408, counted in
// sluice_client_body_errors_total, and never as upstream errors.
func TestDefect8ClientBodyErrorsAreTheClients(t *testing.T) {
	o := startBodyOrigin(t)
	g := startGateway(t, scriptedBackendConfig(o.addr, uploadServer))
	upstreamErrs := func() uint64 {
		return upstreamErrTimeout.Get() + upstreamErrConnect.Get() + upstreamErrNoConn.Get() + upstreamErrReset.Get()
	}
	stall := func(raw string) string {
		c, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, raw)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c) // the gateway answers after read_timeout and closes
		return string(b)
	}
	for _, tc := range []struct {
		name, want string
		counter    interface{ Get() uint64 }
		send       func() string
	}{
		{"malformed buffered", "HTTP/1.1 400", clientBodyMalformed, func() string {
			out, _ := rawExchange(t, g.addr, chunkedHead+"3\r\nabcX\r\n0\r\n\r\n")
			return out
		}},
		{"malformed streamed", "HTTP/1.1 400", clientBodyMalformed, func() string {
			out, _ := rawExchange(t, g.addr, chunkedHead+bigChunk+"zz\r\n")
			return out
		}},
		{"truncated streamed", "HTTP/1.1 400", clientBodyTruncated, func() string {
			out, _ := halfClose(t, g.addr, chunkedHead+bigChunk+"10\r\nabc")
			return out
		}},
		{"truncated Content-Length", "HTTP/1.1 400", clientBodyTruncated, func() string {
			out, _ := halfClose(t, g.addr, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 9000\r\n\r\n"+strings.Repeat("q", 6000))
			return out
		}},
		{"stalled buffered", "HTTP/1.1 408", clientBodyTimeout, func() string {
			return stall(chunkedHead + "5\r\nhel")
		}},
		{"stalled streamed", "HTTP/1.1 408", clientBodyTimeout, func() string {
			return stall(chunkedHead + bigChunk + "100\r\nabc")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, upBefore := tc.counter.Get(), upstreamErrs()
			out := tc.send()
			wantStatusLine(t, out, tc.want)
			if !strings.Contains(out, `"code":"MalformedRequest"`) && !strings.Contains(out, `"code":"RequestTimeout"`) {
				t.Fatalf("error body: %q", out)
			}
			if tc.counter.Get() != before+1 {
				t.Fatalf("client body counter moved %d, want 1", tc.counter.Get()-before)
			}
			if upstreamErrs() != upBefore {
				t.Fatalf("counted as an upstream error")
			}
		})
	}
	if complete, _ := o.counts(); complete != 0 {
		t.Fatalf("origin got %d complete requests: %s", complete, o.bodies())
	}
}

// TestDefect6SlowUploadsDoNotStarveThePool is the issue's "520 slow chunked
// uploads hold all 512 upstream connections", scaled down: a pool of 8,
// 12 slow uploads of small bodies and 6 of large ones. Small bodies are
// buffered before any upstream connection is taken; at most
// max_streaming_uploads (4) large ones hold connections, the rest get 503
// TooManyStreamingUploads; everyone else keeps being served.
func TestDefect6SlowUploadsDoNotStarveThePool(t *testing.T) {
	o := startBodyOrigin(t)
	g := startGateway(t, `
[server]
stream_threshold = "4KiB"
max_streaming_uploads = 4
[[backends]]
name = "scripted"
pool_size = 8
targets = [{ url = "http://`+o.addr+`" }]
[[groups]]
name = "g"
[[groups.apis]]
name = "all"
path = "/{rest:*}"
backend = "scripted"
`)
	open := func(raw string) net.Conn {
		c, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for i := 0; i < 12; i++ {
		open(chunkedHead + "10\r\n0123456789abcdef\r\n") // and then nothing
	}
	var rejected atomic.Int64
	for i := 0; i < 6; i++ {
		c := open(chunkedHead + bigChunk)
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			if strings.HasPrefix(line, "HTTP/1.1 503") {
				rejected.Add(1)
			}
		}()
	}
	waitFor(t, func() bool { return o.entered.Load() == 4 && rejected.Load() == 2 })
	for i := 0; i < 20; i++ {
		if st, _, body := g.do("GET", "/ping", nil, nil); st != 200 {
			t.Fatalf("request %d while slow uploads run: %d %s", i, st, body)
		}
	}
	if n := o.entered.Load(); n != 4+20 {
		t.Fatalf("origin saw %d requests, want the 4 streaming uploads and the 20 GETs", n)
	}
}

// TestStreamingUploadRejectedJSON: the 503 over max_streaming_uploads is
// the one JSON error shape with its own code.
func TestStreamingUploadRejectedJSON(t *testing.T) {
	o := startBodyOrigin(t)
	g := startGateway(t, scriptedBackendConfig(o.addr, `
[server]
stream_threshold = "4KiB"
max_streaming_uploads = 1
`))
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, chunkedHead+bigChunk)
	waitFor(t, func() bool { return o.entered.Load() == 1 })
	st, h, body := g.do("PUT", "/big", nil, []byte(strings.Repeat("b", 5000)))
	wantError(t, st, h, body, 503, CodeTooManyUploads)
	// A body under the threshold is buffered and needs no slot.
	if st, _, body := g.do("PUT", "/small", nil, []byte("small")); st != 200 {
		t.Fatalf("small upload: %d %s", st, body)
	}
	// The slot comes back when the upload ends.
	_, _ = io.WriteString(c, "0\r\n\r\n")
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("the streaming upload answered %q", line)
	}
	if st, _, body := g.do("PUT", "/big", nil, []byte(strings.Repeat("b", 5000))); st != 200 {
		t.Fatalf("after the slot came back: %d %s", st, body)
	}
}

// TestChunkedStreamEOFProbe guards the fasthttp internals chunkedEnded
// relies on: a fasthttp upgrade that changes them fails here first.
func TestChunkedStreamEOFProbe(t *testing.T) {
	if !streamEOF.found {
		t.Fatal("fasthttp's requestStream.eof was not found or does not mean the terminating chunk was read")
	}
}
