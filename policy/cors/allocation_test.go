//go:build !race

package cors

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func TestAllocsPreflightAndDecorate(t *testing.T) {
	for _, cfg := range []Config{
		{AllowOrigins: []string{"https://app.example.com", "https://*.example.org"}, AllowMethods: []string{"GET", "PUT"}, AllowHeaders: []string{"Content-Type", "Authorization"}, ExposeHeaders: []string{"X-Total"}, AllowCredentials: true, MaxAge: Duration(600e9)},
		{AllowOrigins: []string{"*"}, AllowMethods: []string{"*"}, AllowHeaders: []string{"*"}, AllowCredentials: true},
	} {
		p := mustCompile(t, cfg)
		pre := preflightReq("https://a.example.org", "PUT", "content-type, authorization")
		bad := preflightReq("https://evil.test", "PUT", "")
		actual := fasthttp.AcquireRequest()
		actual.Header.Set("Origin", "https://app.example.com")
		var resp fasthttp.Response
		n := testing.AllocsPerRun(1000, func() {
			resp.Reset()
			if p.IsPreflight(pre) && !p.Preflight(pre, &resp) {
				t.Fatal("refused")
			}
			resp.Reset()
			p.Preflight(bad, &resp)
			resp.Reset()
			resp.Header.Set("Vary", "Accept-Encoding")
			p.Decorate(actual, &resp)
		})
		if n != 0 {
			t.Fatalf("allocs = %v", n)
		}
	}
}
