package proxy

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/bench/origin"
)

const integrityKey = "integrity-key-0123456789abcdef"

// integrityConfig forwards to the origin's /echo with every kind of header
// the gateway sets: forwarding, request id, trace context, the consumer's
// name and headers, and a transform.
const integrityConfig = `
[[backends]]
name = "origin"
targets = [{ url = "{{ORIGIN}}" }]
[[consumers]]
name = "gold"
api_keys = ["` + integrityKey + `"]
headers = { X-Consumer-Tier = "gold" }
[[groups]]
name = "t"
[groups.cors]
allow_origins = ["https://app.example.com"]
[[groups.apis]]
name = "echo"
path = "/echo"
backend = "origin"
[groups.apis.auth]
modes = ["key"]
[groups.apis.transform.request_headers]
set = { "X-Gateway-Set" = "{consumer}" }
[[groups.apis]]
name = "denied"
path = "/denied"
backend = "origin"
[groups.apis.ip_access]
deny = ["127.0.0.0/8", "::1"]
[[groups.apis]]
name = "mock"
path = "/mock"
backend = "canned"
[[backends]]
name = "canned"
mock = { status = 200, body = "hi" }
`

// TestDefect1ConnectionCannotStripGatewayHeaders: a client that names the
// gateway's own headers in Connection used to make the origin receive none
// of them, because the hop-by-hop strip ran after they were set.
func TestDefect1ConnectionCannotStripGatewayHeaders(t *testing.T) {
	g := startGateway(t, integrityConfig)
	gatewaySet := []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Request-Id",
		"Traceparent", "X-Consumer-Name", "X-Consumer-Tier", "X-Gateway-Set"}
	st, _, body := g.do("GET", "/echo", map[string]string{
		"X-Api-Key":  integrityKey,
		"Connection": "keep-alive, " + strings.Join(gatewaySet, ", ") + ", X-Client-Hop",
		// Forged identity: must be replaced, never passed through.
		"X-Consumer-Name": "admin",
		"X-Client-Hop":    "must go",
	}, nil)
	if st != 200 {
		t.Fatalf("status %d: %s", st, body)
	}
	var e origin.Echo
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	for _, h := range gatewaySet {
		if e.Headers[h] == "" {
			t.Errorf("origin did not receive %s (headers: %v)", h, e.Headers)
		}
	}
	if got := e.Headers["X-Consumer-Name"]; got != "gold" {
		t.Errorf("X-Consumer-Name %q, want gold", got)
	}
	if got := e.Headers["X-Gateway-Set"]; got != "gold" {
		t.Errorf("X-Gateway-Set %q, want gold", got)
	}
	if _, ok := e.Headers["X-Client-Hop"]; ok {
		t.Error("a header the client named in Connection reached the origin")
	}
	if _, ok := e.Headers["Connection"]; ok && strings.Contains(e.Headers["Connection"], "X-") {
		t.Errorf("the client's Connection value reached the origin: %q", e.Headers["Connection"])
	}
}

// TestConnectionCannotUnframeTheBody: naming Content-Length in Connection
// must not make the gateway forward the request without its body (the body
// would then be read by the origin as a second request).
func TestConnectionCannotUnframeTheBody(t *testing.T) {
	g := startGateway(t, integrityConfig)
	smuggled := "GET /echo HTTP/1.1\r\nHost: smuggled\r\n\r\n"
	raw := "POST /echo HTTP/1.1\r\nHost: x\r\nX-Api-Key: " + integrityKey + "\r\nConnection: close, Content-Length, Host\r\n" +
		"Content-Length: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled
	resp, _ := rawExchange(t, g.addr, raw)
	if !strings.HasPrefix(resp, "HTTP/1.1 200") {
		t.Fatalf("answer %q", resp)
	}
	if !strings.Contains(resp, `"body":"GET /echo HTTP/1.1\r\nHost: smuggled`) {
		t.Fatalf("the origin did not receive the body as the body: %q", resp)
	}
	if n := g.origin.Requests(); n != 1 {
		t.Fatalf("origin saw %d requests, want 1", n)
	}
}

// TestDefect17EveryAnswerGetsTheResponsePhase: the CORS preflight 204 had no
// X-Request-Id, and an IP-denied 403 had no CORS headers although every
// answer of an API with CORS should carry them.
func TestDefect17EveryAnswerGetsTheResponsePhase(t *testing.T) {
	g := startGateway(t, integrityConfig)
	st, h, _ := g.do("OPTIONS", "/echo", map[string]string{"Origin": "https://app.example.com",
		"Access-Control-Request-Method": "GET"}, nil)
	if st != 204 {
		t.Fatalf("preflight status %d", st)
	}
	if len(h.Peek("X-Request-Id")) == 0 {
		t.Error("preflight 204 without X-Request-Id")
	}
	if string(h.Peek("Access-Control-Allow-Origin")) != "https://app.example.com" {
		t.Errorf("preflight without CORS headers: %q", h.Peek("Access-Control-Allow-Origin"))
	}
	st, h, body := g.do("GET", "/denied", map[string]string{"Origin": "https://app.example.com"}, nil)
	wantError(t, st, h, body, 403, CodeIPDenied)
	if string(h.Peek("Access-Control-Allow-Origin")) != "https://app.example.com" {
		t.Error("IP-denied 403 without CORS headers: a browser cannot read the error")
	}
	for _, path := range []string{"/mock", "/nowhere", "/echo"} {
		_, h, _ := g.do("GET", path, nil, nil)
		if len(h.Peek("X-Request-Id")) == 0 {
			t.Errorf("%s: answer without X-Request-Id", path)
		}
	}
}
