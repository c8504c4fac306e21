package cors

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func mustCompile(t testing.TB, cfg Config) *Policy {
	t.Helper()
	p, err := Compile(cfg)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

func preflightReq(origin, method, headers string) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.Header.SetMethod("OPTIONS")
	req.SetRequestURI("/v1/things")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if method != "" {
		req.Header.Set("Access-Control-Request-Method", method)
	}
	if headers != "" {
		req.Header.Set("Access-Control-Request-Headers", headers)
	}
	return req
}

func hdr(resp *fasthttp.Response, k string) string { return string(resp.Header.Peek(k)) }

const preflightVary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"

func TestIsPreflight(t *testing.T) {
	p := mustCompile(t, Config{AllowOrigins: []string{"*"}})
	cases := []struct {
		method, origin, acrm string
		want                 bool
	}{
		{"OPTIONS", "https://a.example", "PUT", true},
		{"OPTIONS", "", "PUT", false},
		{"OPTIONS", "https://a.example", "", false},
		{"GET", "https://a.example", "PUT", false},
	}
	for _, c := range cases {
		req := preflightReq(c.origin, c.acrm, "")
		req.Header.SetMethod(c.method)
		if got := p.IsPreflight(req); got != c.want {
			t.Errorf("IsPreflight(%+v) = %v", c, got)
		}
	}
}

func TestPreflightAllowed(t *testing.T) {
	p := mustCompile(t, Config{
		AllowOrigins:     []string{"https://app.example.com", "https://*.example.org"},
		AllowMethods:     []string{"GET", "PUT", "DELETE"},
		AllowHeaders:     []string{"Authorization", "Content-Type", "X-Request-Id"},
		ExposeHeaders:    []string{"X-RateLimit-Remaining"},
		AllowCredentials: true,
		MaxAge:           Duration(600e9),
	})
	req := preflightReq("https://app.example.com", "PUT", "content-type, AUTHORIZATION")
	var resp fasthttp.Response
	resp.SetBodyString("stale")
	if !p.Preflight(req, &resp) {
		t.Fatal("preflight refused")
	}
	want := map[string]string{
		"Access-Control-Allow-Origin":      "https://app.example.com",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Allow-Methods":     "GET, PUT, DELETE",
		"Access-Control-Allow-Headers":     "Authorization, Content-Type, X-Request-Id",
		"Access-Control-Max-Age":           "600",
		"Vary":                             preflightVary,
		"Access-Control-Expose-Headers":    "",
	}
	for k, v := range want {
		if got := hdr(&resp, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if resp.StatusCode() != 204 || len(resp.Body()) != 0 {
		t.Errorf("status %d body %q", resp.StatusCode(), resp.Body())
	}
	// wildcard subdomain
	req = preflightReq("https://deep.api.example.org", "get", "")
	resp.Reset()
	if !p.Preflight(req, &resp) || hdr(&resp, "Access-Control-Allow-Origin") != "https://deep.api.example.org" {
		t.Fatalf("wildcard preflight: %s", resp.Header.String())
	}
}

func TestPreflightRefused(t *testing.T) {
	p := mustCompile(t, Config{
		AllowOrigins: []string{"https://app.example.com"},
		AllowMethods: []string{"GET", "PUT"},
		AllowHeaders: []string{"Content-Type"},
		MaxAge:       Duration(60e9),
	})
	cases := []struct{ name, origin, method, headers string }{
		{"origin", "https://evil.example.com", "GET", ""},
		{"origin prefix trick", "https://app.example.com.evil.net", "GET", ""},
		{"method", "https://app.example.com", "DELETE", ""},
		{"header", "https://app.example.com", "GET", "Content-Type, X-Secret"},
		{"bad header token", "https://app.example.com", "GET", "Content Type"},
		{"bad method token", "https://app.example.com", "G ET", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var resp fasthttp.Response

			if p.Preflight(preflightReq(c.origin, c.method, c.headers), &resp) {
				t.Fatal("allowed")
			}
			if resp.StatusCode() != 204 || hdr(&resp, "Vary") != preflightVary {
				t.Fatalf("status %d vary %q", resp.StatusCode(), hdr(&resp, "Vary"))
			}
			for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age", "Access-Control-Allow-Credentials"} {
				if v := hdr(&resp, k); v != "" {
					t.Errorf("%s = %q on refusal", k, v)
				}
			}
		})
	}
}

func TestPreflightStarModes(t *testing.T) {
	// "*" without credentials: literal "*" everywhere.
	p := mustCompile(t, Config{AllowOrigins: []string{"*"}, AllowMethods: []string{"*"}, AllowHeaders: []string{"*"}})
	var resp fasthttp.Response
	if !p.Preflight(preflightReq("https://x.test", "PATCH", "X-Anything"), &resp) {
		t.Fatal("refused")
	}
	for k, v := range map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "*", "Access-Control-Allow-Headers": "*", "Access-Control-Allow-Credentials": ""} {
		if got := hdr(&resp, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// "*" with credentials: echo origin, method and headers; never "*".
	p = mustCompile(t, Config{AllowOrigins: []string{"*"}, AllowMethods: []string{"*"}, AllowHeaders: []string{"*"}, AllowCredentials: true})
	if len(p.Warnings()) == 0 {
		t.Error("no warning for * with credentials")
	}
	resp.Reset()
	if !p.Preflight(preflightReq("https://x.test", "PATCH", "X-Anything, X-Other"), &resp) {
		t.Fatal("refused")
	}
	for k, v := range map[string]string{"Access-Control-Allow-Origin": "https://x.test", "Access-Control-Allow-Methods": "PATCH", "Access-Control-Allow-Headers": "X-Anything, X-Other", "Access-Control-Allow-Credentials": "true"} {
		if got := hdr(&resp, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// "null" is never matched by "*".
	resp.Reset()
	if p.Preflight(preflightReq("null", "GET", ""), &resp) {
		t.Error("null origin allowed")
	}
}

func TestDecorate(t *testing.T) {
	p := mustCompile(t, Config{AllowOrigins: []string{"https://app.example.com"}, ExposeHeaders: []string{"X-Total", "ETag"}, AllowCredentials: true})
	req := fasthttp.AcquireRequest()
	req.Header.Set("Origin", "https://APP.example.com")
	var resp fasthttp.Response
	resp.Header.Set("Vary", "Accept-Encoding")
	p.Decorate(req, &resp)
	if got := hdr(&resp, "Access-Control-Allow-Origin"); got != "https://APP.example.com" {
		t.Errorf("ACAO = %q", got)
	}
	if hdr(&resp, "Access-Control-Allow-Credentials") != "true" || hdr(&resp, "Access-Control-Expose-Headers") != "X-Total, ETag" {
		t.Errorf("headers: %s", resp.Header.String())
	}
	if s := resp.Header.String(); !strings.Contains(s, "Vary: Accept-Encoding\r\n") || !strings.Contains(s, "Vary: Origin\r\n") {
		t.Errorf("vary lost: %s", s)
	}

	// disallowed origin: upstream's CORS headers are removed, Vary stays
	req.Header.Set("Origin", "https://evil.example.com")
	resp.Reset()
	resp.Header.Set("Access-Control-Allow-Origin", "*")
	resp.Header.Set("Access-Control-Allow-Credentials", "true")
	p.Decorate(req, &resp)
	if hdr(&resp, "Access-Control-Allow-Origin") != "" || hdr(&resp, "Access-Control-Allow-Credentials") != "" || hdr(&resp, "Access-Control-Expose-Headers") != "" {
		t.Errorf("CORS headers on disallowed origin: %s", resp.Header.String())
	}
	if hdr(&resp, "Vary") != "Origin" {
		t.Errorf("Vary = %q", hdr(&resp, "Vary"))
	}
	// no Origin at all
	req.Header.Del("Origin")
	resp.Reset()
	p.Decorate(req, &resp)
	if hdr(&resp, "Access-Control-Allow-Origin") != "" || hdr(&resp, "Vary") != "Origin" {
		t.Errorf("no-origin response: %s", resp.Header.String())
	}

	// wildcard without credentials sends "*"
	p = mustCompile(t, Config{AllowOrigins: []string{"*"}})
	req.Header.Set("Origin", "https://any.test")
	resp.Reset()
	p.Decorate(req, &resp)
	if hdr(&resp, "Access-Control-Allow-Origin") != "*" || hdr(&resp, "Access-Control-Allow-Credentials") != "" {
		t.Errorf("wildcard: %s", resp.Header.String())
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "cors: allow_origins: at least one origin is required"},
		{Config{AllowOrigins: []string{"https://a.example.com/"}}, `cors: allow_origins[0] "https://a.example.com/": an origin has no path`},
		{Config{AllowOrigins: []string{"a.example.com"}}, `allow_origins[0] "a.example.com": want scheme://host[:port]`},
		{Config{AllowOrigins: []string{"null"}}, `allow_origins[0] "null"`},
		{Config{AllowOrigins: []string{"https://*.com"}}, "at least two labels"},
		{Config{AllowOrigins: []string{"https://a.*.example.com"}}, `"*" is only supported as the whole first label`},
		{Config{AllowOrigins: []string{"https://*example.com"}}, `"*" is only supported`},
		{Config{AllowOrigins: []string{"https://a.example.com:0"}}, `invalid port "0"`},
		{Config{AllowOrigins: []string{"https://a.example.com:99999"}}, `invalid port "99999"`},
		{Config{AllowOrigins: []string{"https://a..example.com"}}, "empty label"},
		{Config{AllowOrigins: []string{"*"}, AllowMethods: []string{"GET POST"}}, `cors: allow_methods[0] "GET POST": not an HTTP method token`},
		{Config{AllowOrigins: []string{"*"}, AllowHeaders: []string{"X-A", "bad header"}}, `cors: allow_headers[1] "bad header"`},
		{Config{AllowOrigins: []string{"*"}, ExposeHeaders: []string{"X(y)"}}, `cors: expose_headers[0] "X(y)"`},
		{Config{AllowOrigins: []string{"https://a.example"}, ExposeHeaders: []string{"*"}, AllowCredentials: true}, `cors: expose_headers[0] "*": with allow_credentials`},
		{Config{AllowOrigins: []string{"*"}, MaxAge: Duration(-1e9)}, `cors: max_age "-1s": must not be negative`},
		{Config{AllowOrigins: []string{"*"}, MaxAge: Duration(1500e6)}, `cors: max_age "1.5s": must be whole seconds`},
	}
	for _, c := range cases {
		_, err := Compile(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%+v) = %v, want containing %q", c.cfg, err, c.want)
		}
	}
	p, err := Compile(Config{AllowOrigins: []string{"*"}, MaxAge: Duration(48 * 3600e9)})
	if err != nil || len(p.Warnings()) != 1 {
		t.Errorf("max_age warning: %v %v", err, p.Warnings())
	}
}

func TestOriginMatching(t *testing.T) {
	p := mustCompile(t, Config{AllowOrigins: []string{"https://App.Example.com", "http://localhost:3000", "https://*.example.org", "https://*.example.net:8443", "http://[::1]:8080"}})
	cases := map[string]bool{
		"https://app.example.com":         true,
		"HTTPS://APP.EXAMPLE.COM":         true,
		"http://app.example.com":          false,
		"https://app.example.com:443":     false,
		"https://app.example.com.":        false,
		"http://localhost:3000":           true,
		"http://localhost:3001":           false,
		"http://localhost":                false,
		"https://a.example.org":           true,
		"https://a.b.example.org":         true,
		"https://example.org":             false,
		"https://.example.org":            false,
		"https://a..example.org":          false,
		"https://evil.com/.example.org":   false,
		"https://evil.com?.example.org":   false,
		"https://a.example.org:8443":      false,
		"http://a.example.org":            false,
		"https://x.example.net:8443":      true,
		"https://x.example.net":           false,
		"https://user@x.example.net:8443": false,
		"http://[::1]:8080":               true,
		"":                                false,
		"null":                            false,
		strings.Repeat("a", 400):          false,
	}
	for o, want := range cases {
		if got := p.OriginAllowed([]byte(o)); got != want {
			t.Errorf("OriginAllowed(%q) = %v, want %v", o, got, want)
		}
	}
}
