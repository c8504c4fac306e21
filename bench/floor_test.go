package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"flag"
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"go/types"
	"math"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"github.com/sluicegw/sluice/bench/origin"
	"github.com/sluicegw/sluice/policy"
	"github.com/valyala/fasthttp"
)

// The test binary doubles as the floor process of the runner's tests: the
// runner starts RunOptions.FloorBin (by default this program) with
// "floor ...", while the environment may ask for the fake gateway
// (TestMain), so the floor is picked off here, before TestMain runs. A test
// binary is never otherwise run with a first argument that is not a flag.
func init() {
	if len(os.Args) > 1 && os.Args[1] == "floor" {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr, nil))
	}
}

// startFloor runs the floor in this process against origin and returns
// its address; it stops with the test.
func startFloor(t *testing.T, originAddr, prefix string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runFloor(ctx, "127.0.0.1:0", originAddr, prefix, func(a string) { addrc <- a })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("floor: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("floor did not stop")
		}
	})
	select {
	case a := <-addrc:
		return a
	case err := <-done:
		t.Fatalf("floor: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("floor did not start")
	}
	return ""
}

// rawClient speaks HTTP/1.1 over one loopback connection, so the test
// controls every header byte, hop-by-hop ones included.
type rawClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

// do sends raw (a request head, CRLF line ends added) plus body and reads the answer.
func (rc *rawClient) do(head string, body []byte) *fasthttp.Response {
	rc.t.Helper()
	_ = rc.c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := strings.ReplaceAll(strings.TrimSpace(head), "\n", "\r\n") + "\r\n\r\n"
	if _, err := rc.c.Write(append([]byte(msg), body...)); err != nil {
		rc.t.Fatal(err)
	}
	resp := &fasthttp.Response{}
	if err := resp.Read(rc.br); err != nil {
		rc.t.Fatalf("reading the answer to %q: %v", head, err)
	}
	return resp
}

// TestFloorProxies checks the floor on real loopback sockets against the
// origin stub: prefix stripped, body bytes both ways, X-Forwarded-For
// appended, hop-by-hop headers (and those Connection names) removed, the
// client's Connection: close honoured, unknown paths refused.
func TestFloorProxies(t *testing.T) {
	o, err := origin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	addr := startFloor(t, o.Addr(), floorPrefix)
	rc := dialRaw(t, addr)

	resp := rc.do(`GET /anon/echo?x=1 HTTP/1.1
Host: bench.test
Connection: keep-alive, X-Hop
X-Hop: secret
Keep-Alive: timeout=5
Proxy-Authorization: Basic Zm9vOmJhcg==
Proxy-Connection: keep-alive
Te: trailers
Upgrade: h2c
X-Forwarded-For: 203.0.113.7
X-Keep: yes`, nil)
	if resp.StatusCode() != 200 {
		t.Fatalf("echo: status %d: %s", resp.StatusCode(), resp.Body())
	}
	var e origin.Echo
	if err := json.Unmarshal(resp.Body(), &e); err != nil {
		t.Fatalf("echo body %q: %v", resp.Body(), err)
	}
	if e.URI != "/echo?x=1" || e.Host != "bench.test" || e.Method != "GET" {
		t.Errorf("origin saw %s %s host %s, want GET /echo?x=1 host bench.test", e.Method, e.URI, e.Host)
	}
	if got := e.Headers["X-Forwarded-For"]; got != "203.0.113.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q, want the client appended to the earlier hop", got)
	}
	if e.Headers["X-Keep"] != "yes" {
		t.Errorf("end-to-end header lost: %v", e.Headers)
	}
	for _, h := range []string{"Connection", "X-Hop", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "Te", "Upgrade"} {
		if v, ok := e.Headers[h]; ok {
			t.Errorf("hop-by-hop %s: %q reached the origin", h, v)
		}
	}

	// Same client connection: body bytes out, the prefix alone, a query
	// right after the prefix.
	resp = rc.do("GET /anon/item?size=1024 HTTP/1.1\nHost: bench.test", nil)
	if resp.StatusCode() != 200 || len(resp.Body()) != 1024 || string(resp.Header.Peek("X-Origin-Uri")) != "/item?size=1024" {
		t.Errorf("item: status %d, %d bytes, origin URI %q", resp.StatusCode(), len(resp.Body()), resp.Header.Peek("X-Origin-Uri"))
	}
	for uri, want := range map[string]string{"/anon": "/", "/anon?size=5": "/?size=5", "/anon/": "/"} {
		resp = rc.do("GET "+uri+" HTTP/1.1\nHost: bench.test", nil)
		if resp.StatusCode() != 200 || string(resp.Header.Peek("X-Origin-Uri")) != want {
			t.Errorf("%s: status %d, origin URI %q, want %q", uri, resp.StatusCode(), resp.Header.Peek("X-Origin-Uri"), want)
		}
	}
	resp = rc.do("GET /anonymous/item HTTP/1.1\nHost: bench.test", nil)
	if resp.StatusCode() != 404 {
		t.Errorf("/anonymous: status %d, want 404 (not under /anon)", resp.StatusCode())
	}

	// Body bytes in: the origin's /sink digests what it got.
	body := (&Scenario{BodyBytes: 16384}).Body()
	sum := md5.Sum(body)
	resp = rc.do("POST /anon/sink HTTP/1.1\nHost: bench.test\nContent-Type: application/octet-stream\nContent-Length: 16384", body)
	var sink struct {
		Bytes int    `json:"bytes"`
		MD5   string `json:"md5"`
	}
	if err := json.Unmarshal(resp.Body(), &sink); err != nil || resp.StatusCode() != 200 ||
		sink.Bytes != len(body) || sink.MD5 != hex.EncodeToString(sum[:]) {
		t.Errorf("sink: status %d, %s (%v), want %d bytes md5 %x", resp.StatusCode(), resp.Body(), err, len(body), sum)
	}

	// Bodies the floor does not buffer stream through: one over the
	// stream threshold, one chunked.
	big := (&Scenario{BodyBytes: 2<<20 + 3}).Body()
	bigSum := md5.Sum(big)
	resp = rc.do("POST /anon/sink HTTP/1.1\nHost: bench.test\nContent-Length: "+itoa(len(big)), big)
	if err := json.Unmarshal(resp.Body(), &sink); err != nil || sink.Bytes != len(big) || sink.MD5 != hex.EncodeToString(bigSum[:]) {
		t.Errorf("streamed sink: status %d, %s (%v)", resp.StatusCode(), resp.Body(), err)
	}
	resp = rc.do("POST /anon/sink HTTP/1.1\nHost: bench.test\nTransfer-Encoding: chunked", []byte("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"))
	helloSum := md5.Sum([]byte("hello world"))
	if err := json.Unmarshal(resp.Body(), &sink); err != nil || sink.Bytes != 11 || sink.MD5 != hex.EncodeToString(helloSum[:]) {
		t.Errorf("chunked sink: status %d, %s (%v)", resp.StatusCode(), resp.Body(), err)
	}

	// The client's Connection: close is honoured, not passed on.
	resp = rc.do("GET /anon/item?size=10 HTTP/1.1\nHost: bench.test\nConnection: close", nil)
	if resp.StatusCode() != 200 || len(resp.Body()) != 10 || !resp.ConnectionClose() {
		t.Errorf("close: status %d, %d bytes, close %v", resp.StatusCode(), len(resp.Body()), resp.ConnectionClose())
	}
	_ = rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := rc.br.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("connection still open after Connection: close (%d, %v)", n, err)
	}
	if o.Requests() != 9 {
		t.Errorf("origin served %d requests, want 9 (the 404 never reaches it)", o.Requests())
	}
}

// TestFloorResponseHopByHop checks the answer's side: hop-by-hop headers
// of the origin (and those its Connection names) are removed, and an
// origin closing its connection does not close the client's.
func TestFloorResponseHopByHop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		h := &ctx.Response.Header
		h.Set("Connection", "X-Resp-Hop")
		h.Set("X-Resp-Hop", "1")
		h.Set("Keep-Alive", "timeout=1")
		h.Set("Proxy-Authenticate", "Basic")
		h.Set("X-Resp-Keep", "yes")
		if ctx.QueryArgs().Has("close") {
			ctx.SetConnectionClose()
		}
		ctx.Response.SetBodyString("ok")
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { _ = srv.Shutdown() })
	rc := dialRaw(t, startFloor(t, ln.Addr().String(), ""))
	for _, uri := range []string{"/x?close=1", "/y", "/z?close=1"} {
		resp := rc.do("GET "+uri+" HTTP/1.1\nHost: bench.test", nil)
		if resp.StatusCode() != 200 || string(resp.Body()) != "ok" || resp.ConnectionClose() {
			t.Errorf("%s: status %d body %q close %v", uri, resp.StatusCode(), resp.Body(), resp.ConnectionClose())
		}
		if string(resp.Header.Peek("X-Resp-Keep")) != "yes" {
			t.Errorf("%s: end-to-end header lost", uri)
		}
		for _, h := range []string{"X-Resp-Hop", "Keep-Alive", "Proxy-Authenticate"} {
			if v := resp.Header.Peek(h); v != nil {
				t.Errorf("%s: hop-by-hop %s: %q reached the client", uri, h, v)
			}
		}
	}
}

// TestFloorOriginDown: a refused origin connection is a 502, and the floor
// keeps serving.
func TestFloorOriginDown(t *testing.T) {
	rc := dialRaw(t, startFloor(t, closedPort(t), floorPrefix))
	for range 2 {
		resp := rc.do("GET /anon/item HTTP/1.1\nHost: bench.test", nil)
		if resp.StatusCode() != fasthttp.StatusBadGateway {
			t.Errorf("status %d, want 502", resp.StatusCode())
		}
	}
}

// TestFloorCommand checks the subcommand's checks and that it serves until
// its context ends.
func TestFloorCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	for _, args := range [][]string{
		{"-listen", "10.0.0.1:80", "-origin", "127.0.0.1:1"},
		{"-listen", "127.0.0.1:0", "-origin", "192.0.2.1:80"},
		{"-listen", "127.0.0.1:0", "-origin", "127.0.0.1:1", "-strip-prefix", "anon"},
		{"-listen", "127.0.0.1:0", "-origin", "127.0.0.1:1", "extra"},
	} {
		if code := Main(append([]string{"floor"}, args...), &out, &errOut, nil); code != 2 {
			t.Errorf("floor %v: exit %d, want 2 (usage)", args, code)
		}
	}
	// Documented: the command in the usage text, its flags and -no-floor in -h.
	out.Reset()
	errOut.Reset()
	if Main([]string{"help"}, &out, &errOut, nil); !containsAll(out.String(), "sluice-bench floor", "-strip-prefix /anon") {
		t.Errorf("usage text:\n%s", out.String())
	}
	Main([]string{"floor", "-h"}, &out, &errOut, nil)
	Main([]string{"run", "-h"}, &out, &errOut, nil)
	if !containsAll(errOut.String(), "-strip-prefix", "-origin", "-cpuprofile", "-no-floor") {
		t.Errorf("flag help:\n%s", errOut.String())
	}
	errOut.Reset()
	o := startTestOrigin(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stdout syncBuffer
	args := []string{"-listen", "127.0.0.1:0", "-origin", o.Addr(), "-strip-prefix", "/api/"}
	profile := ""
	if f := flag.Lookup("test.cpuprofile"); f == nil || f.Value.String() == "" {
		// Not when go test profiles this process: one CPU profile at a time.
		profile = filepath.Join(t.TempDir(), "floor.pprof")
		args = append(args, "-cpuprofile", profile)
	}
	go func() { done <- cmdFloor(ctx, args, &stdout, &errOut) }()
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if s := stdout.String(); strings.Contains(s, "listening on ") {
			addr = strings.Fields(strings.SplitN(s, "listening on ", 2)[1])[0]
			addr = strings.TrimSuffix(addr, ",")
		}
	}
	if addr == "" {
		cancel()
		t.Fatalf("no listening line: %q %q", stdout.String(), errOut.String())
	}
	if err := HTTPReady(addr, "/api/ready?size=2")(context.Background()); err != nil {
		t.Errorf("through the floor: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("floor exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("floor did not stop with its context")
	}
	if st, err := os.Stat(profile); profile != "" && (err != nil || st.Size() == 0) {
		t.Errorf("no CPU profile written at exit: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// floorScenario builds an anon-1k result from per-repetition CPU figures
// (nil: the target did not run) and lets addFloorRatios pair them.
func floorScenario(sluice, floor, nginx []float64) *Results {
	sc, err := ScenarioByName("anon-1k")
	if err != nil {
		panic(err)
	}
	runs := func(cpus []float64) []RunFigures {
		var out []RunFigures
		for i, c := range cpus {
			out = append(out, RunFigures{Rep: i + 1, Figures: Figures{Throughput: 1000 / c, P99: time.Millisecond, CPUPerRequestUS: c}})
		}
		return out
	}
	sr := ScenarioResult{Scenario: *sc, Reference: "nginx"}
	for _, t := range []struct {
		name string
		cpus []float64
	}{{TargetSluice, sluice}, {TargetFloor, floor}, {"nginx", nginx}, {TargetDirect, []float64{0, 0}}} {
		if t.cpus != nil {
			r := runs(t.cpus)
			sr.Targets = append(sr.Targets, TargetResult{Target: t.name, Runs: r, Median: medianFigures(r)})
		}
	}
	summarize(sr.Targets, "nginx")
	addFloorRatios(sr.Targets)
	return &Results{Schema: resultsSchema, Scenarios: []ScenarioResult{sr}}
}

func floorGoal(t *testing.T, res *Results) Goal {
	t.Helper()
	for _, g := range ComputeGoals(res) {
		if g.ID == "cpu-over-floor-anon-1k" {
			return g
		}
	}
	t.Fatal("no floor goal")
	return Goal{}
}

// TestFloorGoal: the goal is the median of per-repetition ratios sluice /
// floor, not the ratio of medians, at most 1.05.
func TestFloorGoal(t *testing.T) {
	for _, c := range []struct {
		name                  string
		sluice, floor, nginx  []float64
		status                string
		ratio                 float64
		measured, reasonMatch string
	}{
		{name: "met", sluice: []float64{20.4, 21, 20.6}, floor: []float64{20, 20, 20}, nginx: []float64{15, 15, 15},
			status: GoalMet, ratio: 1.03, measured: "sluice 20.60 vs floor 20.00 µs/req (+3.0 %)"},
		{name: "exactly the limit", sluice: []float64{21, 21}, floor: []float64{20, 20}, nginx: []float64{15, 15},
			status: GoalMet, ratio: 1.05, measured: "sluice 21.00 vs floor 20.00 µs/req (+5.0 %)"},
		// Per-rep ratios 1.0 and 1.5: median 1.25, where medians would say 20/15 = 1.33.
		{name: "per-repetition", sluice: []float64{10, 30}, floor: []float64{10, 20}, nginx: []float64{9, 9},
			status: GoalMissed, ratio: 1.25, measured: "sluice 20.00 vs floor 15.00 µs/req (+25.0 %)"},
		{name: "no floor", sluice: []float64{20}, nginx: []float64{15},
			status: GoalNotMeasured, reasonMatch: "floor did not run"},
		{name: "no gateway", floor: []float64{20}, nginx: []float64{15},
			status: GoalNotMeasured, reasonMatch: "sluice did not run"},
	} {
		g := floorGoal(t, floorScenario(c.sluice, c.floor, c.nginx))
		if g.Status != c.status || math.Abs(g.Ratio-c.ratio) > 1e-9 || g.Measured != c.measured ||
			!strings.Contains(g.Reason, c.reasonMatch) || g.Limit != 1.05 || g.Scenario != "anon-1k" {
			t.Errorf("%s: %+v, want %s %.3f %q %q", c.name, g, c.status, c.ratio, c.measured, c.reasonMatch)
		}
	}
	// Failed, skipped, absent.
	res := floorScenario([]float64{20, 20}, []float64{20, 20}, nil)
	res.Scenarios[0].Targets[1].Skipped = "floor binary x not found"
	if g := floorGoal(t, res); g.Status != GoalNotMeasured || g.Reason != "floor skipped: floor binary x not found" {
		t.Errorf("skipped floor: %+v", g)
	}
	res = floorScenario([]float64{20, 20}, []float64{20, 20}, nil)
	for i := range res.Scenarios[0].Targets[0].Runs {
		res.Scenarios[0].Targets[0].Runs[i].Failed = "boom"
	}
	if g := floorGoal(t, res); g.Status != GoalNotMeasured || g.Reason != "sluice failed every repetition" {
		t.Errorf("failed gateway: %+v", g)
	}
	res.Scenarios[0].Scenario.Name = "anon-16k"
	if g := floorGoal(t, res); g.Status != GoalNotMeasured || g.Reason != "scenario anon-1k not in this run" {
		t.Errorf("no anon-1k: %+v", g)
	}
}

// TestFloorRatiosReport: every target beside the floor but direct gets its
// ratios to the floor; the report and compare carry them.
func TestFloorRatiosReport(t *testing.T) {
	res := floorScenario([]float64{22, 22}, []float64{20, 20}, []float64{16, 16})
	ts := res.Scenarios[0].Targets
	if ts[0].VsFloor == nil || math.Abs(ts[0].VsFloor.CPUPerRequestUS-1.1) > 1e-9 || ts[0].VsFloor.Reference != TargetFloor {
		t.Errorf("sluice vs floor %+v", ts[0].VsFloor)
	}
	if ts[2].VsFloor == nil || ts[2].VsFloor.CPUPerRequestUS != 0.8 || ts[1].VsFloor != nil || ts[3].VsFloor != nil {
		t.Errorf("nginx %+v, floor %+v, direct %+v", ts[2].VsFloor, ts[1].VsFloor, ts[3].VsFloor)
	}
	md := RenderMarkdown(res, ".")
	if !containsAll(md, "### Over the fasthttp floor", "| anon-1k | 22.00 | 20.00 | +10.0 % | 0.91 | 1.25 |",
		"CPU per request over the fasthttp floor (median of per-repetition ratios): sluice +10.0 %, nginx -20.0 %.",
		"`floor` is a minimal fasthttp reverse proxy") {
		t.Errorf("markdown:\n%s", md)
	}
	// compare reads the ratio to the floor as a figure of its own.
	cur := floorScenario([]float64{24, 24}, []float64{20, 20}, []float64{16, 16})
	var found bool
	for _, c := range Compare(res, cur, 0.05) {
		if c.Target == TargetSluice && c.Figure == "cpu_vs_floor" {
			found = true
			if c.Old != 1.1 || c.New != 1.2 || !c.Regression {
				t.Errorf("cpu_vs_floor change %+v", c)
			}
		}
	}
	if !found {
		t.Error("compare has no cpu_vs_floor figure")
	}
	// Results without the floor (older files) compare as before.
	old := floorScenario([]float64{22, 22}, nil, []float64{16, 16})
	for _, c := range Compare(old, cur, 0.05) {
		if c.Figure == "cpu_vs_floor" {
			t.Errorf("compared with a run that had no floor: %+v", c)
		}
	}
}

// TestFloorScenarios: the floor runs beside the gateway in the peer
// scenarios, the policy ones included, but not where the cache answers,
// not beside baseline comparisons, not without the gateway, not with
// -no-floor, and not in the capacity search unless named.
func TestFloorScenarios(t *testing.T) {
	r := &runner{opts: RunOptions{GatewayBin: os.Args[0], FloorBin: os.Args[0]}}
	for _, c := range []struct {
		scenario string
		planned  bool
		reason   string
	}{
		{"anon-1k", true, ""}, {"post-16k", true, ""}, {"full-chain", true, ""}, {"idle-10k", true, ""},
		{"cache-hit", false, "response cache"}, {"hmac", false, ""}, {"anon-1k-log", false, ""}, {"apis-10k", false, ""},
	} {
		sc, err := ScenarioByName(c.scenario)
		if err != nil {
			t.Fatal(err)
		}
		if got := contains(r.plannedTargets(sc), TargetFloor); got != c.planned {
			t.Errorf("%s: floor planned %v, want %v", c.scenario, got, c.planned)
		}
		if reason := r.floorReason(sc); (c.reason == "") != (reason == "") || !strings.Contains(reason, c.reason) {
			t.Errorf("%s: reason %q, want %q", c.scenario, reason, c.reason)
		}
	}
	anon, _ := ScenarioByName("anon-1k")
	r.opts.Preset.Capacity.Scenario = "anon-1k"
	if ts := r.capacityTargets(); contains(ts, TargetFloor) || !contains(ts, TargetSluice) {
		t.Errorf("capacity targets %v: the floor only when named", ts)
	}
	r.opts.Preset.CapacityTargets = []string{TargetSluice, TargetFloor}
	if ts := r.capacityTargets(); !contains(ts, TargetFloor) {
		t.Errorf("capacity targets %v: the floor named", ts)
	}
	r.opts.FloorBin = "/nonexistent/sluice-bench"
	if reason := r.floorReason(anon); !strings.Contains(reason, "not found") {
		t.Errorf("missing floor binary: %q", reason)
	}
	r.opts.NoFloor, r.opts.FloorBin = true, os.Args[0]
	if contains(r.plannedTargets(anon), TargetFloor) {
		t.Error("floor planned with NoFloor")
	}
	r.opts.NoFloor, r.opts.GatewayBin = false, "/nonexistent/sluice"
	if contains(r.plannedTargets(anon), TargetFloor) {
		t.Error("floor planned without the gateway")
	}
}

// TestFloorShortBody: a body that ends before its Content-Length is a 400
// and never reaches the origin.
func TestFloorShortBody(t *testing.T) {
	o := startTestOrigin(t, 0)
	rc := dialRaw(t, startFloor(t, o.Addr(), floorPrefix))
	if _, err := rc.c.Write([]byte("POST /anon/item HTTP/1.1\r\nHost: bench.test\r\nContent-Length: 100\r\n\r\nonly ten b")); err != nil {
		t.Fatal(err)
	}
	_ = rc.c.(*net.TCPConn).CloseWrite()
	_ = rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var resp fasthttp.Response
	if err := resp.Read(rc.br); err != nil || resp.StatusCode() != fasthttp.StatusBadRequest {
		t.Errorf("short body: status %d (%v), want 400", resp.StatusCode(), err)
	}
	if o.Requests() != 0 {
		t.Errorf("origin got %d requests", o.Requests())
	}
}

// TestFloorTunedAsGateway keeps the floor's fasthttp server options in step
// with the gateway's (proxy/server.go, httpServer): the same options set,
// and the same value wherever the gateway's is a constant. An option added
// to the gateway fails this test until the floor mirrors it or the list of
// policy-only options below says why not.
func TestFloorTunedAsGateway(t *testing.T) {
	// Set by the gateway for its policy, not its tuning: its pipeline, JSON
	// errors for parse failures, early refusals of Expect: 100-continue,
	// tunnels that hijack connections.
	policyOnly := map[string]bool{"Handler": true, "ErrorHandler": true, "ExpectHandler": true, "KeepHijackedConns": true,
		"ConnState": true, // the gateway counts open connections with it: bookkeeping, not tuning
	}
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, filepath.Join("..", "proxy", "server.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	gateway := map[string]ast.Expr{}
	ast.Inspect(file, func(n ast.Node) bool {
		cl, ok := n.(*ast.CompositeLit)
		if !ok {
			return true
		}
		sel, ok := cl.Type.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "Server" {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "fasthttp" {
			return true
		}
		for _, e := range cl.Elts {
			kv := e.(*ast.KeyValueExpr)
			gateway[kv.Key.(*ast.Ident).Name] = kv.Value
		}
		return false
	})
	if len(gateway) < 10 {
		t.Fatalf("found %d options in proxy/server.go's fasthttp.Server literal", len(gateway))
	}
	f, err := newFloorProxy("127.0.0.1:1", floorPrefix)
	if err != nil {
		t.Fatal(err)
	}
	floor := reflect.ValueOf(f.srv).Elem()
	for name, expr := range gateway {
		if policyOnly[name] {
			continue
		}
		field := floor.FieldByName(name)
		if !field.IsValid() {
			t.Errorf("gateway option %s: no such fasthttp.Server field", name)
			continue
		}
		src := types.ExprString(expr)
		tv, err := types.Eval(token.NewFileSet(), nil, token.NoPos, src)
		if err != nil || tv.Value == nil {
			// From the config ([server] defaults apply in the bench) or a
			// value built at run time: the floor must set it too.
			if field.IsZero() && src != "false" {
				t.Errorf("gateway sets %s = %s; the floor leaves it unset", name, src)
			}
			continue
		}
		var want string
		switch tv.Value.Kind() {
		case constant.Bool:
			want = strconv.FormatBool(constant.BoolVal(tv.Value))
		case constant.Int:
			want = tv.Value.ExactString()
		default:
			t.Errorf("gateway option %s = %s: unexpected constant kind", name, src)
			continue
		}
		if got := fmt.Sprint(field.Interface()); got != want {
			t.Errorf("gateway sets %s = %s (%s); the floor %s", name, src, want, got)
		}
	}
	// And nothing the gateway does not set.
	zero := reflect.ValueOf(fasthttp.Server{})
	for i := 0; i < floor.NumField(); i++ {
		name := floor.Type().Field(i).Name
		if !floor.Type().Field(i).IsExported() || name == "Logger" {
			continue
		}
		if _, ok := gateway[name]; !ok && !policyOnly[name] && !reflect.DeepEqual(floor.Field(i).Interface(), zero.Field(i).Interface()) &&
			floor.Field(i).Kind() != reflect.Func {
			t.Errorf("the floor sets %s, the gateway does not", name)
		}
	}
	// The config-derived ones with the bench config's values (its [server]
	// sets none, so the defaults).
	if f.srv.ReadTimeout != policy.DefaultReadTimeout || f.srv.WriteTimeout != policy.DefaultWriteTimeout ||
		f.srv.IdleTimeout != policy.DefaultIdleTimeout || f.srv.ReadBufferSize != policy.DefaultMaxHeaderSize ||
		f.srv.MaxRequestBodySize != policy.DefaultStreamThreshold {
		t.Errorf("floor server: timeouts %v %v %v, read buffer %d, max body %d: not the [server] defaults",
			f.srv.ReadTimeout, f.srv.WriteTimeout, f.srv.IdleTimeout, f.srv.ReadBufferSize, f.srv.MaxRequestBodySize)
	}
}
