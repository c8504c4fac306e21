package cors

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestLoopbackServer drives Preflight and Decorate through a real fasthttp
// server and client on 127.0.0.1, as the pipeline will.
func TestLoopbackServer(t *testing.T) {
	p := mustCompile(t, Config{AllowOrigins: []string{"https://app.example.com"}, AllowMethods: []string{"GET", "POST"}, AllowHeaders: []string{"Content-Type"}, MaxAge: Duration(30e9)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var backendHits atomic.Int32
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if p.IsPreflight(&ctx.Request) {
			p.Preflight(&ctx.Request, &ctx.Response)
			return
		}
		backendHits.Add(1)
		ctx.SetBodyString("hello")
		p.Decorate(&ctx.Request, &ctx.Response)
	}}
	go srv.Serve(ln) //nolint:errcheck
	defer srv.Shutdown()
	c := &fasthttp.Client{ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	url := "http://" + ln.Addr().String() + "/x"

	do := func(method, origin, acrm string) *fasthttp.Response {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		req.SetRequestURI(url)
		req.Header.SetMethod(method)
		req.Header.Set("Origin", origin)
		if acrm != "" {
			req.Header.Set("Access-Control-Request-Method", acrm)
		}
		if err := c.DoTimeout(req, resp, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	r := do("OPTIONS", "https://app.example.com", "POST")
	if r.StatusCode() != 204 || string(r.Header.Peek("Access-Control-Allow-Origin")) != "https://app.example.com" || string(r.Header.Peek("Access-Control-Max-Age")) != "30" {
		t.Fatalf("preflight: %d %s", r.StatusCode(), r.Header.String())
	}
	r = do("OPTIONS", "https://evil.example.com", "POST")
	if r.StatusCode() != 204 || len(r.Header.Peek("Access-Control-Allow-Origin")) != 0 {
		t.Fatalf("refused preflight: %d %s", r.StatusCode(), r.Header.String())
	}
	if backendHits.Load() != 0 {
		t.Fatal("preflight reached the handler body")
	}
	r = do("GET", "https://app.example.com", "")
	if r.StatusCode() != 200 || string(r.Body()) != "hello" || string(r.Header.Peek("Access-Control-Allow-Origin")) != "https://app.example.com" || string(r.Header.Peek("Vary")) != "Origin" {
		t.Fatalf("actual: %d %s", r.StatusCode(), r.Header.String())
	}
}
