package cors

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func benchPolicy(b *testing.B) *Policy {
	return mustCompile(b, Config{
		AllowOrigins:  []string{"https://app.example.com", "https://admin.example.com", "https://*.example.org"},
		AllowMethods:  []string{"GET", "POST", "PUT", "DELETE"},
		AllowHeaders:  []string{"Authorization", "Content-Type", "X-Request-Id"},
		ExposeHeaders: []string{"X-Total"},
		MaxAge:        Duration(600e9),
	})
}

func BenchmarkPreflight(b *testing.B) {
	p := benchPolicy(b)
	req := preflightReq("https://api.example.org", "PUT", "content-type, authorization")
	var resp fasthttp.Response
	b.ReportAllocs()
	for b.Loop() {
		resp.Reset()
		if !p.Preflight(req, &resp) {
			b.Fatal("refused")
		}
	}
}

func BenchmarkDecorate(b *testing.B) {
	p := benchPolicy(b)
	req := fasthttp.AcquireRequest()
	req.Header.Set("Origin", "https://app.example.com")
	var resp fasthttp.Response
	b.ReportAllocs()
	for b.Loop() {
		resp.Reset()
		p.Decorate(req, &resp)
	}
}

func BenchmarkOriginAllowed(b *testing.B) {
	p := benchPolicy(b)
	for _, o := range []string{"https://app.example.com", "https://a.b.example.org", "https://evil.example.net"} {
		in := []byte(o)
		b.Run(o[8:], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.OriginAllowed(in)
			}
		})
	}
}
