package proxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// Traffic-control acceptance tests through the real gateway: IP access,
// CORS, authentication, throttling, parameter validation and transforms, and
// the fixed order between them. Rates are real, so counts are asserted with
// a tolerance computed from the tokens the buckets could have refilled while
// the test ran; no test fails because a machine is slow.

// trBackend is the origin every traffic test forwards to.
const trBackend = `
[[backends]]
name = "origin"
targets = [{ url = "{{ORIGIN}}" }]
`

// trKey is consumer name's API key in trConsumers.
func trKey(name string) string { return "test-api-key-" + name + "-0123456789" }

// trConsumers declares consumers with one API key each.
func trConsumers(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "[[consumers]]\nname = %q\napi_keys = [%q]\n", n, trKey(n))
	}
	return b.String()
}

// trResp is what the tests look at in one answer.
type trResp struct {
	status     int
	retryAfter string
	code       string
	message    string
}

// trPipeline writes every request on one connection without waiting
// (HTTP/1.1 pipelining: as fast as one client can send) and reads all the
// answers. elapsed spans the first write to the last answer, an upper bound
// on the time the gateway's limiter saw the requests over.
func trPipeline(t *testing.T, addr string, reqs []string) ([]trResp, time.Duration) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	var all strings.Builder
	for _, r := range reqs {
		all.WriteString(r)
	}
	start := time.Now()
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write([]byte(all.String()))
		werr <- err
	}()
	br := bufio.NewReaderSize(c, 64<<10)
	out := make([]trResp, 0, len(reqs))
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	for i := range reqs {
		resp.Reset()
		if err := resp.Read(br); err != nil {
			t.Fatalf("answer %d of %d: %v", i+1, len(reqs), err)
		}
		r := trResp{status: resp.StatusCode(), retryAfter: string(resp.Header.Peek("Retry-After"))}
		if r.status >= 400 {
			var e errorBody
			if err := json.Unmarshal(resp.Body(), &e); err != nil {
				t.Fatalf("answer %d: error body is not JSON: %s", i+1, resp.Body())
			}
			r.code, r.message = e.Error.Code, e.Error.Message
		}
		out = append(out, r)
	}
	elapsed := time.Since(start)
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	return out, elapsed
}

// trGet is one raw GET request for trPipeline.
func trGet(path string, hdr ...string) string {
	var b strings.Builder
	b.WriteString("GET " + path + " HTTP/1.1\r\nHost: api.test\r\n")
	for i := 0; i+1 < len(hdr); i += 2 {
		b.WriteString(hdr[i] + ": " + hdr[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func trRepeat(n int, req string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = req
	}
	return out
}

// trCount tallies 200s and checks that every other answer is a well-formed
// 429 Throttled with an integer Retry-After >= 1.
func trCount(t *testing.T, rs []trResp) (ok, throttled int) {
	t.Helper()
	for i, r := range rs {
		switch r.status {
		case fasthttp.StatusOK:
			ok++
		case fasthttp.StatusTooManyRequests:
			throttled++
			if r.code != CodeThrottled {
				t.Fatalf("answer %d: 429 with code %q, want %q", i+1, r.code, CodeThrottled)
			}
			if n, err := strconv.Atoi(r.retryAfter); err != nil || n < 1 {
				t.Fatalf("answer %d: Retry-After %q, want an integer >= 1", i+1, r.retryAfter)
			}
		default:
			t.Fatalf("answer %d: status %d (%s %s), want 200 or 429", i+1, r.status, r.code, r.message)
		}
	}
	return ok, throttled
}

// refill is how many whole tokens a bucket of rate/s can gain in d, plus
// one for the token that may have been just about to arrive.
func refill(rate float64, d time.Duration) int { return int(math.Ceil(rate*d.Seconds())) + 1 }

// TestTrafficBurstPerClientIP is acceptance point 1: 50/s with burst 50 per
// client IP; a flood of 1 000 from one IP lets the burst through and answers
// the rest 429, and a second later one second's worth passes again. The
// server runs on a fake clock, so the counts are exact.
func TestTrafficBurstPerClientIP(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	g := startGatewayWith(t, trBackend+`
[[groups]]
name = "g"
[[groups.apis]]
name = "burst"
path = "/burst"
backend = "origin"
[groups.apis.rate_limit]
client_ip = { rate = 50, burst = 50 }
`, Options{Clock: clock})
	before := g.origin.Requests()
	rs, _ := trPipeline(t, g.addr, trRepeat(1000, trGet("/burst")))
	ok, throttled := trCount(t, rs)
	if ok != 50 || throttled != 950 {
		t.Fatalf("%d of 1000 passed and %d throttled, want 50 and 950", ok, throttled)
	}
	if got := g.origin.Requests() - before; got != uint64(ok) {
		t.Fatalf("origin saw %d requests, want exactly the %d that passed", got, ok)
	}

	clock.Advance(time.Second)
	rs, _ = trPipeline(t, g.addr, trRepeat(200, trGet("/burst")))
	if ok, _ = trCount(t, rs); ok != 50 {
		t.Fatalf("a second later %d passed, want 50", ok)
	}
	clock.Advance(100 * time.Millisecond)
	rs, _ = trPipeline(t, g.addr, trRepeat(20, trGet("/burst")))
	if ok, _ = trCount(t, rs); ok != 5 {
		t.Fatalf("100ms later %d passed, want 5", ok)
	}
}

// TestTrafficMostRestrictiveWinsAndDenialsTakeNothing: per-API 100/s and
// per-consumer 20/s. One consumer gets its 20, not the API's 100; its denied
// requests take nothing from the API bucket, so four more consumers still
// get 20 each at once, and only then is the API's 100 spent.
func TestTrafficMostRestrictiveWinsAndDenialsTakeNothing(t *testing.T) {
	names := []string{"c1", "c2", "c3", "c4", "c5", "c6"}
	g := startGateway(t, trBackend+trConsumers(names...)+`
[[groups]]
name = "g"
[[groups.apis]]
name = "shared"
path = "/shared"
backend = "origin"
[groups.apis.auth]
modes = ["key"]
[groups.apis.rate_limit]
api = { rate = 100, burst = 100 }
consumer = { rate = 20, burst = 20 }
`)
	start := time.Now()
	total := 0
	rs, elapsed := trPipeline(t, g.addr, trRepeat(300, trGet("/shared", "X-Api-Key", trKey("c1"))))
	ok, _ := trCount(t, rs)
	total += ok
	if hi := 20 + refill(20, elapsed); ok < 20 || ok > hi {
		t.Fatalf("c1 flooding: %d passed, want its consumer burst 20 (20..%d), not the API's 100", ok, hi)
	}
	for _, r := range rs {
		if r.status == fasthttp.StatusTooManyRequests && !strings.Contains(r.message, "(consumer)") {
			t.Fatalf("c1 was denied by %q, want the consumer limit", r.message)
		}
	}
	// The API bucket lost only c1's passes: 80 or more tokens are left.
	for _, n := range names[1:5] {
		rs, _ := trPipeline(t, g.addr, trRepeat(20, trGet("/shared", "X-Api-Key", trKey(n))))
		ok, _ := trCount(t, rs)
		if ok != 20 {
			t.Fatalf("%s: %d of 20 passed right after c1's denied flood; the flood drained the API bucket", n, ok)
		}
		total += ok
	}
	// Now the API's 100 are spent (up to refill): c6 is denied by the API.
	rs, _ = trPipeline(t, g.addr, trRepeat(20, trGet("/shared", "X-Api-Key", trKey("c6"))))
	ok, throttled := trCount(t, rs)
	total += ok
	all := time.Since(start)
	if hi := 100 + refill(100, all); total < 100 || total > hi {
		t.Fatalf("the API passed %d in %v, want its burst 100 plus refill (100..%d)", total, all, hi)
	}
	if throttled == 0 {
		t.Fatalf("c6 passed all 20 after 100+ requests in %v: the API limit did not hold", all)
	}
	for _, r := range rs {
		if r.status == fasthttp.StatusTooManyRequests && !strings.Contains(r.message, "(api)") {
			t.Fatalf("c6 was denied by %q, want the api limit", r.message)
		}
	}
	t.Logf("API total %d in %v; c6 throttled %d", total, all, throttled)
}

// TestTrafficUnauthenticatedSpendsNoToken: throttling runs after
// authentication, so 401s take nothing from the bucket.
func TestTrafficUnauthenticatedSpendsNoToken(t *testing.T) {
	g := startGateway(t, trBackend+trConsumers("c1")+`
[[groups]]
name = "g"
[[groups.apis]]
name = "guarded"
path = "/guarded"
backend = "origin"
[groups.apis.auth]
modes = ["key"]
[groups.apis.rate_limit]
api = { rate = 0.01, burst = 2 }
`)
	for i := 0; i < 5; i++ {
		st, h, body := g.do("GET", "/guarded", nil, nil)
		wantError(t, st, h, body, fasthttp.StatusUnauthorized, CodeMissingCredentials)
		if len(h.Peek("RateLimit-Remaining")) != 0 {
			t.Fatalf("a 401 carries RateLimit-Remaining %q: it reached the limiter", h.Peek("RateLimit-Remaining"))
		}
	}
	for i := 0; i < 3; i++ {
		st, h, body := g.do("GET", "/guarded", map[string]string{"X-Api-Key": "not-a-valid-key-0123456789"}, nil)
		wantError(t, st, h, body, fasthttp.StatusUnauthorized, CodeInvalidAPIKey)
	}
	key := map[string]string{"X-Api-Key": trKey("c1")}
	for i := 0; i < 2; i++ {
		if st, _, body := g.do("GET", "/guarded", key, nil); st != fasthttp.StatusOK {
			t.Fatalf("authenticated request %d: %d %s; the 401s spent the burst", i+1, st, body)
		}
	}
	st, h, body := g.do("GET", "/guarded", key, nil)
	wantError(t, st, h, body, fasthttp.StatusTooManyRequests, CodeThrottled)
}

// TestTrafficPreflightBeforeAuth: a preflight carries no credentials and is
// answered by the gateway: 204 with Access-Control-Allow-*, nothing reaches
// the origin, and no token is spent.
func TestTrafficPreflightBeforeAuth(t *testing.T) {
	g := startGateway(t, trBackend+trConsumers("c1")+`
[[groups]]
name = "g"
[groups.cors]
allow_origins = ["https://app.example.com"]
allow_methods = ["GET", "PUT"]
allow_headers = ["X-Api-Key", "Content-Type"]
max_age = "10m"
[[groups.apis]]
name = "doc"
path = "/doc/{id}"
backend = "origin"
[groups.apis.auth]
modes = ["key"]
[groups.apis.rate_limit]
api = { rate = 0.01, burst = 1 }
`)
	pre := map[string]string{
		"Origin":                         "https://app.example.com",
		"Access-Control-Request-Method":  "PUT",
		"Access-Control-Request-Headers": "x-api-key, content-type",
	}
	for i := 0; i < 3; i++ {
		st, h, body := g.do("OPTIONS", "/doc/7", pre, nil)
		if st != fasthttp.StatusNoContent || len(body) != 0 {
			t.Fatalf("preflight: %d %q, want 204 and no body", st, body)
		}
		for k, want := range map[string]string{
			"Access-Control-Allow-Origin":  "https://app.example.com",
			"Access-Control-Allow-Methods": "GET, PUT",
			"Access-Control-Max-Age":       "600",
		} {
			if got := string(h.Peek(k)); got != want {
				t.Fatalf("preflight %s = %q, want %q", k, got, want)
			}
		}
		if got := strings.ToLower(string(h.Peek("Access-Control-Allow-Headers"))); !strings.Contains(got, "x-api-key") {
			t.Fatalf("preflight Access-Control-Allow-Headers = %q, want x-api-key", got)
		}
		if len(h.Peek("WWW-Authenticate")) != 0 {
			t.Fatal("a preflight reached authentication")
		}
	}
	// A preflight from an origin not allowed is still answered here, without grants.
	bad := map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"}
	if st, h, _ := g.do("OPTIONS", "/doc/7", bad, nil); st != fasthttp.StatusNoContent || len(h.Peek("Access-Control-Allow-Origin")) != 0 {
		t.Fatalf("disallowed preflight: %d, Allow-Origin %q; want 204 without grants", st, h.Peek("Access-Control-Allow-Origin"))
	}
	if n := g.origin.Requests(); n != 0 {
		t.Fatalf("the origin saw %d requests; preflights must be answered by the gateway", n)
	}
	// The single token is still there.
	if st, _, body := g.do("GET", "/doc/7", map[string]string{"X-Api-Key": trKey("c1")}, nil); st != fasthttp.StatusOK {
		t.Fatalf("GET after preflights: %d %s; a preflight spent the token", st, body)
	}
}

// TestTrafficPreflightOnMethodRestrictedAPI: an API that lists its methods
// (and so not OPTIONS) must still have its preflights answered: browsers
// send OPTIONS before a cross-origin POST, whatever the API's methods say.
// The preflight is judged against the method it asks for.
func TestTrafficPreflightOnMethodRestrictedAPI(t *testing.T) {
	g := startGateway(t, trBackend+`
[[groups]]
name = "g"
[groups.cors]
allow_origins = ["https://app.example.com"]
allow_methods = ["GET", "POST"]
allow_headers = ["Content-Type"]
[[groups.apis]]
name = "create"
methods = ["POST"]
path = "/orders"
backend = "origin"
`)
	st, h, body := g.do("OPTIONS", "/orders", map[string]string{
		"Origin":                         "https://app.example.com",
		"Access-Control-Request-Method":  "POST",
		"Access-Control-Request-Headers": "content-type",
	}, nil)
	if st != fasthttp.StatusNoContent || string(h.Peek("Access-Control-Allow-Origin")) != "https://app.example.com" {
		t.Fatalf("preflight for POST /orders: %d, Allow-Origin %q, body %s; want 204 with the CORS grant",
			st, h.Peek("Access-Control-Allow-Origin"), body)
	}
	if n := g.origin.Requests(); n != 0 {
		t.Fatalf("the origin saw %d preflights", n)
	}
	// A plain OPTIONS (not a preflight) is still 405 on this API.
	st, h, body = g.do("OPTIONS", "/orders", nil, nil)
	wantError(t, st, h, body, fasthttp.StatusMethodNotAllowed, CodeMethodNotAllowed)
}

// TestTrafficNothingDeniedReachesBackend: a throttled request and one with
// invalid parameters stop at the gateway.
func TestTrafficNothingDeniedReachesBackend(t *testing.T) {
	g := startGateway(t, trBackend+`
[[groups]]
name = "g"
[[groups.apis]]
name = "limited"
path = "/limited"
backend = "origin"
[groups.apis.rate_limit]
client_ip = { rate = 0.01, burst = 1 }
[[groups.apis]]
name = "checked"
path = "/checked"
backend = "origin"
[[groups.apis.params.params]]
name = "n"
in = "query"
type = "int"
required = true
`)
	if st, _, body := g.do("GET", "/limited", nil, nil); st != fasthttp.StatusOK {
		t.Fatalf("first request: %d %s", st, body)
	}
	base := g.origin.Requests()
	for i := 0; i < 5; i++ {
		st, h, body := g.do("GET", "/limited", nil, nil)
		wantError(t, st, h, body, fasthttp.StatusTooManyRequests, CodeThrottled)
	}
	for _, q := range []string{"", "?n=x", "?n=1.5", "?n=1&n=2"} {
		st, h, body := g.do("GET", "/checked"+q, nil, nil)
		wantError(t, st, h, body, fasthttp.StatusBadRequest, CodeInvalidParameter)
	}
	if got := g.origin.Requests(); got != base {
		t.Fatalf("the origin saw %d denied requests", got-base)
	}
	if st, _, body := g.do("GET", "/checked?n=3", nil, nil); st != fasthttp.StatusOK {
		t.Fatalf("valid request: %d %s", st, body)
	}
	if got := g.origin.Requests(); got != base+1 {
		t.Fatalf("the origin saw %d requests after one valid one, want 1", got-base)
	}
}

// TestTrafficIPDeniedBeforeAuth: step 1 answers 403 IpDenied before
// authentication, with or without credentials, for the group's list and for
// the API's own list.
func TestTrafficIPDeniedBeforeAuth(t *testing.T) {
	g := startGateway(t, trBackend+trConsumers("c1")+`
[[groups]]
name = "intranet"
hosts = ["intranet.test"]
[groups.ip_access]
allow = ["10.0.0.0/8"]
[groups.auth]
modes = ["key"]
[[groups.apis]]
name = "wiki"
path = "/wiki"
backend = "origin"
[groups.apis.rate_limit]
client_ip = { rate = 0.01, burst = 1 }

[[groups]]
name = "public"
[groups.auth]
modes = ["key"]
[[groups.apis]]
name = "open"
path = "/open"
backend = "origin"
[[groups.apis]]
name = "blocked"
path = "/blocked"
backend = "origin"
[groups.apis.ip_access]
deny = ["127.0.0.0/8", "::1"]
`)
	cases := []struct {
		host, path string
		hdr        map[string]string
	}{
		{"intranet.test", "/wiki", nil},
		{"intranet.test", "/wiki", map[string]string{"X-Api-Key": "wrong-key-0123456789abcdef"}},
		{"intranet.test", "/wiki", map[string]string{"X-Api-Key": trKey("c1")}},
		{"api.test", "/blocked", nil},
		{"api.test", "/blocked", map[string]string{"X-Api-Key": trKey("c1")}},
	}
	for _, c := range cases {
		hdr := map[string]string{"Host": c.host}
		for k, v := range c.hdr {
			hdr[k] = v
		}
		st, h, body := g.do("GET", c.path, hdr, nil)
		wantError(t, st, h, body, fasthttp.StatusForbidden, CodeIPDenied)
		if len(h.Peek("WWW-Authenticate")) != 0 {
			t.Fatalf("%s%s: an IP-denied answer carries an auth challenge", c.host, c.path)
		}
	}
	if n := g.origin.Requests(); n != 0 {
		t.Fatalf("the origin saw %d requests from a denied IP", n)
	}
	// Without an ACL the same client reaches authentication.
	st, h, body := g.do("GET", "/open", nil, nil)
	wantError(t, st, h, body, fasthttp.StatusUnauthorized, CodeMissingCredentials)
}

// TestTrafficRateLimitHeaders: RateLimit-Limit/-Remaining/-Reset on a
// throttled API's answers (200 and 429), none with headers = false.
func TestTrafficRateLimitHeaders(t *testing.T) {
	g := startGateway(t, trBackend+`
[[groups]]
name = "g"
[[groups.apis]]
name = "with"
path = "/with"
backend = "origin"
[groups.apis.rate_limit]
api = { rate = 100, burst = 100 }
client_ip = { rate = 1, burst = 3 }
[[groups.apis]]
name = "without"
path = "/without"
backend = "origin"
[groups.apis.rate_limit]
client_ip = { rate = 1, burst = 3 }
headers = false
`)
	num := func(h *fasthttp.ResponseHeader, k string) int {
		t.Helper()
		n, err := strconv.Atoi(string(h.Peek(k)))
		if err != nil {
			t.Fatalf("%s = %q, want an integer", k, h.Peek(k))
		}
		return n
	}
	for i := 0; i < 3; i++ {
		st, h, body := g.do("GET", "/with", nil, nil)
		if st != fasthttp.StatusOK {
			t.Fatalf("request %d: %d %s", i+1, st, body)
		}
		// The client_ip bucket is the most restrictive: it has 3 - (i+1) left,
		// or one more if a token arrived meanwhile.
		if l := num(h, "RateLimit-Limit"); l != 3 {
			t.Fatalf("RateLimit-Limit %d, want the most restrictive burst 3", l)
		}
		if r := num(h, "RateLimit-Remaining"); r != 2-i && r != 3-i {
			t.Fatalf("request %d: RateLimit-Remaining %d, want %d", i+1, r, 2-i)
		}
		if r := num(h, "RateLimit-Reset"); r < 1 || r > 3 {
			t.Fatalf("RateLimit-Reset %d, want 1..3 seconds to full", r)
		}
	}
	// Flood until denied: the 429 carries the headers too, with nothing left.
	var st int
	var h *fasthttp.ResponseHeader
	for i := 0; i < 20 && st != fasthttp.StatusTooManyRequests; i++ {
		st, h, _ = g.do("GET", "/with", nil, nil)
	}
	if st != fasthttp.StatusTooManyRequests {
		t.Fatal("never throttled")
	}
	if r := num(h, "RateLimit-Remaining"); r != 0 {
		t.Fatalf("429 RateLimit-Remaining %d, want 0", r)
	}
	if num(h, "RateLimit-Limit") != 3 || num(h, "RateLimit-Reset") < 1 {
		t.Fatalf("429 headers: Limit %q Reset %q", h.Peek("RateLimit-Limit"), h.Peek("RateLimit-Reset"))
	}

	for i := 0; i < 6; i++ {
		st, h, _ := g.do("GET", "/without", nil, nil)
		for _, k := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
			if len(h.Peek(k)) != 0 {
				t.Fatalf("headers = false, but a %d carries %s: %q", st, k, h.Peek(k))
			}
		}
		if st == fasthttp.StatusTooManyRequests && len(h.Peek("Retry-After")) == 0 {
			t.Fatal("headers = false must not remove Retry-After from a 429")
		}
	}
}

// TestTrafficReloadKeepsBuckets: buckets belong to the API, not to the
// snapshot, so a reload (here one that adds an API) refills nothing.
func TestTrafficReloadKeepsBuckets(t *testing.T) {
	cfg := trBackend + `
[[groups]]
name = "g"
[[groups.apis]]
name = "kept"
path = "/kept"
backend = "origin"
[groups.apis.rate_limit]
client_ip = { rate = 0.01, burst = 2 }
`
	g := startGateway(t, cfg)
	for i := 0; i < 2; i++ {
		if st, _, body := g.do("GET", "/kept", nil, nil); st != fasthttp.StatusOK {
			t.Fatalf("request %d: %d %s", i+1, st, body)
		}
	}
	g.write(cfg + `
[[groups.apis]]
name = "added"
path = "/added"
backend = "origin"
`)
	if _, err := g.rl.Reload(); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := g.do("GET", "/added", nil, nil); st != fasthttp.StatusOK {
		t.Fatalf("the reload was not applied: /added answers %d", st)
	}
	st, h, body := g.do("GET", "/kept", nil, nil)
	wantError(t, st, h, body, fasthttp.StatusTooManyRequests, CodeThrottled)
}

// TestTrafficQuotaPerMinute: a consumer's per-minute quota, counted in UTC
// minutes; the denial says when the window ends.
func TestTrafficQuotaPerMinute(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 1, 1, 12, 0, 10, 0, time.UTC))
	g := startGatewayWith(t, trBackend+trConsumers("c1", "c2")+`
[[groups]]
name = "g"
[[groups.apis]]
name = "metered"
path = "/metered"
backend = "origin"
[groups.apis.auth]
modes = ["key"]
[groups.apis.rate_limit]
quota = { per_minute = 3 }
`, Options{Clock: clock})
	for _, c := range []string{"c1", "c2"} {
		key := map[string]string{"X-Api-Key": trKey(c)}
		for i := 0; i < 3; i++ {
			if st, _, body := g.do("GET", "/metered", key, nil); st != fasthttp.StatusOK {
				t.Fatalf("%s request %d: %d %s", c, i+1, st, body)
			}
		}
		st, h, body := g.do("GET", "/metered", key, nil)
		wantError(t, st, h, body, fasthttp.StatusTooManyRequests, CodeThrottled)
		if ra := string(h.Peek("Retry-After")); ra != "50" {
			t.Fatalf("Retry-After %q, want the 50 s left in the minute", ra)
		}
		if !strings.Contains(string(body), "quota") {
			t.Fatalf("denial %s does not name the quota", body)
		}
	}
	// The next UTC minute opens a new window.
	clock.Advance(50 * time.Second)
	if st, _, body := g.do("GET", "/metered", map[string]string{"X-Api-Key": trKey("c1")}, nil); st != fasthttp.StatusOK {
		t.Fatalf("new minute: %d %s", st, body)
	}
}

// TestTrafficConsumerOverride: an override replaces the consumer limit for
// one consumer only.
func TestTrafficConsumerOverride(t *testing.T) {
	g := startGateway(t, trBackend+trConsumers("gold", "basic")+`
[[groups]]
name = "g"
[groups.auth]
modes = ["key"]
[groups.rate_limit]
consumer = { rate = 0.01, burst = 1 }
overrides = [{ consumer = "gold", rate = 0.01, burst = 4 }]
[[groups.apis]]
name = "a"
path = "/a"
backend = "origin"
`)
	for c, want := range map[string]int{"gold": 4, "basic": 1} {
		rs, _ := trPipeline(t, g.addr, trRepeat(10, trGet("/a", "X-Api-Key", trKey(c))))
		if ok, _ := trCount(t, rs); ok != want {
			t.Fatalf("%s: %d of 10 passed, want %d", c, ok, want)
		}
	}
}

// TestTrafficCORSActualResponse: an allowed origin gets
// Access-Control-Allow-Origin and Vary: Origin on the backend's answer and
// on errors; a disallowed one gets no grant.
func TestTrafficCORSActualResponse(t *testing.T) {
	g := startGateway(t, trBackend+trConsumers("c1")+`
[[groups]]
name = "g"
[[groups.apis]]
name = "c"
path = "/c"
backend = "origin"
[groups.apis.cors]
allow_origins = ["https://*.example.com"]
expose_headers = ["X-Request-Id"]
[groups.apis.auth]
modes = ["key"]
`)
	key := trKey("c1")
	st, h, body := g.do("GET", "/c", map[string]string{"Origin": "https://app.example.com", "X-Api-Key": key}, nil)
	if st != fasthttp.StatusOK {
		t.Fatalf("%d %s", st, body)
	}
	if got := string(h.Peek("Access-Control-Allow-Origin")); got != "https://app.example.com" {
		t.Fatalf("Access-Control-Allow-Origin %q", got)
	}
	if got := string(h.Peek("Access-Control-Expose-Headers")); got != "X-Request-Id" {
		t.Fatalf("Access-Control-Expose-Headers %q", got)
	}
	if !trHasVaryOrigin(h) {
		t.Fatalf("no Vary: Origin in %s", h.Header())
	}
	// An error of the same API is readable by the allowed origin too.
	st, h, body = g.do("GET", "/c", map[string]string{"Origin": "https://app.example.com"}, nil)
	wantError(t, st, h, body, fasthttp.StatusUnauthorized, CodeMissingCredentials)
	if string(h.Peek("Access-Control-Allow-Origin")) != "https://app.example.com" || !trHasVaryOrigin(h) {
		t.Fatalf("401 to an allowed origin lacks CORS headers: %s", h.Header())
	}
	for _, o := range []string{"https://evil.test", "http://app.example.com", "https://example.com.evil.test"} {
		st, h, _ := g.do("GET", "/c", map[string]string{"Origin": o, "X-Api-Key": key}, nil)
		if st != fasthttp.StatusOK || len(h.Peek("Access-Control-Allow-Origin")) != 0 || len(h.Peek("Access-Control-Expose-Headers")) != 0 {
			t.Fatalf("origin %s: %d with Allow-Origin %q; want 200 without grants", o, st, h.Peek("Access-Control-Allow-Origin"))
		}
		if !trHasVaryOrigin(h) {
			t.Fatalf("origin %s: no Vary: Origin (caches would mix answers)", o)
		}
	}
}

func trHasVaryOrigin(h *fasthttp.ResponseHeader) bool {
	for _, v := range h.PeekAll("Vary") {
		for _, part := range strings.Split(string(v), ",") {
			if strings.EqualFold(strings.TrimSpace(part), "Origin") {
				return true
			}
		}
	}
	return false
}

// TestTrafficParams: failures are 400 InvalidParameter naming the parameter,
// a body over params.max_body_size is 413, defaults reach the backend.
func TestTrafficParams(t *testing.T) {
	g := startGateway(t, trBackend+`
[[groups]]
name = "g"
[[groups.apis]]
name = "search"
path = "/search/{slug}"
backend = "origin"
[groups.apis.params]
max_body_size = "1KiB"
[[groups.apis.params.params]]
name = "limit"
in = "query"
type = "int"
min = 1
max = 100
default = "20"
[[groups.apis.params.params]]
name = "X-Channel"
in = "header"
type = "enum"
values = ["web", "ios"]
[[groups.apis.params.params]]
name = "slug"
in = "path"
regex = "[a-z]+"
max_length = 16
`)
	bad := []struct {
		uri   string
		hdr   map[string]string
		param string
	}{
		{"/search/abc?limit=500", nil, `"limit"`},
		{"/search/abc?limit=0", nil, `"limit"`},
		{"/search/abc?limit=ten", nil, `"limit"`},
		{"/search/abc", map[string]string{"X-Channel": "tv"}, `"X-Channel"`},
		{"/search/ABC", nil, `"slug"`},
		{"/search/abcdefghijklmnopq", nil, `"slug"`},
	}
	for _, c := range bad {
		st, h, body := g.do("GET", c.uri, c.hdr, nil)
		e := wantError(t, st, h, body, fasthttp.StatusBadRequest, CodeInvalidParameter)
		if !strings.Contains(e.Error.Message, c.param) {
			t.Fatalf("%s: message %q does not name %s", c.uri, e.Error.Message, c.param)
		}
	}
	st, h, body := g.do("POST", "/search/abc", nil, []byte(strings.Repeat("x", 2048)))
	wantError(t, st, h, body, fasthttp.StatusRequestEntityTooLarge, "PayloadTooLarge")
	if n := g.origin.Requests(); n != 0 {
		t.Fatalf("the origin saw %d invalid requests", n)
	}
	st, h, body = g.do("GET", "/search/abc", map[string]string{"X-Channel": "ios"}, nil)
	if st != fasthttp.StatusOK {
		t.Fatalf("valid request: %d %s", st, body)
	}
	if got := string(h.Peek("X-Origin-Uri")); got != "/search/abc?limit=20" {
		t.Fatalf("the origin saw %q, want the default limit=20 added", got)
	}
	if st, _, body := g.do("POST", "/search/abc?limit=5", nil, []byte(strings.Repeat("x", 1024))); st != fasthttp.StatusOK {
		t.Fatalf("a body of exactly max_body_size: %d %s", st, body)
	}
}

// TestTrafficKeyQueryRemovedWhenParamsAddDefaults: authentication removes an
// API key sent as a query parameter; a later step that rewrites the query
// (a query parameter's default) must not bring it back.
func TestTrafficKeyQueryRemovedWhenParamsAddDefaults(t *testing.T) {
	g := startGateway(t, trBackend+trConsumers("c1")+`
[[groups]]
name = "g"
[[groups.apis]]
name = "plain"
path = "/plain"
backend = "origin"
[groups.apis.auth]
modes = ["key"]
key_query = "api_key"
[[groups.apis.params.params]]
name = "limit"
in = "query"
type = "int"
default = "20"
[[groups.apis]]
name = "rewritten"
path = "/rewritten"
backend = "origin"
backend_path = "/v2/rewritten"
[groups.apis.auth]
modes = ["key"]
key_query = "api_key"
[[groups.apis.params.params]]
name = "limit"
in = "query"
type = "int"
default = "20"
`)
	for _, path := range []string{"/plain", "/rewritten"} {
		for _, q := range []string{"?api_key=" + trKey("c1"), "?api_key=" + trKey("c1") + "&limit=5", "?x=1&api_key=" + trKey("c1")} {
			st, h, body := g.do("GET", path+q, nil, nil)
			if st != fasthttp.StatusOK {
				t.Fatalf("%s%s: %d %s", path, q, st, body)
			}
			seen := string(h.Peek("X-Origin-Uri"))
			if strings.Contains(seen, "api_key") || strings.Contains(seen, trKey("c1")) {
				t.Errorf("%s%s: the API key reached the upstream: %s", path, q, seen)
			}
			if !strings.Contains(seen, "limit=") {
				t.Errorf("%s%s: upstream saw %s, want a limit", path, q, seen)
			}
		}
	}
}

// trEcho is the origin's /echo answer.
type trEcho struct {
	URI     string            `json:"uri"`
	Headers map[string]string `json:"headers"`
}

const trTransformConfig = `
[[groups]]
name = "g"
[groups.stages.RELEASE.variables]
region = "eu-west"
[[groups.apis]]
name = "items"
path = "/items/{id}"
stages = ["RELEASE"]
backend = "origin"
backend_path = "/echo"
[groups.apis.auth]
modes = ["key", "anonymous"]
[groups.apis.transform.request_headers]
remove = ["X-Drop"]
rename = { "X-Old" = "X-New" }
set = { "X-Item" = "{path.id}", "X-Q" = "{query.q}", "X-From-Header" = "h:{header.X-In}", "X-Region" = "{var.region}", "X-Who" = "{consumer}", "X-Ip" = "{client_ip}", "X-Rid" = "{request_id}", "X-Overwritten" = "gateway" }
add = { "X-Added" = "item-{path.id}" }
[groups.apis.transform.query]
remove = ["secret"]
rename = { "old" = "new" }
set = { "item" = "{path.id}" }
add = { "tag" = "{consumer}" }
[groups.apis.transform.response_headers]
remove = ["X-Origin-Method"]
set = { "X-Served-To" = "{consumer}", "X-Resp-Rid" = "{request_id}" }
add = { "X-Resp-Added" = "yes" }
`

// TestTrafficTransforms: request headers and query rewritten from every
// template source; response headers set, added and removed.
func TestTrafficTransforms(t *testing.T) {
	g := startGateway(t, trBackend+trConsumers("c1")+trTransformConfig)
	st, h, body := g.do("GET", "/items/42?q=hello&secret=s3&old=o&tag=mine&keep=1", map[string]string{
		"X-Api-Key":     trKey("c1"),
		"X-Drop":        "d",
		"X-Old":         "moved",
		"X-In":          "inval",
		"X-Overwritten": "client",
		"X-Request-Id":  "req-abc-123",
	}, nil)
	if st != fasthttp.StatusOK {
		t.Fatalf("%d %s", st, body)
	}
	var e trEcho
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("echo: %v: %s", err, body)
	}
	for k, want := range map[string]string{
		"X-New": "moved", "X-Item": "42", "X-Q": "hello", "X-From-Header": "h:inval", "X-Region": "eu-west",
		"X-Who": "c1", "X-Ip": "127.0.0.1", "X-Rid": "req-abc-123", "X-Overwritten": "gateway", "X-Added": "item-42",
	} {
		if got, ok := e.Headers[k]; !ok || got != want {
			t.Errorf("upstream header %s = %q (present %v), want %q", k, got, ok, want)
		}
	}
	for _, k := range []string{"X-Drop", "X-Old", "X-Api-Key"} {
		if _, ok := e.Headers[k]; ok {
			t.Errorf("upstream got %s, which must be removed", k)
		}
	}
	u, err := url.Parse(e.URI)
	if err != nil || u.Path != "/echo" {
		t.Fatalf("upstream URI %q", e.URI)
	}
	q := u.Query()
	if _, ok := q["secret"]; ok {
		t.Errorf("query secret was not removed: %s", e.URI)
	}
	if _, ok := q["old"]; ok || q.Get("new") != "o" {
		t.Errorf("query old was not renamed to new: %s", e.URI)
	}
	if q.Get("item") != "42" || q.Get("keep") != "1" || q.Get("q") != "hello" {
		t.Errorf("query set/keep wrong: %s", e.URI)
	}
	if tags := q["tag"]; len(tags) != 2 || tags[0] != "mine" || tags[1] != "c1" {
		t.Errorf("query add must append: tag = %q in %s", tags, e.URI)
	}
	if len(h.Peek("X-Origin-Method")) != 0 {
		t.Error("response header X-Origin-Method was not removed")
	}
	if got := string(h.Peek("X-Served-To")); got != "c1" {
		t.Errorf("X-Served-To %q", got)
	}
	if got := string(h.Peek("X-Resp-Rid")); got != "req-abc-123" {
		t.Errorf("X-Resp-Rid %q", got)
	}
	if got := string(h.Peek("X-Resp-Added")); got != "yes" {
		t.Errorf("X-Resp-Added %q", got)
	}
	if len(h.Peek("X-Origin-Uri")) == 0 {
		t.Error("an origin header not named by the transform was lost")
	}

	// Anonymous: {consumer} renders empty, a fresh request id is used.
	st, h, body = g.do("GET", "/items/7", nil, nil)
	if st != fasthttp.StatusOK {
		t.Fatalf("%d %s", st, body)
	}
	e = trEcho{}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	if e.Headers["X-Who"] != "" || e.Headers["X-Item"] != "7" || e.Headers["X-Q"] != "" {
		t.Errorf("anonymous: X-Who %q X-Item %q X-Q %q", e.Headers["X-Who"], e.Headers["X-Item"], e.Headers["X-Q"])
	}
	if rid := string(h.Peek("X-Request-Id")); rid == "" || e.Headers["X-Rid"] != rid || string(h.Peek("X-Resp-Rid")) != rid {
		t.Errorf("request id %q, upstream {request_id} %q, response %q", rid, e.Headers["X-Rid"], h.Peek("X-Resp-Rid"))
	}
}

// TestTrafficTransformSanitizesCRLF: a decoded query value with CR/LF must
// not split the header it is rendered into.
func TestTrafficTransformSanitizesCRLF(t *testing.T) {
	g := startGateway(t, trBackend+trConsumers("c1")+trTransformConfig)
	for _, raw := range []string{"a%0d%0aX-Injected:%20yes", "a%0aX-Injected:%20yes", "a%0dX-Injected:%20yes", "a%00b"} {
		st, _, body := g.do("GET", "/items/1?q="+raw, nil, nil)
		if st != fasthttp.StatusOK {
			t.Fatalf("%s: %d %s", raw, st, body)
		}
		var e trEcho
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatal(err)
		}
		if _, ok := e.Headers["X-Injected"]; ok {
			t.Fatalf("%s: a header was injected upstream: %v", raw, e.Headers)
		}
		v, ok := e.Headers["X-Q"]
		if !ok || strings.ContainsAny(v, "\r\n\x00") || !strings.HasPrefix(v, "a") {
			t.Fatalf("%s: X-Q = %q (present %v), want the value with CR/LF/NUL replaced", raw, v, ok)
		}
	}
}
