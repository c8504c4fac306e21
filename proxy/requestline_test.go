package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// seenRequest is what a recordingOrigin received: the request line and the
// header lines exactly as they arrived.
type seenRequest struct {
	line    string
	headers []string
}

// header returns the values of every field named name, in order.
func (r seenRequest) header(name string) []string {
	var out []string
	for _, h := range r.headers {
		k, v, ok := strings.Cut(h, ":")
		if ok && strings.EqualFold(k, name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// recordingOrigin is a loopback origin that records the raw request line
// and header block of every request and answers 200 "ok". It reads no
// bodies: tests send it bodiless requests.
type recordingOrigin struct {
	ln   net.Listener
	mu   sync.Mutex
	seen []seenRequest
}

func startRecordingOrigin(t *testing.T) *recordingOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &recordingOrigin{ln: ln}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go o.serve(c)
		}
	}()
	return o
}

func (o *recordingOrigin) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		var r seenRequest
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			if line == "" {
				break
			}
			if r.line == "" {
				r.line = line
			} else {
				r.headers = append(r.headers, line)
			}
		}
		o.mu.Lock()
		o.seen = append(o.seen, r)
		o.mu.Unlock()
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
			return
		}
	}
}

func (o *recordingOrigin) URL() string { return "http://" + o.ln.Addr().String() }

func (o *recordingOrigin) requests() []seenRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]seenRequest(nil), o.seen...)
}

func (o *recordingOrigin) last(t *testing.T) seenRequest {
	t.Helper()
	rs := o.requests()
	if len(rs) == 0 {
		t.Fatal("the origin saw no request")
	}
	return rs[len(rs)-1]
}

// gatewayTo serves cfg with {{ORIGIN}} pointing at o.
func gatewayTo(t *testing.T, o *recordingOrigin, cfg string) *gateway {
	t.Helper()
	return startGateway(t, strings.ReplaceAll(cfg, "{{ORIGIN}}", o.URL()))
}

const requestLineConfig = `
[server]
max_body_size = "1KiB"
trusted_proxies = ["127.0.0.1"]
[[backends]]
name = "origin"
targets = [{ url = "{{ORIGIN}}" }]
[[groups]]
name = "t"
[[groups.apis]]
name = "any"
path = "/x"
methods = ["GET", "POST"]
backend = "origin"
[groups.apis.transform.request_headers]
set = { "X-Client-Ip" = "{client_ip}" }
`

// rawError parses a raw answer and checks the JSON error shape, the code,
// and that the connection was closed.
func rawError(t *testing.T, out string, closed bool, wantStatus int, wantCode string) errorBody {
	t.Helper()
	st, h, body := parseRaw(t, out)
	e := wantError(t, st, h, body, wantStatus, wantCode)
	if !closed {
		t.Fatalf("connection left open after %d", wantStatus)
	}
	return e
}

// TestDefect9UpstreamAlwaysHTTP11: whatever version the client speaks, the
// origin gets HTTP/1.1; versions other than 1.0 and 1.1 get 505 and never
// reach the origin.
func TestDefect9UpstreamAlwaysHTTP11(t *testing.T) {
	o := startRecordingOrigin(t)
	g := gatewayTo(t, o, requestLineConfig)
	for _, v := range []string{"HTTP/1.0", "HTTP/1.1"} {
		out, _ := rawExchange(t, g.addr, "GET /x "+v+"\r\nHost: a.test\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(out, "HTTP/1.1 200") {
			t.Fatalf("%s: answer %q", v, out)
		}
		r := o.last(t)
		if r.line != "GET /x HTTP/1.1" {
			t.Fatalf("%s: the origin got request line %q, want HTTP/1.1", v, r.line)
		}
		want := "1.1 sluice-"
		if v == "HTTP/1.0" {
			want = "1.0 sluice-"
		}
		if via := r.header("Via"); len(via) != 1 || !strings.HasPrefix(via[0], want) {
			t.Fatalf("%s: Via %q, want one field starting %q", v, via, want)
		}
	}
	before := len(o.requests())
	for _, v := range []string{"HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3.0", "HTTP/9.9"} {
		out, closed := rawExchange(t, g.addr, "GET /x "+v+"\r\nHost: a.test\r\nX-Request-Id: ver-1\r\n\r\n")
		e := rawError(t, out, closed, fasthttp.StatusHTTPVersionNotSupported, CodeHTTPVersionNotSupported)
		if e.Error.RequestID != "ver-1" {
			t.Fatalf("%s: request_id %q, want the client's", v, e.Error.RequestID)
		}
	}
	if n := len(o.requests()); n != before {
		t.Fatalf("%d requests with an unsupported version reached the origin", n-before)
	}
}

// TestDefect10HostUserinfoRejected: a Host with userinfo used to route and
// forward as the part after '@'. Every Host that is not a host name, IPv4 or
// [IPv6] with an optional port is refused with 400 and a close.
func TestDefect10HostUserinfoRejected(t *testing.T) {
	o := startRecordingOrigin(t)
	g := gatewayTo(t, o, requestLineConfig)
	for _, host := range []string{"good.test", "good.test:8080", "127.0.0.1", "[::1]:80", "[2001:db8::1]", "a_b.test"} {
		out, _ := rawExchange(t, g.addr, "GET /x HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(out, "HTTP/1.1 200") {
			t.Fatalf("Host %q: answer %q", host, out)
		}
	}
	before := len(o.requests())
	bad := map[string]string{
		"userinfo":             "GET /x HTTP/1.1\r\nHost: good.test@evil.test\r\n\r\n",
		"userinfo with pass":   "GET /x HTTP/1.1\r\nHost: u:p@evil.test\r\n\r\n",
		"slash":                "GET /x HTTP/1.1\r\nHost: evil.test/x\r\n\r\n",
		"comma":                "GET /x HTTP/1.1\r\nHost: a.test,b.test\r\n\r\n",
		"quote":                "GET /x HTTP/1.1\r\nHost: a\"b\r\n\r\n",
		"percent":              "GET /x HTTP/1.1\r\nHost: a%2eb\r\n\r\n",
		"space inside":         "GET /x HTTP/1.1\r\nHost: a b\r\n\r\n",
		"empty port":           "GET /x HTTP/1.1\r\nHost: a.test:\r\n\r\n",
		"port zero":            "GET /x HTTP/1.1\r\nHost: a.test:0\r\n\r\n",
		"port too big":         "GET /x HTTP/1.1\r\nHost: a.test:65536\r\n\r\n",
		"two ports":            "GET /x HTTP/1.1\r\nHost: a.test:80:81\r\n\r\n",
		"port only":            "GET /x HTTP/1.1\r\nHost: :80\r\n\r\n",
		"unclosed bracket":     "GET /x HTTP/1.1\r\nHost: [::1\r\n\r\n",
		"zone":                 "GET /x HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n",
		"v4 in brackets":       "GET /x HTTP/1.1\r\nHost: [127.0.0.1]\r\n\r\n",
		"garbage after ]":      "GET /x HTTP/1.1\r\nHost: [::1]x\r\n\r\n",
		"two Host fields":      "GET /x HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n",
		"no Host in 1.1":       "GET /x HTTP/1.1\r\nX-A: b\r\n\r\n",
		"absolute userinfo":    "GET http://good.test@evil.test/x HTTP/1.1\r\nHost: good.test\r\n\r\n",
		"absolute bad port":    "GET http://good.test:99999/x HTTP/1.1\r\nHost: good.test\r\n\r\n",
		"long host":            "GET /x HTTP/1.1\r\nHost: " + strings.Repeat("a", 254) + "\r\n\r\n",
		"userinfo, 1.0 client": "GET /x HTTP/1.0\r\nHost: good.test@evil.test\r\n\r\n",
	}
	for name, raw := range bad {
		t.Run(name, func(t *testing.T) {
			out, closed := rawExchange(t, g.addr, raw)
			rawError(t, out, closed, fasthttp.StatusBadRequest, CodeMalformedRequest)
		})
	}
	if n := len(o.requests()); n != before {
		t.Fatalf("%d requests with a bad Host reached the origin", n-before)
	}
	// HTTP/1.0 may omit Host.
	if out, _ := rawExchange(t, g.addr, "GET /x HTTP/1.0\r\n\r\n"); !strings.HasPrefix(out, "HTTP/1.1 200") {
		t.Fatalf("HTTP/1.0 without Host: %q", out)
	}
}

func TestValidHost(t *testing.T) {
	good := []string{"", "a", "a.test", "A-Z.test:1", "x:65535", "1.2.3.4", "1.2.3.4:80", "[::1]", "[::ffff:1.2.3.4]:443",
		"[2001:db8::1]:8080", "a~b_c", strings.Repeat("a", 253)}
	bad := []string{"a@b", "@b", "a b", "a/b", "a\\b", "a:", ":1", "a:0", "a:65536", "a:123456", "a:8a", "a:80:80", "[::1",
		"[::1]:", "[::1]a", "[]", "[1.2.3.4]", "[fe80::1%eth0]", "[fe80::1%25eth0]", "[v1.x]", "a%41", "a!b", "a;b",
		"a,b", "a\"b", "a<b", strings.Repeat("a", 254), "\x00", "é.test"}
	for _, h := range good {
		if !validHost([]byte(h)) {
			t.Errorf("validHost(%q) = false, want true", h)
		}
	}
	for _, h := range bad {
		if validHost([]byte(h)) {
			t.Errorf("validHost(%q) = true, want false", h)
		}
	}
}

// TestDefect11ExpectOverLimitGets413First: a Content-Length over
// max_body_size with Expect: 100-continue is answered 413 at once, before
// any 100 Continue, with the JSON error and the client's request id.
func TestDefect11ExpectOverLimitGets413First(t *testing.T) {
	o := startRecordingOrigin(t)
	g := gatewayTo(t, o, requestLineConfig)
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = io.WriteString(c, "POST /x HTTP/1.1\r\nHost: a.test\r\nX-Request-Id: expect-1\r\n"+
		"Content-Length: 1048576\r\nExpect: 100-continue\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	first := make([]byte, len("HTTP/1.1 413"))
	if _, err := io.ReadFull(c, first); err != nil {
		t.Fatalf("no answer before the deadline: %v", err)
	}
	if string(first) != "HTTP/1.1 413" {
		t.Fatalf("first bytes %q, want HTTP/1.1 413 (no 100 Continue first)", first)
	}
	rest, _ := io.ReadAll(c) // the gateway closes: ReadAll ends at EOF, not the deadline
	st, h, body := parseRaw(t, string(first)+string(rest))
	e := wantError(t, st, h, body, fasthttp.StatusRequestEntityTooLarge, CodePayloadTooLarge)
	if e.Error.RequestID != "expect-1" {
		t.Fatalf("request_id %q, want the client's", e.Error.RequestID)
	}
	if !h.ConnectionClose() {
		t.Fatal("413 before the body must close the connection")
	}
	if len(o.requests()) != 0 {
		t.Fatal("the refused request reached the origin")
	}

	// Within the limit, the client gets 100 Continue and then the answer.
	c2, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_, _ = io.WriteString(c2, "POST /x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
	_ = c2.SetReadDeadline(time.Now().Add(2 * time.Second))
	br := bufio.NewReader(c2)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("within the limit: first line %q (%v), want 100 Continue", line, err)
	}
	_, _ = io.WriteString(c2, "hello")
	all, _ := io.ReadAll(br)
	if !bytes.Contains(all, []byte("HTTP/1.1 200")) {
		t.Fatalf("within the limit: answer %q", all)
	}
}

// TestDefect12BackendIsOwnListener508: a backend whose target is the
// gateway's own listener used to turn one request into hundreds of internal
// hops until the pool ran dry. The Via marker stops it at the second
// arrival: the client gets 508, and the gateway accepted exactly two
// connections (the client's and its own one hop).
func TestDefect12BackendIsOwnListener508(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counted := &acceptCounter{Listener: ln}
	cfgPath := filepath.Join(t.TempDir(), "sluice.toml")
	writeFile(t, cfgPath, `
[[backends]]
name = "self"
targets = [{ url = "http://`+ln.Addr().String()+`" }]
[[groups]]
name = "t"
[[groups.apis]]
name = "loop"
path = "/loop"
backend = "self"
`)
	srv := New(Options{})
	if _, err := NewReloader(srv, Source{Name: cfgPath, Path: cfgPath}).Reload(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(counted) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	waitFor(t, srv.Ready)

	out, _ := rawExchange(t, ln.Addr().String(), "GET /loop HTTP/1.1\r\nHost: a.test\r\nX-Request-Id: loop-1\r\nConnection: close\r\n\r\n")
	st, h, body := parseRaw(t, out)
	e := wantError(t, st, h, body, fasthttp.StatusLoopDetected, CodeLoopDetected)
	if e.Error.RequestID != "loop-1" {
		t.Fatalf("request_id %q, want the client's", e.Error.RequestID)
	}
	if n := counted.n.Load(); n != 2 {
		t.Fatalf("the gateway accepted %d connections for one request, want 2 (client + one hop)", n)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

type acceptCounter struct {
	net.Listener
	n atomic.Int64
}

func (l *acceptCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// TestViaKeepsOtherHops: a client's Via fields (one list over several
// fields) are kept in order before this hop; another gateway's marker, and
// a longer id that merely starts with ours, are not loops.
func TestViaKeepsOtherHops(t *testing.T) {
	o := startRecordingOrigin(t)
	g := gatewayTo(t, o, requestLineConfig)
	own := string(viaMarker[:])
	out, _ := rawExchange(t, g.addr, "GET /x HTTP/1.1\r\nHost: a.test\r\nVia: 1.0 fred\r\n"+
		"Via: 1.1 sluice-0000000000000000, 1.1 "+own+"0 (longer)\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 200") {
		t.Fatalf("answer %q", out)
	}
	via := o.last(t).header("Via")
	want := "1.0 fred, 1.1 sluice-0000000000000000, 1.1 " + own + "0 (longer), 1.1 " + own
	if len(via) != 1 || via[0] != want {
		t.Fatalf("Via %q, want one field %q", via, want)
	}
	for _, v := range []string{"1.1 " + own, "1.0 a, 1.1 " + own + " (comment)", "1.1 " + own + ",1.1 b", "1.1\t" + own} {
		out, closed := rawExchange(t, g.addr, "GET /x HTTP/1.1\r\nHost: a.test\r\nVia: "+v+"\r\n\r\n")
		rawError(t, out, closed, fasthttp.StatusLoopDetected, CodeLoopDetected)
	}
}

// TestDefect15ZonedForwardedForNeverReachesTemplates: from a trusted proxy,
// an X-Forwarded-For hop with an IPv6 zone used to become the client IP,
// zone text included, in templates and logs. A zoned hop is malformed: the
// walk stops and the client is the proxy itself.
func TestDefect15ZonedForwardedForNeverReachesTemplates(t *testing.T) {
	o := startRecordingOrigin(t)
	g := gatewayTo(t, o, requestLineConfig)
	for _, xff := range []string{`2001:db8::1%"><script>`, `2001:db8::1%eth0`, `6.6.6.6, fe80::1%25lo`} {
		st, _, body := g.do("GET", "/x", map[string]string{"X-Forwarded-For": xff}, nil)
		if st != 200 {
			t.Fatalf("XFF %q: status %d %s", xff, st, body)
		}
		got := o.last(t).header("X-Client-Ip")
		if len(got) != 1 || got[0] != "127.0.0.1" {
			t.Fatalf("XFF %q: the template saw client %q, want the trusted peer 127.0.0.1", xff, got)
		}
	}
	// Several X-Forwarded-For fields are one list, right-most last; the
	// origin gets them as one field with the peer appended.
	out, _ := rawExchange(t, g.addr, "GET /x HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: 6.6.6.6\r\n"+
		"X-Forwarded-For: 198.51.100.7\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 200") {
		t.Fatalf("answer %q", out)
	}
	r := o.last(t)
	if got := r.header("X-Client-Ip"); len(got) != 1 || got[0] != "198.51.100.7" {
		t.Fatalf("client %q, want 198.51.100.7", got)
	}
	if got := r.header("X-Forwarded-For"); len(got) != 1 || got[0] != "6.6.6.6, 198.51.100.7, 127.0.0.1" {
		t.Fatalf("X-Forwarded-For %q, want one field with the peer appended", got)
	}
}

// TestParseErrorsCarryRequestID: fasthttp's own parse-error answers have
// the JSON shape, a generated X-Request-Id matching request_id, and close
// the connection, whatever part of the header is broken.
func TestParseErrorsCarryRequestID(t *testing.T) {
	o := startRecordingOrigin(t)
	g := gatewayTo(t, o, requestLineConfig)
	for _, raw := range []string{
		"GET /x HTTP/1.1\r\nX-Request-Id: p-1\r\nHost: a\r\nContent-Length: abc\r\n\r\n",
		"GET /x HTTP/1.1\r\nX-Request-Id: p-1\r\nHost: a\r\nBad Line\r\n\r\n",
		"GET /x HTTP/1.1\r\nX-Request-Id: p-1\r\nHost: a\r\nX\x01: b\r\n\r\n",
		"GET /x HTTP/1.1\r\nX-Request-Id: p-1\r\nHost: a\r\nX: b\x00c\r\n\r\n",
		"GET /x HTTP/1.1\r\nX-Request-Id: p-1\r\nHost: \r\n\r\n",
		"GET /x HTTP/1.1\r\nX-Request-Id: p-1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
		"GET /x HTTP/2\r\nHost: a\r\n\r\n",
		"GET /x\r\nHost: a\r\n\r\n",
		"GET  HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		out, closed := rawExchange(t, g.addr, raw)
		rawError(t, out, closed, fasthttp.StatusBadRequest, CodeMalformedRequest)
	}
	if len(o.requests()) != 0 {
		t.Fatal("a malformed request reached the origin")
	}
}

// TestParseErrorEchoesClientRequestID: when fasthttp fails after the header
// was parsed (a body read after 100 Continue), parseError echoes the
// client's valid X-Request-Id like every other answer, and makes one for an
// invalid or missing id.
func TestParseErrorEchoesClientRequestID(t *testing.T) {
	s := New(Options{})
	for _, c := range []struct{ sent, want string }{
		{"client-id-1", "client-id-1"},
		{"", ""},
		{"bad id with spaces", ""},
	} {
		var ctx fasthttp.RequestCtx
		if c.sent != "" {
			ctx.Request.Header.Set("X-Request-Id", c.sent)
		}
		s.parseError(&ctx, errors.New("cannot read the chunked body"))
		var h fasthttp.ResponseHeader
		ctx.Response.Header.CopyTo(&h)
		e := wantError(t, ctx.Response.StatusCode(), &h, ctx.Response.Body(), fasthttp.StatusBadRequest, CodeMalformedRequest)
		if c.want != "" && e.Error.RequestID != c.want {
			t.Fatalf("sent %q: request_id %q, want %q", c.sent, e.Error.RequestID, c.want)
		}
		if c.want == "" && (e.Error.RequestID == c.sent || !validRequestID([]byte(e.Error.RequestID))) {
			t.Fatalf("sent %q: request_id %q, want a generated one", c.sent, e.Error.RequestID)
		}
	}
}

// TestEveryConnectionFieldIsStripped: the headers named by a second
// Connection field are hop-by-hop too, and long lists are honoured whole.
func TestEveryConnectionFieldIsStripped(t *testing.T) {
	o := startRecordingOrigin(t)
	g := gatewayTo(t, o, requestLineConfig)
	long := strings.Repeat("X-Pad-Name-That-Is-Long, ", 20) + "X-C"
	out, _ := rawExchange(t, g.addr, "GET /x HTTP/1.1\r\nHost: a.test\r\nConnection: keep-alive, X-A\r\n"+
		"Connection: X-B\r\nConnection: "+long+"\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\nX-Kept: 4\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 200") {
		t.Fatalf("answer %q", out)
	}
	r := o.last(t)
	for _, name := range []string{"X-A", "X-B", "X-C", "Connection"} {
		if v := r.header(name); len(v) != 0 {
			t.Errorf("%s reached the origin: %q", name, v)
		}
	}
	if v := r.header("X-Kept"); len(v) != 1 {
		t.Errorf("X-Kept lost: %q", v)
	}
}
