package proxy

// The access log through the real gateway: config file with an
// [access_log] table, fasthttp listener on loopback, the bench origin as
// upstream, and sinks writing to a file in t.TempDir() or POSTing to a
// loopback HTTP receiver. The accesslog package tests its ring, encoder and
// sinks alone; these check the wiring and the end-to-end promises: one record
// per request, no record lost or duplicated under load, across rotation and
// across a sink outage, and drops counted exactly.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/bench/origin"
	"github.com/valyala/fasthttp"
)

// logLine is one access-log record as accesslog.Encoder writes it. Lines are
// decoded with unknown fields disallowed, so a renamed key fails here.
type logLine struct {
	Time      string `json:"time"`
	RequestID string `json:"request_id"`
	TraceID   string `json:"trace_id"`
	ClientIP  string `json:"client_ip"`
	Method    string `json:"method"`
	Host      string `json:"host"`
	Path      string `json:"path"`
	Status    int    `json:"status"`
	ErrorCode string `json:"error_code"`
	BytesIn   int64  `json:"bytes_in"`
	BytesOut  int64  `json:"bytes_out"`
	Group     string `json:"group"`
	Stage     string `json:"stage"`
	API       string `json:"api"`
	Consumer  string `json:"consumer"`
	Upstream  string `json:"upstream"`
	Attempts  int    `json:"attempts"`
	LatencyUS int64  `json:"latency_us"`
	GatewayUS int64  `json:"gateway_us"`
	BackendUS int64  `json:"backend_us"`
	Cache     string `json:"cache"`
	Throttle  string `json:"throttle"`
	Auth      string `json:"auth"`
	UserAgent string `json:"user_agent"`
}

// decodeLogLine parses one line strictly.
func decodeLogLine(b []byte) (logLine, error) {
	var l logLine
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&l); err != nil {
		return l, err
	}
	if d.More() {
		return l, errors.New("more than one JSON value on the line")
	}
	return l, nil
}

// readLogFile returns every record of a file sink's file. Every line must be
// a complete JSON object ending in '\n': a torn line fails the test.
func readLogFile(t testing.TB, path string) []logLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var out []logLine
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			if len(line) != 0 {
				t.Fatalf("%s:%d: torn last line %q", path, n, line)
			}
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		l, err := decodeLogLine(line)
		if err != nil {
			t.Fatalf("%s:%d: not a JSON record: %v: %s", path, n, err, line)
		}
		out = append(out, l)
	}
}

// raceEnabled says whether the test binary was built with -race.
func raceEnabled() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

// isTraceID says whether s is a W3C trace id: 32 lower-case hex digits, not all zero.
func isTraceID(s string) bool {
	return len(s) == 32 && isLowerHex([]byte(s)) && !allZero([]byte(s))
}

// logConfig is a gateway with an access log (the {{SINKS}} part) and APIs
// covering the record's variants: proxied, mock, origin error status,
// unmatched, unreachable upstream, trace echo.
const logConfig = `
[access_log]
ring_size = 32768
flush_interval = "20ms"
{{SINKS}}

[[backends]]
name = "origin"
targets = [{ url = "{{ORIGIN}}" }]

[[backends]]
name = "canned"
[backends.mock]
status = 201
body = '{"ok":true}'

[[backends]]
name = "dead"
targets = [{ url = "http://{{DEAD}}" }]
connect_timeout = "1s"

[[groups]]
name = "logs"

[[groups.apis]]
name = "items"
methods = ["GET"]
path = "/items/{id}"
backend = "origin"
backend_path = "/o/{id}?size=16"

[[groups.apis]]
name = "canned"
methods = ["GET", "POST"]
path = "/mock"
backend = "canned"

[[groups.apis]]
name = "dead"
path = "/dead/{id}"
backend = "dead"

[[groups.apis]]
name = "trace"
path = "/trace/{id}"
backend = "origin"
backend_path = "/echo"
`

// deadAddr is a loopback address nothing listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func logGatewayConfig(t testing.TB, sinks string) string {
	return strings.NewReplacer("{{SINKS}}", sinks, "{{DEAD}}", deadAddr(t)).Replace(logConfig)
}

func fileSinkTOML(name, path string) string {
	return `[[access_log.sinks]]
type = "file"
name = "` + name + `"
path = ` + strconv.Quote(path) + `
check_interval = "10ms"
`
}

// shutdownGateway stops the data plane, which flushes the access log, and
// fails the test when it does not finish in time.
func shutdownGateway(t testing.TB, g *gateway) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// Kinds of request in the 100 000-request mix, chosen by index % 100.
type reqKind uint8

const (
	kindItem      reqKind = iota // GET proxied to the origin: 200
	kindMock                     // GET mock: 201
	kindMockPost                 // POST mock with a body: 201
	kindNotFound                 // no API: 404 NotFound
	kindPre                      // GET proxied, X-Ca-Stage: PRE
	kindOrigin5xx                // origin answers 503 itself: no error code
	kindDead                     // upstream refuses connections: 502 BadGateway
	kindTrace                    // /echo: what traceparent the origin saw
)

func kindOf(i int) reqKind {
	switch m := i % 100; {
	case m < 60:
		return kindItem
	case m < 70:
		return kindMock
	case m < 78:
		return kindMockPost
	case m < 86:
		return kindNotFound
	case m < 94:
		return kindPre
	case m < 98:
		return kindOrigin5xx
	case m < 99:
		return kindDead
	default:
		return kindTrace
	}
}

// sentReq is what the client knows about one request it sent.
type sentReq struct {
	kind   reqKind
	status int
	path   string
	id     string // X-Request-Id of the response
	trace  string // kindTrace: trace id of the traceparent the origin saw
}

const loadUA = "sluice-logtest/1"

// prepare fills req for request i and returns its path.
func prepare(req *fasthttp.Request, addr string, i int) string {
	req.Reset()
	req.Header.SetUserAgent(loadUA)
	n := strconv.Itoa(i)
	var path, query string
	switch kindOf(i) {
	case kindItem, kindPre:
		path = "/items/" + n
	case kindMock:
		path = "/mock"
	case kindMockPost:
		path = "/mock"
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetBodyString("0123456789")
	case kindNotFound:
		path = "/missing/" + n
	case kindOrigin5xx:
		path, query = "/items/"+n, "?status=503"
	case kindDead:
		path = "/dead/" + n
	case kindTrace:
		path = "/trace/" + n
		if i%200 == 99 { // half keep a client trace, half get a new one
			req.Header.Set("Traceparent", "00-"+traceIDFor(i)+"-00f067aa0ba902b7-01")
		}
	}
	if kindOf(i) == kindPre {
		req.Header.Set("X-Ca-Stage", "PRE")
	}
	req.SetRequestURI("http://" + addr + path + query)
	return path
}

// traceIDFor is a valid, distinct client trace id for request i.
func traceIDFor(i int) string {
	s := strconv.FormatUint(uint64(i)+0xabc0000, 16)
	return strings.Repeat("0", 32-len(s)) + s
}

// TestAccessLogEveryRequestOnce is the end-to-end promise: 100 000 requests
// at full speed over keep-alive connections, and after Shutdown the file
// holds exactly one valid record per response, with the fields the response
// and the origin saw.
func TestAccessLogEveryRequestOnce(t *testing.T) {
	total := 100_000
	if testing.Short() || raceEnabled() {
		// The race detector makes every request about ten times slower;
		// exactness does not depend on the count.
		total = 10_000
	}
	logPath := filepath.Join(t.TempDir(), "access.log")
	g := startGateway(t, logGatewayConfig(t, fileSinkTOML("load_file", logPath)))
	client := &fasthttp.HostClient{Addr: g.addr, MaxConns: 8, ReadTimeout: 10 * time.Second}
	defer client.CloseIdleConnections()

	sent := make([]sentReq, total)
	var next atomic.Int64
	var failed atomic.Value
	deadline := time.Now().Add(90 * time.Second) // bounds a broken run; a good one takes a few seconds
	began := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for {
				i := int(next.Add(1) - 1)
				if i >= total || failed.Load() != nil {
					return
				}
				if time.Now().After(deadline) {
					failed.Store("load did not finish within 90s")
					return
				}
				path := prepare(req, g.addr, i)
				if err := client.Do(req, resp); err != nil {
					failed.Store("request " + strconv.Itoa(i) + ": " + err.Error())
					return
				}
				s := sentReq{kind: kindOf(i), status: resp.StatusCode(), path: path,
					id: string(resp.Header.Peek("X-Request-Id"))}
				if s.kind == kindTrace {
					var e origin.Echo
					if err := json.Unmarshal(resp.Body(), &e); err != nil || len(e.Headers["Traceparent"]) != traceparentLen {
						failed.Store("trace request " + strconv.Itoa(i) + ": no traceparent upstream: " + string(resp.Body()))
						return
					}
					s.trace = e.Headers["Traceparent"][3:35]
				}
				sent[i] = s
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		t.Fatal(f)
	}
	took := time.Since(began)
	t.Logf("%d requests in %v (%.0f req/s)", total, took.Round(time.Millisecond), float64(total)/took.Seconds())
	shutdownGateway(t, g)
	ended := time.Now()

	st := g.srv.accessLog.Stats()
	if st.Dropped != 0 || st.SampledOut != 0 {
		t.Fatalf("ring dropped %d and sampled out %d records: ring_size too small for this machine? %+v", st.Dropped, st.SampledOut, st)
	}
	if st.Shipped != uint64(total) || len(st.Sinks) != 1 || st.Sinks[0].Written != uint64(total) || st.Sinks[0].Dropped != 0 {
		t.Fatalf("stats %+v, want %d shipped and written", st, total)
	}

	byID := make(map[string]int, total)
	for i, s := range sent {
		if s.id == "" {
			t.Fatalf("request %d: response without X-Request-Id", i)
		}
		if j, dup := byID[s.id]; dup {
			t.Fatalf("requests %d and %d got the same id %q", j, i, s.id)
		}
		byID[s.id] = i
	}
	lines := readLogFile(t, logPath)
	if len(lines) != total {
		t.Fatalf("%d records in the file, want %d", len(lines), total)
	}
	seen := make([]bool, total)
	var perKind [kindTrace + 1]int
	for n, l := range lines {
		i, ok := byID[l.RequestID]
		if !ok {
			t.Fatalf("record %d: request id %q was not in any response", n, l.RequestID)
		}
		if seen[i] {
			t.Fatalf("record %d: request id %q logged twice", n, l.RequestID)
		}
		seen[i] = true
		perKind[sent[i].kind]++
		if err := checkRecord(l, sent[i], g, began, ended); err != "" {
			t.Fatalf("record %d (request %d, kind %d): %s\n%+v", n, i, sent[i].kind, err, l)
		}
	}
	for k, n := range perKind {
		if n == 0 {
			t.Fatalf("no record of request kind %d was checked", k)
		}
	}
}

// checkRecord compares a record with what the client sent and received; it
// returns "" or what is wrong.
func checkRecord(l logLine, s sentReq, g *gateway, began, ended time.Time) string {
	wantStatus := map[reqKind]int{kindItem: 200, kindPre: 200, kindMock: 201, kindMockPost: 201, kindNotFound: 404,
		kindOrigin5xx: 503, kindDead: 502, kindTrace: 200}[s.kind]
	if s.status != wantStatus {
		return "response status " + strconv.Itoa(s.status) + ", want " + strconv.Itoa(wantStatus)
	}
	if l.Status != s.status {
		return "logged status " + strconv.Itoa(l.Status) + ", response had " + strconv.Itoa(s.status)
	}
	ts, err := time.Parse(time.RFC3339Nano, l.Time)
	if err != nil || ts.Before(began.Add(-time.Millisecond)) || ts.After(ended) || !strings.HasSuffix(l.Time, "Z") {
		return "time " + l.Time + " not RFC 3339 UTC within the run"
	}
	if l.LatencyUS < 0 || l.GatewayUS < 0 || l.BackendUS < 0 || l.GatewayUS+l.BackendUS != l.LatencyUS {
		return "latencies do not add up: gateway + backend != total"
	}
	if l.ClientIP != "127.0.0.1" || l.Host != g.addr || l.Path != s.path || l.UserAgent != loadUA {
		return "client_ip, host, path or user_agent differ from the request"
	}
	if !isTraceID(l.TraceID) {
		return "trace_id " + strconv.Quote(l.TraceID) + " is not a W3C trace id"
	}
	if l.Consumer != "" || l.Cache != "none" || l.Throttle != "none" {
		return "consumer, cache or throttle set on an API without them"
	}
	// None of these APIs has auth: "none" ("anonymous" is for optional auth
	// that found no credentials).
	method, group, stage, api, code, auth := "GET", "logs", "RELEASE", "", "", "none"
	var bytesIn, bytesOut int64 = 0, -1
	upstream, proxied := g.origin.URL(), true
	switch s.kind {
	case kindItem, kindOrigin5xx:
		api, bytesOut = "items", 16
	case kindPre:
		api, stage, bytesOut = "items", "PRE", 16
	case kindMock:
		api, upstream, proxied, bytesOut = "canned", "", false, int64(len(`{"ok":true}`))
	case kindMockPost:
		api, upstream, proxied, bytesOut = "canned", "", false, int64(len(`{"ok":true}`))
		method, bytesIn = "POST", 10
	case kindNotFound:
		group, stage, api, code, upstream, proxied = "", "", "", CodeNotFound, "", false
	case kindDead:
		api, code = "dead", CodeBadGateway
		upstream = "" // checked below: the dead target's URL
	case kindTrace:
		api = "trace"
		if l.TraceID != s.trace {
			return "trace_id " + l.TraceID + ", the origin saw " + s.trace
		}
	}
	if l.Method != method || l.Group != group || l.Stage != stage || l.API != api || l.ErrorCode != code || l.Auth != auth {
		return "method, group, stage, api, error_code or auth wrong"
	}
	if l.BytesIn != bytesIn || (bytesOut >= 0 && l.BytesOut != bytesOut) {
		return "bytes_in or bytes_out wrong"
	}
	if s.kind == kindDead {
		if !strings.HasPrefix(l.Upstream, "http://127.0.0.1:") || l.Upstream == g.origin.URL() {
			return "upstream " + l.Upstream + ", want the dead target"
		}
	} else if l.Upstream != upstream {
		return "upstream " + strconv.Quote(l.Upstream) + ", want " + strconv.Quote(upstream)
	}
	if !proxied && l.BackendUS != 0 {
		return "backend time on a request that never reached an upstream"
	}
	return ""
}

// TestAccessLogTraceIDs checks the trace id both ways on single requests: a
// client's valid traceparent keeps its trace id, which the origin sees and
// the log records; without one the gateway starts a trace and logs its id.
func TestAccessLogTraceIDs(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "access.log")
	g := startGateway(t, logGatewayConfig(t, fileSinkTOML("trace_file", logPath)))
	const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	want := map[string]string{} // request id -> trace id upstream
	for _, tp := range []string{"00-" + clientTrace + "-00f067aa0ba902b7-01", "", "garbage"} {
		hdr := map[string]string{}
		if tp != "" {
			hdr["Traceparent"] = tp
		}
		st, h, body := g.do("GET", "/trace/1", hdr, nil)
		var e origin.Echo
		if st != 200 || json.Unmarshal(body, &e) != nil {
			t.Fatalf("status %d: %s", st, body)
		}
		up := e.Headers["Traceparent"]
		if !validTraceparent([]byte(up)) {
			t.Fatalf("origin saw traceparent %q", up)
		}
		if tp != "" && tp != "garbage" && up[3:35] != clientTrace {
			t.Fatalf("client trace %s not kept: origin saw %s", clientTrace, up)
		}
		want[string(h.Peek("X-Request-Id"))] = up[3:35]
	}
	shutdownGateway(t, g)
	lines := readLogFile(t, logPath)
	if len(lines) != len(want) {
		t.Fatalf("%d records, want %d", len(lines), len(want))
	}
	for _, l := range lines {
		if w, ok := want[l.RequestID]; !ok || l.TraceID != w {
			t.Fatalf("record %s: trace_id %s, origin saw %s", l.RequestID, l.TraceID, w)
		}
	}
}

// loadRun is background load: run sends GET /mock from several keep-alive
// connections until stop is closed, keeping every response's request id
// with the time its request was sent. A request that fails or is not 201
// lands in errs, which the caller checks after the WaitGroup is done.
type loadRun struct {
	mu   sync.Mutex
	ids  []string
	sent []time.Time
	errs []string
}

func (lr *loadRun) run(addr string, workers int, pause time.Duration, stop <-chan struct{}) *sync.WaitGroup {
	client := &fasthttp.HostClient{Addr: addr, MaxConns: workers, ReadTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for n := 0; n < 1_000_000; n++ { // bounded; stop ends it long before
				select {
				case <-stop:
					return
				default:
				}
				req.Reset()
				req.SetRequestURI("http://" + addr + "/mock")
				at := time.Now()
				err := client.Do(req, resp)
				lr.mu.Lock()
				switch {
				case err != nil:
					lr.errs = append(lr.errs, err.Error())
				case resp.StatusCode() != 201:
					lr.errs = append(lr.errs, "status "+strconv.Itoa(resp.StatusCode()))
				default:
					lr.ids = append(lr.ids, string(resp.Header.Peek("X-Request-Id")))
					lr.sent = append(lr.sent, at)
				}
				lr.mu.Unlock()
				if pause > 0 {
					time.Sleep(pause)
				}
			}
		}()
	}
	return &wg
}

// TestAccessLogRotation renames the file twice under load: once as
// logrotate does without a signal (the sink notices by stat), once followed
// by ReopenLogs, the SIGUSR1 path. The three files together hold every
// request id exactly once.
func TestAccessLogRotation(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	g := startGateway(t, logGatewayConfig(t, fileSinkTOML("rotate_file", logPath)))
	lr := &loadRun{}
	stop := make(chan struct{})
	wg := lr.run(g.addr, 4, 0, stop)
	countNow := func() int { lr.mu.Lock(); defer lr.mu.Unlock(); return len(lr.ids) }
	// Each phase lasts until enough requests went through (bounded by time),
	// so every file gets records however slow the machine is.
	phase := func(name string) {
		start, deadline := countNow(), time.Now().Add(10*time.Second)
		time.Sleep(200 * time.Millisecond)
		for countNow()-start < 500 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: fewer than 500 requests in 10s", name)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	phase("before rotation")
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	// The stat check (check_interval 10ms) must create a new file by itself.
	waitFor(t, func() bool { _, err := os.Stat(logPath); return err == nil })
	phase("after rename")
	if err := os.Rename(logPath, logPath+".2"); err != nil {
		t.Fatal(err)
	}
	g.srv.ReopenLogs()
	phase("after reopen")
	close(stop)
	wg.Wait()
	shutdownGateway(t, g)
	if len(lr.errs) > 0 {
		t.Fatalf("%d requests failed, first: %s", len(lr.errs), lr.errs[0])
	}

	seen := make(map[string]string, len(lr.ids))
	for _, name := range []string{logPath + ".1", logPath + ".2", logPath} {
		lines := readLogFile(t, name)
		if len(lines) == 0 {
			t.Fatalf("%s is empty: rotation phase not exercised", filepath.Base(name))
		}
		for _, l := range lines {
			if prev, dup := seen[l.RequestID]; dup {
				t.Fatalf("request %s logged in %s and in %s", l.RequestID, prev, filepath.Base(name))
			}
			seen[l.RequestID] = filepath.Base(name)
		}
		t.Logf("%s: %d records", filepath.Base(name), len(lines))
	}
	for _, id := range lr.ids {
		if _, ok := seen[id]; !ok {
			t.Fatalf("request %s is in no file (%d requests, %d records)", id, len(lr.ids), len(seen))
		}
	}
	if len(seen) != len(lr.ids) {
		t.Fatalf("%d records for %d requests", len(seen), len(lr.ids))
	}
	if st := g.srv.accessLog.Stats(); st.Dropped != 0 || st.Sinks[0].Dropped != 0 || st.Sinks[0].Written != uint64(len(lr.ids)) {
		t.Fatalf("stats %+v for %d requests", st, len(lr.ids))
	}
}

// logReceiver is a loopback HTTP endpoint for an http sink that can go away
// and come back on the same port. It records every request id it accepted.
type logReceiver struct {
	t    *testing.T
	addr string

	mu     sync.Mutex
	srv    *http.Server
	ids    map[string]int // request id -> times received
	posts  int
	badErr string
}

func startReceiver(t *testing.T) *logReceiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &logReceiver{t: t, addr: ln.Addr().String(), ids: map[string]int{}}
	r.serve(ln)
	t.Cleanup(func() { r.down() })
	return r
}

func (r *logReceiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 5 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (r *logReceiver) handle(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 64<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.posts++
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-ndjson" {
		r.badErr = req.Method + " " + req.Header.Get("Content-Type")
	}
	for _, line := range bytes.SplitAfter(body, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		l, err := decodeLogLine(line)
		if err != nil || line[len(line)-1] != '\n' {
			r.badErr = "bad line " + strconv.Quote(string(line))
			continue
		}
		r.ids[l.RequestID]++
	}
}

// down closes the listener and every connection after the requests being
// served are answered: from then on connections are refused, and nothing
// the receiver took is left unacknowledged.
func (r *logReceiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

// up listens on the same port again.
func (r *logReceiver) up() {
	var ln net.Listener
	var err error
	tries := 0
	for i := 0; i < 100; i++ { // the port is ours; a moment may pass before it is free again
		tries++
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("relisten on %s: %v", r.addr, err)
	}
	if tries > 1 {
		r.t.Logf("relisten took %d attempts", tries)
	}
	r.serve(ln)
}

func (r *logReceiver) received() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

// TestAccessLogHTTPSinkOutage takes the HTTP sink's endpoint away for 5 s
// under load and brings it back on the same port: requests keep succeeding,
// records sent after the recovery all arrive, and the sink's drop counter
// (Stats and /metrics) is exactly what did not arrive.
func TestAccessLogHTTPSinkOutage(t *testing.T) {
	const sinkName = "http_outage"
	rcv := startReceiver(t)
	sinks := `[[access_log.sinks]]
type = "http"
name = "` + sinkName + `"
url = "http://` + rcv.addr + `/bulk"
max_retries = 0
timeout = "2s"
`
	g := startGateway(t, logGatewayConfig(t, sinks))
	before := scrapeValue(t, g, `sluice_accesslog_sink_dropped_records_total{sink="`+sinkName+`"}`)
	beforeW := scrapeValue(t, g, `sluice_accesslog_sink_written_records_total{sink="`+sinkName+`"}`)

	lr := &loadRun{}
	stop := make(chan struct{})
	wg := lr.run(g.addr, 2, time.Millisecond, stop)
	waitFor(t, func() bool { return rcv.received() > 100 })

	rcv.down()
	downAt := time.Now()
	time.Sleep(5 * time.Second)
	rcv.up()
	upAt := time.Now()
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	shutdownGateway(t, g)
	rcv.down()
	t.Logf("outage %v", upAt.Sub(downAt).Round(time.Millisecond))

	if len(lr.errs) > 0 {
		t.Fatalf("%d requests failed while the sink was down, first: %s", len(lr.errs), lr.errs[0])
	}
	if rcv.badErr != "" {
		t.Fatalf("receiver got a malformed post: %s", rcv.badErr)
	}
	total := len(lr.ids)
	sent := make(map[string]bool, total)
	for _, id := range lr.ids {
		sent[id] = true
	}
	after := 0
	for id, n := range rcv.ids {
		if !sent[id] {
			t.Fatalf("received record %s for no request", id)
		}
		if n != 1 {
			t.Fatalf("record %s received %d times", id, n)
		}
	}
	for i, id := range lr.ids {
		if lr.sent[i].After(upAt) {
			after++
			if rcv.ids[id] == 0 {
				t.Fatalf("record %s, sent %v after the recovery, never arrived", id, lr.sent[i].Sub(upAt))
			}
		}
	}
	if after == 0 {
		t.Fatal("no request was sent after the recovery")
	}

	st := g.srv.accessLog.Stats()
	s := st.Sinks[0]
	got := uint64(len(rcv.ids))
	t.Logf("%d requests, %d received (%d after recovery), %d dropped, %d failed posts; last error %q",
		total, got, after, s.Dropped, s.Errors, s.LastError)
	if st.Shipped != uint64(total) || st.Dropped != 0 {
		t.Fatalf("shipped %d, ring dropped %d; want %d and 0", st.Shipped, st.Dropped, total)
	}
	if s.Written != got {
		t.Fatalf("sink counted %d written, receiver has %d", s.Written, got)
	}
	if s.Written+s.Dropped != uint64(total) {
		t.Fatalf("written %d + dropped %d != %d records", s.Written, s.Dropped, total)
	}
	if s.Dropped == 0 || s.Errors == 0 {
		t.Fatalf("a 5 s outage dropped nothing: %+v", s)
	}
	if d := scrapeValue(t, g, `sluice_accesslog_sink_dropped_records_total{sink="`+sinkName+`"}`) - before; d != float64(s.Dropped) {
		t.Fatalf("/metrics shows %v dropped, Stats %d", d, s.Dropped)
	}
	if w := scrapeValue(t, g, `sluice_accesslog_sink_written_records_total{sink="`+sinkName+`"}`) - beforeW; w != float64(s.Written) {
		t.Fatalf("/metrics shows %v written, Stats %d", w, s.Written)
	}
}
