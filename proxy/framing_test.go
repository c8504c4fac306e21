package proxy

import (
	"strings"
	"testing"
)

func TestCheckFraming(t *testing.T) {
	cases := []struct {
		raw  string
		want string // substring of the reason; "" = accepted
	}{
		{"Host: a\r\nContent-Length: 5\r\n\r\n", ""},
		{"Host: a\r\nTransfer-Encoding: chunked\r\n\r\n", ""},
		{"Host: a\r\ntransfer-encoding:  Chunked \r\n\r\n", ""},
		{"Host: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "both"},
		{"Host: a\r\nTransfer-Encoding: chunked\r\ncontent-length: 0\r\n\r\n", "both"},
		{"Host: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "more than one Content-Length"},
		{"Host: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", "more than one Content-Length"},
		{"Host: a\r\nContent-Length: 5, 5\r\n\r\n", "invalid Content-Length"},
		{"Host: a\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length"},
		{"Host: a\r\nContent-Length: +5\r\n\r\n", "invalid Content-Length"},
		{"Host: a\r\nContent-Length:\r\n\r\n", "invalid Content-Length"},
		{"Host: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "only chunked"},
		{"Host: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "more than one Transfer-Encoding"},
		{"Host: a\r\nContent-Length : 5\r\n\r\n", "whitespace"},
		{"Host: a\r\nX-A: b\r\n c\r\n\r\n", "folding"},
		{"Host: a\r\nnovalue\r\n\r\n", "without a name"},
		{"", ""},
	}
	for _, c := range cases {
		got := checkFraming([]byte(c.raw))
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("checkFraming(%q) = %q, want %q", c.raw, got, c.want)
		}
	}
}

// TestAmbiguousFramingRejected sends smuggling-shaped requests over real
// sockets: each must get 400, the connection closed, and nothing may reach
// the origin.
func TestAmbiguousFramingRejected(t *testing.T) {
	g := startGateway(t, `
[[backends]]
name = "origin"
targets = [{ url = "{{ORIGIN}}" }]
[[groups]]
name = "t"
[[groups.apis]]
name = "sink"
path = "/sink"
backend = "origin"
`)
	reqs := map[string]string{
		"CL+TE": "POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"0\r\n\r\nGET /sink HTTP/1.1\r\nHost: x\r\n\r\n",
		"TE+CL": "POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" +
			"5\r\nhello\r\n0\r\n\r\n",
		"two CL":  "POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 11\r\n\r\nhello world",
		"CL list": "POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 11\r\n\r\nhello world",
		"TE gzip": "POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	}
	for name, raw := range reqs {
		t.Run(name, func(t *testing.T) {
			before := g.origin.Requests()
			out, closed := rawExchange(t, g.addr, raw)
			if !strings.HasPrefix(out, "HTTP/1.1 400 ") {
				t.Fatalf("want 400, got %q", out)
			}
			if strings.Count(out, "HTTP/1.1 ") != 1 {
				t.Fatalf("more than one response: a second request was smuggled: %q", out)
			}
			st, h, body := parseRaw(t, out)
			wantErrorNoID(t, st, h, body, 400, bodyCode(body))
			if !closed {
				t.Fatal("connection left open after ambiguous framing")
			}
			if n := g.origin.Requests() - before; n != 0 {
				t.Fatalf("%d request(s) reached the origin", n)
			}
		})
	}
	// A well-framed request on the same gateway still passes.
	if st, _, body := g.do("POST", "/sink", nil, []byte("hello")); st != 200 || !strings.Contains(string(body), `"bytes":5`) {
		t.Fatalf("clean request: %d %s", st, body)
	}
}

func bodyCode(body []byte) string {
	if strings.Contains(string(body), CodeMalformedRequest) {
		return CodeMalformedRequest
	}
	return "unexpected code"
}

func FuzzCheckFraming(f *testing.F) {
	f.Add([]byte("Host: a\r\nContent-Length: 5\r\n\r\n"))
	f.Add([]byte("Host: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Add([]byte("X: y\r\n z\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		reason := checkFraming(raw)
		// Accepted input has at most one CL, at most one TE, never both.
		if reason == "" {
			lower := strings.ToLower(string(raw))
			cl := strings.Count(lower, "\ncontent-length:") + btoi(strings.HasPrefix(lower, "content-length:"))
			te := strings.Count(lower, "\ntransfer-encoding:") + btoi(strings.HasPrefix(lower, "transfer-encoding:"))
			if cl > 1 || te > 1 || cl+te > 1 {
				t.Fatalf("accepted ambiguous framing %q", raw)
			}
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
