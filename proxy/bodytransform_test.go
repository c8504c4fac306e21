package proxy

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/bench/origin"
	"github.com/valyala/fasthttp"
)

// bodyConfig: /echo-api sends the request to the origin's /echo (which
// answers with a JSON description of what it got), editing the request
// body; /legacy answers from a mock, editing the response body.
const bodyConfig = `
[[backends]]
name = "origin"
targets = [{ url = "{{ORIGIN}}" }]

[[backends]]
name = "legacy"
[backends.mock]
body = '{"userName":"ada","internal":{"node":7,"keep":true},"data":{"items":[1,2]},"id":12345678901234567890}'

[[backends]]
name = "notjson"
[backends.mock]
body = '{"userName":'

[[backends]]
name = "big"
targets = [{ url = "{{ORIGIN}}" }]

[[groups]]
name = "g"

[[groups.apis]]
name = "echo"
path = "/echo"
backend = "origin"
[groups.apis.transform.request_body]
remove = ["debug", "client.secret"]
rename = { "userName" = "user.name", "client.ver" = "version" }
set = { "source" = "gateway", "meta.flags" = ["a", "b"], "meta.n" = 2 }
max_size = "4KiB"

[[groups.apis]]
name = "legacy"
path = "/legacy"
backend = "legacy"
[groups.apis.transform.response_body]
remove = ["internal.node"]
rename = { "data.items" = "items", "userName" = "user.name" }
set = { "api" = "v2" }

[[groups.apis]]
name = "broken"
path = "/broken"
backend = "notjson"
[groups.apis.transform.response_body]
set = { "api" = "v2" }

[[groups.apis]]
name = "big"
path = "/x"
backend = "big"
[groups.apis.transform.response_body]
set = { "api" = "v2" }
max_size = "1KiB"
`

func counterValue(c interface{ Get() uint64 }) uint64 { return c.Get() }

func TestBodyTransformRequestTopLevelAndNested(t *testing.T) {
	g := startGateway(t, bodyConfig)
	in := `{"userName":"ada","debug":true,"client":{"secret":"s3","ver":"1.2","keep":1},"big":12345678901234567890}`
	applied := counterValue(bodyReqCounters.applied)
	status, _, body := g.do("POST", "/echo", map[string]string{"Content-Type": "application/json"}, []byte(in))
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var e origin.Echo
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	want := `{"big":12345678901234567890,"client":{"keep":1},"meta":{"flags":["a","b"],"n":2},"source":"gateway","user":{"name":"ada"},"version":"1.2"}`
	if e.Body != want {
		t.Fatalf("origin got\n%s\nwant\n%s", e.Body, want)
	}
	if counterValue(bodyReqCounters.applied) != applied+1 {
		t.Fatal("applied transform not counted")
	}
}

// TestBodyTransformRequestUntouched: invalid JSON, a body over max_size and
// a non-JSON content type reach the origin byte for byte, each counted; the
// gateway answers no 400 for them.
func TestBodyTransformRequestUntouched(t *testing.T) {
	g := startGateway(t, bodyConfig)
	big := `{"userName":"` + strings.Repeat("x", 5000) + `"}`
	for _, tc := range []struct {
		name, ct, body string
		counter        interface{ Get() uint64 }
	}{
		{"invalid", "application/json", `{"userName": "ada",`, bodyReqCounters.invalid},
		{"array", "application/json", `[{"userName":"ada"}]`, bodyReqCounters.invalid},
		{"too large", "application/json", big, bodyReqCounters.tooLarge},
		{"not json", "text/plain", `{"userName":"ada"}`, bodyReqCounters.notJSON},
	} {
		before := tc.counter.Get()
		status, _, body := g.do("POST", "/echo", map[string]string{"Content-Type": tc.ct}, []byte(tc.body))
		if status != 200 {
			t.Fatalf("%s: status %d: %s", tc.name, status, body)
		}
		var e origin.Echo
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatal(err)
		}
		if e.Body != tc.body {
			t.Errorf("%s: origin got %.80q, want the body untouched", tc.name, e.Body)
		}
		if tc.counter.Get() != before+1 {
			t.Errorf("%s: not counted", tc.name)
		}
	}
}

func TestBodyTransformResponse(t *testing.T) {
	g := startGateway(t, bodyConfig)
	status, h, body := g.do("GET", "/legacy", nil, nil)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	want := `{"api":"v2","data":{},"id":12345678901234567890,"internal":{"keep":true},"items":[1,2],"user":{"name":"ada"}}`
	if string(body) != want {
		t.Fatalf("answer\n%s\nwant\n%s", body, want)
	}
	if h.ContentLength() != len(want) {
		t.Fatalf("Content-Length %d for a %d-byte body", h.ContentLength(), len(want))
	}

	before := bodyRespCounters.invalid.Get()
	status, _, body = g.do("GET", "/broken", nil, nil)
	if status != 200 || string(body) != `{"userName":` || bodyRespCounters.invalid.Get() != before+1 {
		t.Fatalf("invalid JSON answer must pass untouched and be counted: %d %s", status, body)
	}

	// Over max_size: a 2 KiB answer in memory, and a 2 MiB one of known
	// length (streamed from the upstream, never read by the transform),
	// pass whole and are counted.
	for _, size := range []int{2 << 10, 2 << 20} {
		o := jsonOrigin(t, size, false)
		g := startGateway(t, strings.Replace(bodyConfig, `name = "big"
targets = [{ url = "{{ORIGIN}}" }]`, `name = "big"
targets = [{ url = "`+o+`" }]`, 1))
		before := bodyRespCounters.tooLarge.Get()
		status, _, body = g.do("GET", "/x", nil, nil)
		if status != 200 || len(body) != size+2 || bodyRespCounters.tooLarge.Get() != before+1 {
			t.Fatalf("size %d: status %d, %d bytes, counted %d", size, status, len(body), bodyRespCounters.tooLarge.Get()-before)
		}
	}
}

// jsonOrigin answers every request with a JSON string of n bytes (n+2 with
// its quotes), chunked or with a Content-Length.
func jsonOrigin(t *testing.T, n int, chunked bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`"` + strings.Repeat("a", n) + `"`)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		if chunked {
			ctx.SetBodyStream(bytes.NewReader(body), -1)
			return
		}
		ctx.SetBody(body)
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// TestBodyTransformChunkedOverBoundPassesWhole: an answer of unknown length
// is read up to the bound; over it, what was read and the rest reach the
// client intact.
func TestBodyTransformChunkedOverBoundPassesWhole(t *testing.T) {
	chunked := jsonOrigin(t, 200<<10, true)
	g := startGateway(t, strings.Replace(bodyConfig, `name = "big"
targets = [{ url = "{{ORIGIN}}" }]`, `name = "big"
targets = [{ url = "`+chunked+`" }]`, 1))
	before := bodyRespCounters.tooLarge.Get()
	status, _, body := g.do("GET", "/x", nil, nil)
	if status != 200 || bodyRespCounters.tooLarge.Get() != before+1 {
		t.Fatalf("status %d, counted %d", status, bodyRespCounters.tooLarge.Get()-before)
	}
	var s string
	if err := json.Unmarshal(body, &s); err != nil || len(s) != 200<<10 {
		t.Fatalf("body damaged: %d bytes, %v", len(body), err)
	}
}

// TestBodyTransformChunkedUnderBound: a small chunked JSON answer is edited.
func TestBodyTransformChunkedUnderBound(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyStream(strings.NewReader(`{"a":1}`), -1)
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	g := startGateway(t, strings.Replace(bodyConfig, `name = "big"
targets = [{ url = "{{ORIGIN}}" }]`, `name = "big"
targets = [{ url = "http://`+ln.Addr().String()+`" }]`, 1))
	status, _, body := g.do("GET", "/x", nil, nil)
	if status != 200 || string(body) != `{"a":1,"api":"v2"}` {
		t.Fatalf("status %d body %s", status, body)
	}
	// The upstream connection went back to the pool: a second request works.
	if status, _, body = g.do("GET", "/x", nil, nil); status != 200 || string(body) != `{"a":1,"api":"v2"}` {
		t.Fatalf("second: status %d body %s", status, body)
	}
}

func itoaTest(n int) string { return string(fasthttp.AppendUint(nil, n)) }
