package proxy

import (
	"bufio"
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestAccessLogQuery: with include_query on, the logged path carries the
// query string as sent, masked parameters replaced; with it off, no query.
// Sent as raw request lines so that a fragment and odd bytes reach the
// gateway unchanged.
func TestAccessLogQuery(t *testing.T) {
	for _, tc := range []struct {
		name, accessLog, target, want string
	}{
		{"off", "", "/items/1?token=secret&x=1", "/items/1"},
		{"on", "include_query = true\nmasked_params = [\"token\"]\n", "/items/2?token=secret&x=1", "/items/2?token=***&x=1"},
		{"on fragment", "include_query = true\n", "/items/3?a=1#frag", "/items/3?a=1"},
		{"on empty", "include_query = true\n", "/items/4?", "/items/4"},
		{"on absolute", "include_query = true\nmasked_params = []\n", "http://logs.test/items/5?k=v", "/items/5?k=v"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logPath := filepath.Join(t.TempDir(), "access.log")
			cfg := logGatewayConfig(t, fileSinkTOML("query_file", logPath))
			cfg = strings.Replace(cfg, "[access_log]\n", "[access_log]\n"+tc.accessLog, 1)
			g := startGateway(t, cfg)
			conn, err := net.Dial("tcp", g.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte("GET " + tc.target + " HTTP/1.1\r\nHost: logs.test\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			var resp fasthttp.Response
			if err := resp.Read(bufio.NewReader(conn)); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode() != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode(), resp.Body())
			}
			shutdownGateway(t, g)
			lines := readLogFile(t, logPath)
			if len(lines) != 1 {
				t.Fatalf("%d records, want 1", len(lines))
			}
			if lines[0].Path != tc.want {
				t.Fatalf("logged path %q, want %q", lines[0].Path, tc.want)
			}
		})
	}
}

// FuzzRawQuery: rawQuery, which slices the request target, agrees with
// fasthttp's own URI parser on every target fasthttp accepts.
func FuzzRawQuery(f *testing.F) {
	for _, s := range []string{"/", "/a?b=c", "/a?", "/a?b#c", "/a#b?c", "http://h/p?q=1", "*", "/?", "/a??b", "/%3F?x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		var u fasthttp.URI
		if err := u.Parse(nil, []byte(target)); err != nil {
			return
		}
		got, want := rawQuery([]byte(target)), u.QueryString()
		if !bytes.Equal(got, want) {
			t.Fatalf("rawQuery(%q) = %q, fasthttp says %q", target, got, want)
		}
	})
}
