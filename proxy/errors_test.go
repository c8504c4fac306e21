package proxy

import (
	"bufio"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

const errorsConfig = `
[server]
max_body_size = "1KiB"
max_header_size = "2KiB"

[[backends]]
name = "origin"
targets = [{ url = "{{ORIGIN}}" }]

[[backends]]
name = "refused"
targets = [{ url = "http://127.0.0.1:1" }]

[[backends]]
name = "reset"
targets = [{ url = "{{RESET}}" }]

[[backends]]
name = "tiny"
targets = [{ url = "{{ORIGIN}}" }]
pool_size = 1

[[groups]]
name = "t"

[[groups.apis]]
name = "ok"
path = "/ok/{id}"
backend = "origin"
backend_path = "/echo?id={id}"

[[groups.apis]]
name = "get-only"
methods = ["GET", "HEAD"]
path = "/get-only"
backend = "origin"

[[groups.apis]]
name = "refused"
path = "/refused"
backend = "refused"

[[groups.apis]]
name = "reset"
path = "/reset"
backend = "reset"

[[groups.apis]]
name = "slow"
path = "/slow"
backend = "origin"
backend_path = "/?delay=3s"
timeout = "200ms"

[[groups.apis]]
name = "tiny"
path = "/tiny"
backend = "tiny"
backend_path = "/?delay=1s"
`

// resetServer accepts connections, reads a little and closes them with a
// reset, like a crashing upstream.
func resetServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 1024)
			_, _ = c.Read(buf)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			c.Close()
		}
	}()
	return "http://" + ln.Addr().String()
}

func startErrorsGateway(t *testing.T) *gateway {
	return startGateway(t, strings.ReplaceAll(errorsConfig, "{{RESET}}", resetServer(t)))
}

func TestErrorStatuses(t *testing.T) {
	g := startErrorsGateway(t)

	t.Run("200 through", func(t *testing.T) {
		st, h, body := g.do("GET", "/ok/7?x=1", nil, nil)
		if st != 200 || !strings.Contains(string(body), `"uri":"/echo?id=7\u0026x=1"`) {
			t.Fatalf("status %d body %s", st, body)
		}
		if len(h.Peek("X-Request-Id")) == 0 {
			t.Fatal("no X-Request-Id on success")
		}
	})
	t.Run("400 unknown stage", func(t *testing.T) {
		st, h, body := g.do("GET", "/ok/7", map[string]string{"X-Ca-Stage": "PROD"}, nil)
		wantError(t, st, h, body, 400, CodeUnknownStage)
	})
	t.Run("404 no API", func(t *testing.T) {
		before := g.origin.Requests()
		st, h, body := g.do("GET", "/nothing/here", nil, nil)
		wantError(t, st, h, body, 404, CodeNotFound)
		if g.origin.Requests() != before {
			t.Fatal("a 404 reached the origin")
		}
	})
	t.Run("405 with Allow", func(t *testing.T) {
		st, h, body := g.do("DELETE", "/get-only", nil, nil)
		wantError(t, st, h, body, 405, CodeMethodNotAllowed)
		if allow := string(h.Peek("Allow")); allow != "GET, HEAD" {
			t.Fatalf("Allow %q, want \"GET, HEAD\"", allow)
		}
	})
	t.Run("413 body over limit", func(t *testing.T) {
		before := g.origin.Requests()
		st, h, body := g.do("POST", "/ok/1", nil, make([]byte, 2048))
		wantError(t, st, h, body, 413, CodePayloadTooLarge)
		if !h.ConnectionClose() {
			t.Fatal("413 must close the connection: the body was not read")
		}
		if g.origin.Requests() != before {
			t.Fatal("an oversized body reached the origin")
		}
		// The limit is inclusive: exactly 1 KiB passes.
		if st, _, body := g.do("POST", "/ok/1", nil, make([]byte, 1024)); st != 200 {
			t.Fatalf("1 KiB body: status %d %s", st, body)
		}
	})
	t.Run("431 header too large", func(t *testing.T) {
		raw := "GET /ok/1 HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 4096) + "\r\n\r\n"
		out, closed := rawExchange(t, g.addr, raw)
		st, h, body := parseRaw(t, out)
		wantErrorNoID(t, st, h, body, 431, CodeHeaderTooLarge)
		if !closed {
			t.Fatal("connection not closed after 431")
		}
	})
	t.Run("400 malformed request line", func(t *testing.T) {
		out, closed := rawExchange(t, g.addr, "GARBAGE\r\n\r\n")
		st, h, body := parseRaw(t, out)
		wantErrorNoID(t, st, h, body, 400, CodeMalformedRequest)
		if !closed {
			t.Fatal("connection not closed after a malformed request")
		}
	})
	t.Run("502 refused", func(t *testing.T) {
		st, h, body := g.do("GET", "/refused", nil, nil)
		wantError(t, st, h, body, 502, CodeBadGateway)
	})
	t.Run("502 reset", func(t *testing.T) {
		st, h, body := g.do("GET", "/reset", nil, nil)
		wantError(t, st, h, body, 502, CodeBadGateway)
	})
	t.Run("504 timeout", func(t *testing.T) {
		start := time.Now()
		st, h, body := g.do("GET", "/slow", nil, nil)
		wantError(t, st, h, body, 504, CodeGatewayTimeout)
		if time.Since(start) > 2900*time.Millisecond {
			t.Fatalf("504 came after %v: the 200ms API timeout was not applied", time.Since(start))
		}
	})
	t.Run("503 no free upstream connection", func(t *testing.T) {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.do("GET", "/tiny", nil, nil) // holds the only pooled connection for 1s
		}()
		time.Sleep(200 * time.Millisecond)
		st, h, body := g.do("GET", "/tiny", nil, nil)
		wantError(t, st, h, body, 503, CodeNoTargetAvailable)
		wg.Wait()
	})
	// The process still serves after every error above.
	if st, _, _ := g.do("GET", "/ok/2", nil, nil); st != 200 {
		t.Fatalf("after the errors: status %d", st)
	}
}

func TestOverloaded(t *testing.T) {
	g := startGateway(t, `
[server]
max_concurrent_requests = 1
[[backends]]
name = "origin"
targets = [{ url = "{{ORIGIN}}" }]
[[groups]]
name = "t"
[[groups.apis]]
name = "slow"
path = "/slow"
backend = "origin"
backend_path = "/?delay=800ms"
[[groups.apis]]
name = "fast"
path = "/fast"
backend = "origin"
`)
	done := make(chan int)
	go func() {
		st, _, _ := g.do("GET", "/slow", nil, nil)
		done <- st
	}()
	waitFor(t, func() bool { return g.srv.InFlight() == 1 })
	st, h, body := g.do("GET", "/fast", nil, nil)
	wantError(t, st, h, body, 503, CodeOverloaded)
	if st := <-done; st != 200 {
		t.Fatalf("the request in flight got %d", st)
	}
	if st, _, _ := g.do("GET", "/fast", nil, nil); st != 200 {
		t.Fatalf("after the slow one finished: %d", st)
	}
}

// parseRaw reads one HTTP response from raw bytes.
func parseRaw(t *testing.T, raw string) (int, *fasthttp.ResponseHeader, []byte) {
	t.Helper()
	var resp fasthttp.Response
	if err := resp.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatalf("cannot parse response %q: %v", raw, err)
	}
	h := &fasthttp.ResponseHeader{}
	resp.Header.CopyTo(h)
	return resp.StatusCode(), h, append([]byte(nil), resp.Body()...)
}

// wantErrorNoID is wantError for answers to requests too broken to carry
// their own id: the gateway still generates one.
func wantErrorNoID(t *testing.T, status int, h *fasthttp.ResponseHeader, body []byte, wantStatus int, wantCode string) {
	t.Helper()
	wantError(t, status, h, body, wantStatus, wantCode)
	var e errorBody
	_ = json.Unmarshal(body, &e)
	if strings.Contains(string(body), "fasthttp") {
		t.Fatalf("fasthttp's own error text leaked: %s", body)
	}
}
