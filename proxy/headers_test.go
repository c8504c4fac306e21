package proxy

import (
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/bench/origin"
	"github.com/valyala/fasthttp"
)

// hopOrigin answers with hop-by-hop headers of its own, to check they are
// removed on the way back.
func hopOrigin(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Connection", "X-Private-Hop")
		ctx.Response.Header.Set("X-Private-Hop", "secret")
		ctx.Response.Header.Set("Keep-Alive", "timeout=5")
		ctx.Response.Header.Set("Proxy-Authenticate", "Basic")
		ctx.Response.Header.Set("Upgrade", "h2c")
		ctx.Response.Header.Set("X-End-To-End", "kept")
		ctx.SetBodyString("ok")
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

func TestHeadersBothWays(t *testing.T) {
	hop := hopOrigin(t)
	g := startGateway(t, `
[server]
trusted_proxies = ["127.0.0.0/8"]
[[backends]]
name = "origin"
targets = [{ url = "{{ORIGIN}}" }]
[[backends]]
name = "origin-client-host"
targets = [{ url = "{{ORIGIN}}" }]
host_header = "client"
[[backends]]
name = "hop"
targets = [{ url = "`+hop+`" }]
[[groups]]
name = "t"
[[groups.apis]]
name = "echo"
path = "/echo"
backend = "origin"
[[groups.apis]]
name = "echo-client-host"
path = "/echo2"
backend = "origin-client-host"
backend_path = "/echo"
[[groups.apis]]
name = "hop"
path = "/hop"
backend = "hop"
`)
	echo := func(path string, hdr map[string]string) origin.Echo {
		st, _, body := g.do("GET", path, hdr, nil)
		if st != 200 {
			t.Fatalf("status %d: %s", st, body)
		}
		var e origin.Echo
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatal(err)
		}
		return e
	}

	t.Run("request hop-by-hop removed", func(t *testing.T) {
		e := echo("/echo", map[string]string{
			"Connection":          "keep-alive, X-Conn-Named",
			"X-Conn-Named":        "drop me",
			"Keep-Alive":          "timeout=5",
			"Proxy-Authorization": "Basic Zm9vOmJhcg==",
			"Proxy-Connection":    "keep-alive",
			"Te":                  "trailers",
			"Trailer":             "X-Foo",
			"Upgrade":             "websocket",
			"X-End-To-End":        "kept",
		})
		for _, h := range []string{"Connection", "X-Conn-Named", "Keep-Alive", "Proxy-Authorization",
			"Proxy-Connection", "Te", "Trailer", "Upgrade"} {
			if v, ok := e.Headers[h]; ok {
				t.Errorf("%s reached the origin: %q", h, v)
			}
		}
		if e.Headers["X-End-To-End"] != "kept" {
			t.Errorf("end-to-end header lost: %v", e.Headers)
		}
	})
	t.Run("response hop-by-hop removed", func(t *testing.T) {
		st, h, body := g.do("GET", "/hop", nil, nil)
		if st != 200 || string(body) != "ok" {
			t.Fatalf("%d %s", st, body)
		}
		for _, name := range []string{"X-Private-Hop", "Keep-Alive", "Proxy-Authenticate", "Upgrade"} {
			if v := h.Peek(name); len(v) > 0 {
				t.Errorf("%s reached the client: %q", name, v)
			}
		}
		if h.ConnectionClose() {
			t.Error("upstream's Connection header closed the client connection")
		}
		if string(h.Peek("X-End-To-End")) != "kept" {
			t.Error("end-to-end response header lost")
		}
	})
	t.Run("forwarded headers", func(t *testing.T) {
		e := echo("/echo", map[string]string{"X-Forwarded-For": "203.0.113.9", "Host": "api.example.com"})
		if got := e.Headers["X-Forwarded-For"]; got != "203.0.113.9, 127.0.0.1" {
			t.Errorf("X-Forwarded-For %q", got)
		}
		if e.Headers["X-Forwarded-Proto"] != "http" || e.Headers["X-Forwarded-Host"] != "api.example.com" {
			t.Errorf("X-Forwarded-Proto/Host: %v", e.Headers)
		}
		if e.Host != strings.TrimPrefix(g.origin.URL(), "http://") {
			t.Errorf("host_header=target: origin saw Host %q", e.Host)
		}
		e = echo("/echo2", map[string]string{"Host": "api.example.com"})
		if e.Host != "api.example.com" {
			t.Errorf("host_header=client: origin saw Host %q", e.Host)
		}
	})
	t.Run("request id kept or replaced", func(t *testing.T) {
		st, h, _ := g.do("GET", "/echo", map[string]string{"X-Request-Id": "abc-123.X_y:z"}, nil)
		if st != 200 || string(h.Peek("X-Request-Id")) != "abc-123.X_y:z" {
			t.Fatalf("safe id not kept: %q", h.Peek("X-Request-Id"))
		}
		for _, bad := range []string{"has space", strings.Repeat("a", 65), "quote\"", "new\\line"} {
			_, h, body := g.do("GET", "/echo", map[string]string{"X-Request-Id": bad}, nil)
			got := string(h.Peek("X-Request-Id"))
			if got == bad || !validRequestID([]byte(got)) {
				t.Fatalf("unsafe id %q: echoed %q", bad, got)
			}
			var e origin.Echo
			_ = json.Unmarshal(body, &e)
			if e.Headers["X-Request-Id"] != got {
				t.Fatalf("upstream saw %q, client got %q", e.Headers["X-Request-Id"], got)
			}
		}
	})
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cases := []struct {
		peer, xff, want string
	}{
		{"192.0.2.1", "", "192.0.2.1"},
		{"192.0.2.1", "198.51.100.7", "192.0.2.1"}, // untrusted peer: XFF ignored
		{"10.0.0.1", "198.51.100.7", "198.51.100.7"},
		{"10.0.0.1", "198.51.100.7, 10.1.1.1", "198.51.100.7"},
		{"10.0.0.1", "6.6.6.6, 198.51.100.7, 10.1.1.1", "198.51.100.7"}, // spoofed left part ignored
		{"10.0.0.1", "garbage, 10.2.2.2", "10.2.2.2"},                   // malformed hop stops the walk
		{"::1", "2001:db8::5", "2001:db8::5"},
		{"10.0.0.1", "10.3.3.3", "10.3.3.3"}, // all trusted: left-most seen
	}
	for _, c := range cases {
		var h fasthttp.RequestHeader
		if c.xff != "" {
			h.Set("X-Forwarded-For", c.xff)
		}
		got := clientIP(netip.MustParseAddr(c.peer), &h, trusted)
		if got.String() != c.want {
			t.Errorf("peer %s xff %q: got %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
}

func TestSWRRSequence(t *testing.T) {
	seq := swrrSequence([]int{5, 1, 1})
	got := ""
	for _, i := range seq {
		got += string(rune('a' + i))
	}
	if got != "aabacaa" {
		t.Fatalf("smooth sequence %q, want aabacaa (nginx's interleaving)", got)
	}
	seq = swrrSequence([]int{2, 4})
	if len(seq) != 3 {
		t.Fatalf("weights 2,4 should reduce by gcd to a cycle of 3, got %v", seq)
	}
	counts := map[uint16]int{}
	for _, i := range swrrSequence([]int{3, 7, 10}) {
		counts[i]++
	}
	if counts[0] != 3 || counts[1] != 7 || counts[2] != 10 {
		t.Fatalf("shares %v", counts)
	}
}

// TestFailoverOnRefusedTarget: a target that refuses connections is skipped
// for every method, since nothing was sent; weights spread the rest.
func TestFailoverOnRefusedTarget(t *testing.T) {
	o2, err := origin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer o2.Close()
	g := startGateway(t, `
[[backends]]
name = "pool"
targets = [{ url = "http://127.0.0.1:1", weight = 1 }, { url = "{{ORIGIN}}", weight = 1 }, { url = "`+o2.URL()+`", weight = 2 }]
[[groups]]
name = "t"
[[groups.apis]]
name = "any"
path = "/x"
backend = "pool"
`)
	for i := 0; i < 40; i++ {
		method := "GET"
		if i%2 == 1 {
			method = "POST"
		}
		if st, _, body := g.do(method, "/x", nil, []byte("b")); st != 200 {
			t.Fatalf("request %d (%s): %d %s", i, method, st, body)
		}
	}
	a, b := g.origin.Requests(), o2.Requests()
	if a+b != 40 || a < 8 || b < 16 {
		t.Fatalf("spread origin1=%d origin2=%d, want about 1:2 (+ the refused target's share)", a, b)
	}
}
