package proxy

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkCheckRequest is the per-request cost of the version, Host and
// Via checks on an ordinary request.
func BenchmarkCheckRequest(b *testing.B) {
	var ctx fasthttp.RequestCtx
	raw := "GET /users/42?fields=name HTTP/1.1\r\nHost: api.example.com:8080\r\nUser-Agent: bench\r\nAccept: */*\r\nVia: 1.1 edge\r\n\r\n"
	if err := ctx.Request.Header.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if st, _, _ := checkRequest(&ctx); st != 0 {
			b.Fatal(st)
		}
	}
}

// BenchmarkAppendVia is the per-request cost of the Via marker and the
// HTTP/1.1 request line on the forward path.
func BenchmarkAppendVia(b *testing.B) {
	var tmpl, h fasthttp.RequestHeader
	raw := "GET / HTTP/1.0\r\nHost: a\r\nVia: 1.0 fred, 1.1 edge\r\n\r\n"
	if err := tmpl.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		b.Fatal(err)
	}
	scratch := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		tmpl.CopyTo(&h)
		scratch = appendVia(&h, seenAll, scratch)
	}
}

// BenchmarkCheckFramingReference runs the existing framing scan over the
// same header block, as a yardstick for BenchmarkCheckRequest on a busy
// machine.
func BenchmarkCheckFramingReference(b *testing.B) {
	raw := []byte("Host: api.example.com:8080\r\nUser-Agent: bench\r\nAccept: */*\r\nVia: 1.1 edge\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if r := checkFraming(raw); r != "" {
			b.Fatal(r)
		}
	}
}
