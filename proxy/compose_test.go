package proxy

import (
	"bufio"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/bench/origin"
	"github.com/valyala/fasthttp"
)

// composeConfig is a gateway with one composite API over the bench origin
// ({{ORIGIN}}), a second origin ({{ORIGIN2}}) and a mock; calls is the
// compose list.
func composeConfig(calls string) string {
	return `
[[backends]]
name = "origin"
targets = [{ url = "{{ORIGIN}}" }]

[[backends]]
name = "origin2"
targets = [{ url = "{{ORIGIN2}}" }]

[[backends]]
name = "profile"
[backends.mock]
body = '{"plan":"gold","seats":3}'

[[backends]]
name = "dash"
compose = [
` + calls + `
]

[[groups]]
name = "g"
[groups.stages.RELEASE.variables]
env = "prod"

[[groups.apis]]
name = "dash"
methods = ["GET"]
path = "/dash/{id}"
stages = ["RELEASE"]
backend = "dash"
timeout = "5s"
`
}

// startComposeGateway starts the gateway with a second bench origin in
// place of {{ORIGIN2}}.
func startComposeGateway(t *testing.T, calls string) *gateway {
	t.Helper()
	o2, err := origin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o2.Close() })
	return startGateway(t, strings.ReplaceAll(composeConfig(calls), "{{ORIGIN2}}", o2.URL()))
}

// barrierOrigin answers only once n requests are in flight together (or
// after 5s with 500): a composite whose calls ran one after another can
// never get its first answer in time.
func barrierOrigin(t *testing.T, n int) string {
	t.Helper()
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		mu.Lock()
		arrived++
		if arrived == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
			ctx.SetContentType("application/json")
			ctx.SetBodyString(`{"path":"` + string(ctx.RequestURI()) + `"}`)
		case <-time.After(5 * time.Second):
			ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		}
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

func TestCompositeMergesThreeCallsInParallel(t *testing.T) {
	barrier := barrierOrigin(t, 3)
	cfg := strings.ReplaceAll(composeConfig(`
  { backend = "barrier", path = "/users/{id}", key = "user" },
  { name = "orders", backend = "barrier", path = "/orders?user={path.id}&env={var.env}", key = "orders" },
  { name = "stock", backend = "barrier", path = "/stock/{query.sku}", key = "stock" },
  { name = "profile", backend = "profile", path = "/p" },
`), `[[backends]]
name = "origin2"
targets = [{ url = "{{ORIGIN2}}" }]`, `[[backends]]
name = "barrier"
targets = [{ url = "`+barrier+`" }]`)
	g := startGateway(t, cfg)
	status, h, body := g.do("GET", "/dash/42?sku=a%2Fb%3Fc", nil, nil)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	if ct := string(h.ContentType()); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if p := h.Peek(headerPartial); p != nil {
		t.Fatalf("no call failed, yet %s: %s", headerPartial, p)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("merged answer is not JSON: %v: %s", err, body)
	}
	want := map[string]string{
		"user":   `{"path":"/users/42"}`,
		"orders": `{"path":"/orders?user=42&env=prod"}`,
		"stock":  `{"path":"/stock/a%2Fb%3Fc"}`, // the client's value stays one segment
		"plan":   `"gold"`,                      // merged at the top level
		"seats":  `3`,
	}
	if len(got) != len(want) {
		t.Fatalf("merged shape %s, want keys %v", body, want)
	}
	for k, v := range want {
		if string(got[k]) != v {
			t.Errorf("%s = %s, want %s (whole answer %s)", k, got[k], v, body)
		}
	}
}

func TestCompositeCallsCarryTemplatesAndHeaders(t *testing.T) {
	g := startComposeGateway(t, `
  { name = "echo", backend = "origin", path = "/echo?user={id}&env={var.env}&q={query.q}", key = "echo" },
`)
	status, h, body := g.do("GET", "/dash/7?q=x%26y%3Dz", map[string]string{"X-Request-Id": "compose-req-1"}, nil)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var got struct {
		Echo origin.Echo `json:"echo"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Echo.URI != "/echo?user=7&env=prod&q=x%26y%3Dz" {
		t.Fatalf("call URI %q: a query value must stay one parameter", got.Echo.URI)
	}
	if got.Echo.Method != "GET" || got.Echo.Headers["X-Request-Id"] != "compose-req-1" {
		t.Fatalf("call request %+v", got.Echo)
	}
	if string(h.Peek("X-Request-Id")) != "compose-req-1" {
		t.Fatalf("X-Request-Id not echoed")
	}
}

// TestCompositeSlowestCallBoundsLatency: three calls of 300ms, 300ms and
// 900ms answer in about 900ms, never the 1.5s sum.
func TestCompositeSlowestCallBoundsLatency(t *testing.T) {
	g := startComposeGateway(t, `
  { name = "a", backend = "origin", path = "/echo?delay=300ms", key = "a" },
  { name = "b", backend = "origin2", path = "/echo?delay=300ms", key = "b" },
  { name = "c", backend = "origin", path = "/echo?delay=900ms", key = "c" },
`)
	start := time.Now()
	status, _, body := g.do("GET", "/dash/1", nil, nil)
	took := time.Since(start)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	if took < 900*time.Millisecond || took >= 1500*time.Millisecond {
		t.Fatalf("took %v: want the slowest call (900ms), not the sum (1.5s)", took)
	}
	t.Logf("three calls of 300ms, 300ms, 900ms answered in %v", took)
}

func TestCompositeRequiredAndOptionalFailures(t *testing.T) {
	g := startComposeGateway(t, `
  { name = "ok", backend = "origin", path = "/echo", key = "ok" },
  { name = "broken", backend = "origin2", path = "/x?status=500", key = "broken", required = false },
  { name = "binary", backend = "origin", path = "/x?size=10", key = "binary", required = false },
`)
	status, h, body := g.do("GET", "/dash/1", nil, nil)
	if status != 200 {
		t.Fatalf("optional failures must not fail the request: %d %s", status, body)
	}
	if p := string(h.Peek(headerPartial)); p != "broken,binary" {
		t.Fatalf("%s = %q, want \"broken,binary\"", headerPartial, p)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if string(got["broken"]) != "null" || string(got["binary"]) != "null" || len(got["ok"]) == 0 {
		t.Fatalf("optional failures are null keys: %s", body)
	}

	// The same failures on required calls: 502 naming the call.
	for _, tc := range []struct{ calls, name, why string }{
		{`{ name = "broken", backend = "origin2", path = "/x?status=500", key = "broken" }`, `"broken"`, "status 500"},
		{`{ name = "binary", backend = "origin", path = "/x?size=10", key = "binary" }`, `"binary"`, "not JSON"},
		{`{ name = "flat", backend = "origin", path = "/echo?x=1" }, { name = "notobj", backend = "profile", path = "/", key = "" }`, `"notobj"`, ""},
		{`{ name = "dead", backend = "dead", path = "/", key = "dead" }`, `"dead"`, "no upstream target accepted the connection"},
	} {
		cfg := strings.ReplaceAll(composeConfig(`{ name = "ok", backend = "origin", path = "/echo", key = "ok" },`+tc.calls), `[[groups]]`,
			"[[backends]]\nname = \"dead\"\ntargets = [{ url = \"http://"+deadAddr(t)+"\" }]\nconnect_timeout = \"100ms\"\n\n[[groups]]")
		g := startGateway(t, strings.ReplaceAll(cfg, "{{ORIGIN2}}", g.origin.URL()))
		status, h, body := g.do("GET", "/dash/1", nil, nil)
		if tc.name == `"notobj"` {
			// A mock whose body is an object merges fine; the top-level rule
			// is checked with a keyless call whose answer is not an object.
			cfg2 := strings.ReplaceAll(cfg, `{ name = "notobj", backend = "profile", path = "/", key = "" }`, `{ name = "notobj", backend = "arr", path = "/" }`)
			cfg2 = strings.ReplaceAll(cfg2, "[[groups]]", "[[backends]]\nname = \"arr\"\n[backends.mock]\nbody = '[1,2]'\n\n[[groups]]")
			g2 := startGateway(t, strings.ReplaceAll(cfg2, "{{ORIGIN2}}", g.origin.URL()))
			status, h, body = g2.do("GET", "/dash/1", nil, nil)
		}
		e := wantError(t, status, h, body, 502, CodeCompositeCallFailed)
		if !strings.Contains(e.Error.Message, tc.name) || !strings.Contains(e.Error.Message, tc.why) {
			t.Errorf("message %q should name the call %s and say %q", e.Error.Message, tc.name, tc.why)
		}
		if strings.Contains(e.Error.Message, "127.0.0.1") {
			t.Errorf("message %q shows an upstream address", e.Error.Message)
		}
	}
}

func TestCompositePerCallTimeout(t *testing.T) {
	g := startComposeGateway(t, `
  { name = "fast", backend = "origin", path = "/echo", key = "fast" },
  { name = "slow", backend = "origin2", path = "/echo?delay=3s", key = "slow", timeout = "200ms", required = false },
`)
	start := time.Now()
	status, h, body := g.do("GET", "/dash/1", nil, nil)
	took := time.Since(start)
	if status != 200 || string(h.Peek(headerPartial)) != "slow" {
		t.Fatalf("status %d, partial %q: %s", status, h.Peek(headerPartial), body)
	}
	if took >= 2*time.Second {
		t.Fatalf("took %v: the 200ms call timeout did not cut the 3s call", took)
	}
	if !strings.Contains(string(body), `"slow":null`) {
		t.Fatalf("timed-out optional call: %s", body)
	}

	g2 := startComposeGateway(t, `
  { name = "slow", backend = "origin2", path = "/echo?delay=3s", key = "slow", timeout = "200ms" },
`)
	status, h, body = g2.do("GET", "/dash/1", nil, nil)
	e := wantError(t, status, h, body, 502, CodeCompositeCallFailed)
	if !strings.Contains(e.Error.Message, `"slow"`) || !strings.Contains(e.Error.Message, "timed out") {
		t.Fatalf("message %q", e.Error.Message)
	}
}

// TestCompositeRefusesTenMiBAnswer: a call answering 10 MiB is refused by its
// max_size without the gateway reading the answer to its end.
func TestCompositeRefusesTenMiBAnswer(t *testing.T) {
	g := startComposeGateway(t, `
  { name = "ok", backend = "origin", path = "/echo", key = "ok" },
  { name = "huge", backend = "origin2", path = "/x?size=10485760", key = "huge", max_size = "1MiB" },
`)
	status, h, body := g.do("GET", "/dash/1", nil, nil)
	e := wantError(t, status, h, body, 502, CodeCompositeCallFailed)
	if !strings.Contains(e.Error.Message, `"huge"`) || !strings.Contains(e.Error.Message, "max_size") {
		t.Fatalf("message %q", e.Error.Message)
	}
	// Chunked (no Content-Length) answers are bounded while read.
	chunked := chunkedOrigin(t, 10<<20)
	cfg := strings.ReplaceAll(composeConfig(`
  { name = "huge", backend = "origin2", path = "/", key = "huge", max_size = "64KiB" },
`), "{{ORIGIN2}}", chunked)
	g2 := startGateway(t, cfg)
	status, h, body = g2.do("GET", "/dash/1", nil, nil)
	e = wantError(t, status, h, body, 502, CodeCompositeCallFailed)
	if !strings.Contains(e.Error.Message, "max_size") {
		t.Fatalf("chunked 10 MiB answer: %q", e.Error.Message)
	}
	// The optional variant: the key is null and the header names the call.
	g3 := startComposeGateway(t, `
  { name = "huge", backend = "origin2", path = "/x?size=10485760", key = "huge", required = false },
  { name = "ok", backend = "origin", path = "/echo", key = "ok" },
`)
	status, h, body = g3.do("GET", "/dash/1", nil, nil)
	if status != 200 || string(h.Peek(headerPartial)) != "huge" || !strings.Contains(string(body), `"huge":null`) {
		t.Fatalf("status %d partial %q body %.200s", status, h.Peek(headerPartial), body)
	}
}

// chunkedOrigin answers every request with n bytes of a JSON string, chunked
// (no Content-Length).
func chunkedOrigin(t *testing.T, n int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			_, _ = w.WriteString(`"`)
			chunk := strings.Repeat("a", 32<<10)
			for sent := 0; sent < n; sent += len(chunk) {
				if _, err := w.WriteString(chunk); err != nil {
					return
				}
				if err := w.Flush(); err != nil {
					return
				}
			}
			_, _ = w.WriteString(`"`)
		})
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// TestCompositeAPITimeoutAbandonsAStalledCall: a call whose answer started
// and then stalls mid-body is abandoned at the API's timeout; the request
// does not wait for the stalled read (bounded only by the idle timeout).
func TestCompositeAPITimeoutAbandonsAStalledCall(t *testing.T) {
	release := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			_, _ = w.WriteString(`{"partial":`)
			_ = w.Flush()
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
			_, _ = w.WriteString(`1}`)
		})
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { close(release); _ = srv.Shutdown() })
	cfg := strings.ReplaceAll(composeConfig(`
  { name = "stalled", backend = "origin2", path = "/", key = "stalled" },
  { name = "ok", backend = "origin", path = "/echo", key = "ok" },
`), "{{ORIGIN2}}", "http://"+ln.Addr().String())
	cfg = strings.Replace(cfg, `timeout = "5s"`, `timeout = "500ms"`, 1)
	g := startGateway(t, cfg)
	start := time.Now()
	status, h, body := g.do("GET", "/dash/1", nil, nil)
	took := time.Since(start)
	e := wantError(t, status, h, body, 502, CodeCompositeCallFailed)
	if !strings.Contains(e.Error.Message, `"stalled"`) || !strings.Contains(e.Error.Message, "timed out") {
		t.Fatalf("message %q", e.Error.Message)
	}
	if took > 3*time.Second {
		t.Fatalf("took %v: the API's 500ms timeout did not end the request", took)
	}
}

// TestCompositeRequiredFailureAnswersAtOnce: a required call that fails ends
// the request at once; a slow call still running is not waited for, and the
// 502 names the call that failed, not the one abandoned.
func TestCompositeRequiredFailureAnswersAtOnce(t *testing.T) {
	g := startComposeGateway(t, `
  { name = "slow", backend = "origin", path = "/echo?delay=3s", key = "slow" },
  { name = "broken", backend = "origin2", path = "/x?status=503", key = "broken" },
`)
	start := time.Now()
	status, h, body := g.do("GET", "/dash/1", nil, nil)
	took := time.Since(start)
	e := wantError(t, status, h, body, 502, CodeCompositeCallFailed)
	if !strings.Contains(e.Error.Message, `"broken"`) || !strings.Contains(e.Error.Message, "status 503") {
		t.Fatalf("message %q: want the failed call named", e.Error.Message)
	}
	if took >= 2*time.Second {
		t.Fatalf("took %v: the request waited for the 3s call after a required one failed", took)
	}
}

// TestCompositeDependentCall: a call may take a field of an earlier call's
// answer ({call.NAME.FIELD}); it then runs after that call.
func TestCompositeDependentCall(t *testing.T) {
	cfg := strings.ReplaceAll(composeConfig(`
  { name = "user", backend = "account", path = "/u/{id}", key = "user" },
  { name = "team", backend = "origin", path = "/echo?team={call.user.profile.team}&uid={call.user.id}&id={id}", key = "team" },
`), "[[groups]]", `[[backends]]
name = "account"
[backends.mock]
body = '{"id":"u/7&x","profile":{"team":42,"tags":["a"]}}'

[[groups]]`)
	g := startGateway(t, strings.ReplaceAll(cfg, "{{ORIGIN2}}", "http://127.0.0.1:9"))
	status, _, body := g.do("GET", "/dash/5", nil, nil)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var got struct {
		Team origin.Echo `json:"team"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Team.URI != "/echo?team=42&uid=u%2F7%26x&id=5" {
		t.Fatalf("dependent call URI %q", got.Team.URI)
	}

	for _, tc := range []struct{ from, to, want string }{
		{"{call.user.profile.team}", "{call.user.profile.tags}", `no string, number or boolean at "profile.tags"`},
		{"{call.user.profile.team}", "{call.user.nope}", `no string, number or boolean at "nope"`},
		{`backend = "account", path = "/u/{id}"`, `backend = "origin", path = "/x?status=500"`, `depends on call "user", which failed`},
	} {
		g := startGateway(t, strings.ReplaceAll(strings.Replace(cfg, tc.from, tc.to, 1), "{{ORIGIN2}}", "http://127.0.0.1:9"))
		status, h, body := g.do("GET", "/dash/5", nil, nil)
		if strings.Contains(tc.want, "depends") {
			// "user" itself is required and fails first; make it optional
			// to see the dependent call's own failure.
			g = startGateway(t, strings.ReplaceAll(strings.Replace(strings.Replace(cfg, tc.from, tc.to, 1),
				`key = "user" }`, `key = "user", required = false }`, 1), "{{ORIGIN2}}", "http://127.0.0.1:9"))
			status, h, body = g.do("GET", "/dash/5", nil, nil)
		}
		e := wantError(t, status, h, body, 502, CodeCompositeCallFailed)
		if !strings.Contains(e.Error.Message, `"team"`) || !strings.Contains(e.Error.Message, tc.want) {
			t.Errorf("message %q, want the team call and %q", e.Error.Message, tc.want)
		}
	}
}
