package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/sluicegw/sluice/bench/origin"
	"github.com/sluicegw/sluice/policy"
)

// TestApportionInterleave: the slots sum to n, each share is off by less
// than one slot, and the interleaving spreads every kind evenly.
func TestApportionInterleave(t *testing.T) {
	for _, c := range []struct {
		counts []int
		n      int
		want   []int
	}{
		{[]int{1, 1, 1}, 10, []int{4, 3, 3}},
		{[]int{50, 30, 20}, 10, []int{5, 3, 2}},
		{[]int{997, 2, 1}, 100, []int{100, 0, 0}},
		{[]int{1, 0, 3}, 4, []int{1, 0, 3}},
		{[]int{2, 1}, 7, []int{5, 2}},
	} {
		got := apportion(c.counts, c.n)
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("apportion(%v, %d) = %v, want %v", c.counts, c.n, got, c.want)
				break
			}
		}
	}
	seq := interleave([]int{5, 3, 2})
	if len(seq) != 10 {
		t.Fatalf("interleave: %v", seq)
	}
	seen := map[int]int{}
	for i, k := range seq {
		seen[k]++
		// Smoothness: after any prefix, every kind is within one of its share.
		for kind, w := range []int{5, 3, 2} {
			exact := float64(w) * float64(i+1) / 10
			if d := float64(seen[kind]) - exact; d > 1 || d < -1 {
				t.Errorf("interleave %v: kind %d has %d after %d, share %.1f", seq, kind, seen[kind], i+1, exact)
			}
		}
	}
	if seen[0] != 5 || seen[1] != 3 || seen[2] != 2 {
		t.Errorf("interleave counts %v", seen)
	}
}

// TestReplayCredentials renders a config with API keys, HMAC apps and JWT
// (JWKS) auth, replays one pass of its log through the real gateway and
// checks every request got its logged status: generated credentials pass
// where the log says "ok", a wrong one fails where it says "failed".
func TestReplayCredentials(t *testing.T) {
	bin := sluiceBinary(t)
	parsed, raw, creds, list, org := replayFixture(t, "testdata/plan/auth.toml", "testdata/plan/auth.log", 50)
	dir := t.TempDir()
	gw, err := startPlanGateway(context.Background(), PlanOptions{GatewayBin: bin}, parsed, raw, creds, []string{org.Addr()}, dir, false, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer gw.proc.Stop()

	conf, _ := os.ReadFile(filepath.Join(dir, "sluice.toml"))
	for _, gone := range []string{"10.1.2.3", "env:ACME_KEY", "file:/nonexistent", "jwks_url", "logs.example.com", "admin_token"} {
		if strings.Contains(string(conf), gone) {
			t.Errorf("rendered config still has %q:\n%s", gone, conf)
		}
	}
	if !containsAll(string(conf), creds.APIKeys["acme"], creds.Apps["globex"][1], creds.JWTSecret, org.Addr(), "127.0.0.1/32") {
		t.Errorf("rendered config lacks the generated credentials or the origin:\n%s", conf)
	}

	escaped := 0
	for _, s := range list.Specs {
		if strings.Contains(s.URI, "x%20y%25z%C3%A9") {
			escaped++
		}
	}
	if escaped == 0 {
		t.Error("no replayed request has the logged path with a space, '%' and 'é'")
	}
	want := map[string]uint64{}
	for _, s := range list.Statuses {
		want[strconv.Itoa(s)]++
	}
	lr, err := RunLoad(context.Background(), LoadConfig{Addr: gw.listen, Mode: ClosedLoop, Connections: 1,
		Duration: 20 * time.Second, MaxRequests: uint64(len(list.Specs)), Requests: list.Specs, Sign: list.signer()})
	if err != nil {
		t.Fatal(err)
	}
	if lr.Errors != 0 || len(lr.Status) != len(want) {
		t.Fatalf("replay: errors %v, statuses %v, want %v", lr.ErrorKinds, lr.Status, want)
	}
	for code, n := range want {
		if lr.Status[code] != n {
			t.Errorf("status %s: %d answers, want %d (all: %v)", code, lr.Status[code], n, lr.Status)
		}
	}
	if want["200"] == 0 || want["201"] == 0 || want["401"] == 0 || want["404"] == 0 {
		t.Errorf("the list misses a kind: %v", want)
	}
	// Every proxied request reached the replay origin, none another address.
	if got, proxied := org.Requests(), want["200"]+want["201"]; got != proxied {
		t.Errorf("origin answered %d requests, want %d", got, proxied)
	}
}

// replayFixture loads a config and an access log as a plan does, lays out
// n replayed requests and starts a replay origin (closed by the test's end).
func replayFixture(t *testing.T, config, log string, n int) (*policy.Parsed, []byte, *replayCreds, *replayList, *origin.Server) {
	t.Helper()
	parsed, raw, err := loadOperatorConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	creds := newReplayCreds(parsed.Config)
	mix, err := DeriveMix(log, nil)
	if err != nil {
		t.Fatal(err)
	}
	list, err := buildReplay(mix, creds, n)
	if err != nil {
		t.Fatal(err)
	}
	org, err := origin.StartReplay("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { org.Close() })
	return parsed, raw, creds, list, org
}

// writeConfigAndLog writes a config and an access log into dir and returns
// their paths.
func writeConfigAndLog(t *testing.T, dir, config, log string) (string, string) {
	t.Helper()
	conf, logPath := filepath.Join(dir, "sluice.toml"), filepath.Join(dir, "access.log")
	for p, body := range map[string]string{conf: config, logPath: log} {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return conf, logPath
}

// replayThroughGateway writes config and log, lays out n replayed
// requests, and sends them once, one at a time, through the real gateway
// rendered for the replay.
func replayThroughGateway(t *testing.T, config, log string, n int) (*LoadResult, *replayList, *replayCreds, *origin.Server) {
	t.Helper()
	dir := t.TempDir()
	conf, logPath := writeConfigAndLog(t, dir, config, log)
	parsed, raw, creds, list, org := replayFixture(t, conf, logPath, n)
	gw, err := startPlanGateway(context.Background(), PlanOptions{GatewayBin: sluiceBinary(t)}, parsed, raw, creds,
		[]string{org.Addr()}, filepath.Join(dir, "gw"), false, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer gw.proc.Stop()
	lr, err := RunLoad(context.Background(), LoadConfig{Addr: gw.listen, Mode: ClosedLoop, Connections: 1,
		Duration: 20 * time.Second, MaxRequests: uint64(len(list.Specs)), Requests: list.Specs, Sign: list.signer()})
	if err != nil {
		t.Fatal(err)
	}
	return lr, list, creds, org
}

// TestPlanBadInputs: every input mistake is an error that says what and
// where, before any gateway starts.
func TestPlanBadInputs(t *testing.T) {
	dir := t.TempDir()
	good, _ := os.ReadFile("testdata/plan/auth.log")
	lines := strings.SplitAfter(string(good), "\n")
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unknownAPI := write("unknown.log", lines[0]+strings.Replace(lines[1], `"api":"orders"`, `"api":"refunds"`, 1))
	badStage := write("stage.log", lines[0]+strings.Replace(lines[1], `"stage":"RELEASE"`, `"stage":"CANARY"`, 1))
	garbage := write("garbage.log", lines[0]+lines[1]+"not json\n")
	empty := write("empty.log", "")
	zipped := gz(t, good)
	truncated := write("access.log.2.gz", string(zipped[:len(zipped)*2/3]))
	badConf := write("bad.toml", "[server]\nlisten = [\"127.0.0.1:1\"]\nlisen = 1\n")
	for _, c := range []struct {
		config, log, want string
	}{
		{"testdata/plan/auth.toml", filepath.Join(dir, "missing.log"), "missing.log"},
		{filepath.Join(dir, "missing.toml"), "testdata/plan/auth.log", "missing.toml"},
		{"testdata/plan/auth.toml", unknownAPI, `unknown.log:2: API "refunds" of group "shop" is not in testdata/plan/auth.toml`},
		{"testdata/plan/auth.toml", badStage, "stage.log:2: API shop/orders is not published to stage CANARY"},
		{"testdata/plan/auth.toml", garbage, "garbage.log:3: not a JSON object"},
		{"testdata/plan/auth.toml", empty, "empty.log: no access-log records"},
		{"testdata/plan/auth.toml", truncated, "access.log.2.gz:"},
		{"testdata/plan/auth.toml", truncated, "gzip stream truncated"},
		{badConf, "testdata/plan/auth.log", "bad.toml:3"},
	} {
		_, err := PlanCapacityFromLog(context.Background(), PlanOptions{Config: c.config, Replay: c.log, Peak: 1000,
			SLO: SLO{P99: 20 * time.Millisecond}, CoresPerNode: 16, Headroom: 0.7, OutDir: dir, GatewayBin: os.Args[0]})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s + %s: %v, want %q", filepath.Base(c.config), filepath.Base(c.log), err, c.want)
		}
	}
	_, err := PlanCapacityFromLog(context.Background(), PlanOptions{Config: "testdata/plan/auth.toml", Replay: "testdata/plan/auth.log",
		Peak: 1000, SLO: SLO{P99: 20 * time.Millisecond}, CoresPerNode: 16, Headroom: 0.7, GatewayBin: filepath.Join(dir, "nosluice")})
	if err == nil || !strings.Contains(err.Error(), "gateway binary") {
		t.Errorf("missing gateway: %v", err)
	}
}

func TestEscapePath(t *testing.T) {
	for in, want := range map[string]string{
		"/users/42":         "/users/42",
		"/a b/%/?/#":        "/a%20b/%25/%3F/%23",
		"/caf\u00e9":        "/caf%C3%A9",
		"/k=v;x,y@z:1~_.-!": "/k=v;x,y@z:1~_.-!",
	} {
		if got := escapePath(in); got != want {
			t.Errorf("escapePath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPlanNoStepMeetsSLO: an SLO nothing can meet gives no plan but an
// error that points at the written steps; on the way, the mix check
// replays the authenticated config (keys, HMAC, JWT) within 2 pp.
func TestPlanNoStepMeetsSLO(t *testing.T) {
	out := t.TempDir()
	res, err := PlanCapacityFromLog(context.Background(), PlanOptions{
		Config: "testdata/plan/auth.toml", Replay: "testdata/plan/auth.log", Peak: 1000,
		SLO: SLO{P99: time.Nanosecond}, CoresPerNode: 16, Headroom: 0.7, OutDir: out, GatewayBin: sluiceBinary(t),
		MixSize: 50, MaxCores: 1,
		Search: CapacitySpec{StartRate: 50, Growth: 2, MaxRate: 100, StepDuration: 300 * time.Millisecond},
	})
	if err == nil || !strings.Contains(err.Error(), "no load step met the SLO") || !strings.Contains(err.Error(), "plan.json") {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "plan.json")); err != nil {
		t.Error(err)
	}
	if res == nil || res.MaxDiff > 2 || len(res.MixCheck) != 3 || res.Statuses["401"] == 0 || res.Statuses["200"] == 0 {
		t.Errorf("mix check: %+v, statuses %v", res.MixCheck, res.Statuses)
	}
}

// logLineT is one access-log line as the gateway writes it.
func logLineT(ms int, api string, status int, backendUS int) string {
	return `{"time":"2026-01-01T00:00:00.` + strings.Repeat("0", 3-len(strconv.Itoa(ms))) + strconv.Itoa(ms) +
		`Z","request_id":"r","trace_id":"t","client_ip":"10.0.0.1","method":"GET","host":"h","path":"/` + api +
		`","status":` + strconv.Itoa(status) + `,"error_code":"","bytes_in":0,"bytes_out":10,"group":"g","stage":"RELEASE","api":"` + api +
		`","consumer":"","upstream":"http://10.0.0.2:80","attempts":1,"latency_us":` + strconv.Itoa(backendUS+50) +
		`,"gateway_us":50,"backend_us":` + strconv.Itoa(backendUS) + `,"cache":"","throttle":"","auth":"","user_agent":""}` + "\n"
}

// TestMixSkipsTunnels: WebSocket tunnel records (status 101) are counted
// apart and never replayed: a plain GET answered 101 is no answer an HTTP
// client reads, so the step would count it an error. The shares the mix
// check compares are of the HTTP requests only.
func TestMixSkipsTunnels(t *testing.T) {
	var b strings.Builder
	for i := range 60 {
		b.WriteString(logLineT(i, "rest", 200, 500))
	}
	for i := range 40 {
		b.WriteString(logLineT(100+i, "ws", 101, 0))
	}
	path := filepath.Join(t.TempDir(), "access.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	mix, err := DeriveMix(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if mix.Records != 60 || mix.Tunnels != 40 {
		t.Errorf("records %d, tunnels %d; want 60, 40", mix.Records, mix.Tunnels)
	}
	shares := mix.APIShares()
	if s := shares[APIRef{Group: "g", API: "rest"}]; s != 1 || len(shares) != 1 {
		t.Errorf("shares %v: want rest alone at 1", shares)
	}
	list, err := buildReplay(mix, newReplayCreds(&policy.Config{}), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range list.Statuses {
		if st == 101 {
			t.Fatal("a tunnel record is in the replay list")
		}
	}
	if len(list.Specs) != 100 {
		t.Errorf("%d specs, want 100", len(list.Specs))
	}
}

// TestReplayLoadOutlastsSlowBackends: a replay step's request timeout
// outlasts the slowest logged backend time, so a rare slow API that
// production answered is answered in the replay too, not counted an error
// on every step (more than the error budget: no plan at all). Run for real
// against the replay origin.
func TestReplayLoadOutlastsSlowBackends(t *testing.T) {
	var b strings.Builder
	for i := range 9 {
		b.WriteString(logLineT(i, "fast", 200, 1000))
	}
	b.WriteString(logLineT(9, "report", 200, 2_500_000))
	path := filepath.Join(t.TempDir(), "access.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	mix, err := DeriveMix(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	list, err := buildReplay(mix, newReplayCreds(&policy.Config{}), 10)
	if err != nil {
		t.Fatal(err)
	}
	if list.MaxDelay != 2500*time.Millisecond {
		t.Errorf("MaxDelay %v, want 2.5s", list.MaxDelay)
	}
	org, err := origin.StartReplay("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer org.Close()
	cfg := list.load(org.Addr(), 20, 20*time.Millisecond, 0)
	if cfg.Connections < minReplayConns || cfg.Timeout <= list.MaxDelay {
		t.Errorf("load: %d connections, timeout %v", cfg.Connections, cfg.Timeout)
	}
	if c := list.load(org.Addr(), 20, 0, 7); c.Connections != 7 {
		t.Errorf("-connections 7 gave %d", c.Connections)
	}
	// Rate x (slowest answer + SLO) x 2 requests may be in flight.
	if c := list.load(org.Addr(), 1000, 20*time.Millisecond, 0); c.Connections != maxReplayConns {
		t.Errorf("1000 rps with 2.5 s answers: %d connections, want the cap %d", c.Connections, maxReplayConns)
	}
	cfg.MaxRequests = 10
	cfg.Duration = time.Second + cfg.Timeout
	lr, err := RunLoad(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if lr.Errors != 0 || lr.Completed != 10 || lr.Status["200"] != 10 {
		t.Errorf("replay: completed %d, errors %v, statuses %v", lr.Completed, lr.ErrorKinds, lr.Status)
	}
}

// TestReplayComposite: a composite backend's calls reach the replay origin
// with the client's headers and merge its answers as JSON objects, so the
// replay origin answers JSON; with filler bytes every request was 502.
func TestReplayComposite(t *testing.T) {
	var b strings.Builder
	for i := range 20 {
		b.WriteString(logLineT(i, "agg", 200, 300))
	}
	lr, list, creds, org := replayThroughGateway(t, `
[[backends]]
name = "users"
targets = [{ url = "http://10.1.2.3:8080" }]

[[backends]]
name = "agg"
compose = [
  { name = "top", backend = "users", path = "/u", key = "" },
  { name = "keyed", backend = "users", path = "/o", key = "orders" },
]

[[groups]]
name = "g"

[[groups.apis]]
name = "agg"
path = "/agg"
backend = "agg"
`, b.String(), 20)
	if lr.Errors != 0 || lr.Status["200"] != 20 || len(lr.Status) != 1 {
		t.Errorf("composite replay: errors %v, statuses %v; want 20 x 200", lr.ErrorKinds, lr.Status)
	}
	if got := org.Requests(); got != 40 {
		t.Errorf("origin answered %d calls, want 2 per request (40)", got)
	}
	if !containsAll(strings.Join(creds.Notes, "\n"), `composite backend "agg": each of its 2 calls`) {
		t.Errorf("no note on the composite backend: %q", creds.Notes)
	}
	// Each call answers half the logged 10 bytes: the merge is the size
	// the log has, not twice it.
	if creds.Calls["g/agg"] != 2 {
		t.Errorf("calls %v", creds.Calls)
	}
	for _, sp := range list.Specs {
		for _, h := range sp.Headers {
			if h.Name == origin.HeaderAnswer && h.Value != "200 5 300" {
				t.Errorf("answer header %q, want 200 5 300", h.Value)
			}
		}
	}
}

// TestMixFoldsConsumers: a log with more consumers than the mix keeps kinds
// (an API-key SaaS has tens of thousands) is still planned: the records of
// consumers past the cap join an earlier consumer's kind of the same API,
// method, auth and status, so every share stays exact. It was an error.
func TestMixFoldsConsumers(t *testing.T) {
	var b strings.Builder
	line := func(api, consumer string) {
		b.WriteString(strings.Replace(strings.Replace(logLineT(0, api, 200, 100),
			`"consumer":""`, `"consumer":"`+consumer+`"`, 1), `"auth":""`, `"auth":"ok"`, 1))
	}
	for range 100 {
		line("a", "c0")
	}
	const many = maxMixKinds + 50 // kinds of API b, one per consumer
	for i := range many {
		line("b", "k"+strconv.Itoa(i))
	}
	path := filepath.Join(t.TempDir(), "access.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	mix, err := DeriveMix(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if mix.Records != 100+many || mix.Folded != many-(maxMixKinds-1) || len(mix.kinds) != maxMixKinds {
		t.Errorf("records %d, folded %d, kinds %d", mix.Records, mix.Folded, len(mix.kinds))
	}
	shares := mix.APIShares()
	if got, want := shares[APIRef{Group: "g", API: "b"}], float64(many)/float64(100+many); math.Abs(got-want) > 1e-12 {
		t.Errorf("share of b %v, want %v", got, want)
	}
	total := 0
	for _, k := range mix.kinds {
		total += k.count
	}
	if total != mix.Records {
		t.Errorf("kinds count %d records, want %d", total, mix.Records)
	}
}

// TestReplayBodiesAreJSON: replayed request bodies are JSON objects of the
// logged size, so an API with JSON body parameters answers them as it
// answered production's (a filler body was 400 MalformedBody on every
// request). Through the real gateway, and for sizes over the budget.
func TestReplayBodiesAreJSON(t *testing.T) {
	rb := replayBodies{bySize: map[int64][]byte{}, max: replayBodyBudget}
	for _, n := range []int64{1, 2, 7, 8, 9, 300, 300, replayBodyBudget - 400, 5000, replayBodyBudget} {
		b := rb.get(n)
		var obj map[string]any
		if int64(len(b)) != n || n >= 2 && json.Unmarshal(b, &obj) != nil {
			t.Errorf("body of %d: %d bytes, %.20q", n, len(b), b)
		}
	}
	if rb.used > replayBodyBudget || rb.pad == nil {
		t.Errorf("budget: used %d, shared buffer built %v", rb.used, rb.pad != nil)
	}

	var b strings.Builder
	for i := range 10 {
		l := strings.Replace(logLineT(i, "create", 201, 300), `"method":"GET"`, `"method":"POST"`, 1)
		b.WriteString(strings.Replace(l, `"bytes_in":0`, `"bytes_in":`+strconv.Itoa(100+i*50), 1))
	}
	lr, _, _, _ := replayThroughGateway(t, `
[[backends]]
name = "orders"
targets = [{ url = "http://10.1.2.3:8080" }]

[[groups]]
name = "g"

[[groups.apis]]
name = "create"
methods = ["POST"]
path = "/create"
backend = "orders"
[[groups.apis.params.params]]
name = "qty"
in = "json"
type = "int"
`, b.String(), 10)
	if lr.Errors != 0 || lr.Status["201"] != 10 || len(lr.Status) != 1 {
		t.Errorf("replay of JSON-validated uploads: errors %v, statuses %v; want 10 x 201", lr.ErrorKinds, lr.Status)
	}
}

// TestUnreplayedStatuses: an API whose replayed requests get statuses its
// log never has (over 2%, 429 aside) is named with the statuses, so a plan
// whose steps all count them as errors says why.
func TestUnreplayedStatuses(t *testing.T) {
	a, b := APIRef{Group: "g", API: "a"}, APIRef{Group: "g", API: "b"}
	mix := &TrafficMix{APIs: []APIMix{
		{Ref: a, Statuses: []Share{{Name: "200", Count: 90, Share: 0.9}, {Name: "400", Count: 10, Share: 0.1}}},
		{Ref: b, Statuses: []Share{{Name: "201", Count: 100, Share: 1}}},
	}}
	notes := unreplayedStatuses(mix, map[APIRef]map[int]int{
		a: {200: 80, 400: 10, 429: 9, 502: 1}, // 1% unexplained: fine
		b: {400: 60, 201: 40},
	})
	if len(notes) != 1 || !containsAll(notes[0], "warning: API g/b answered 60%", "400 x60", "logged: 201 100.0%") {
		t.Errorf("notes %q", notes)
	}
	if n := unreplayedStatuses(mix, map[APIRef]map[int]int{a: {200: 100}, b: {201: 5, 429: 95}}); len(n) != 0 {
		t.Errorf("logged statuses and 429 flagged: %q", n)
	}
}

// TestReplayFailedHMAC: a logged failed HMAC authentication is replayed
// with a known app key and a wrong secret, so the gateway computes the
// signature before refusing it, as it did in production (it was sent with
// no credential, which costs far less); the valid ones still pass.
func TestReplayFailedHMAC(t *testing.T) {
	const config = `
[[backends]]
name = "orders"
targets = [{ url = "http://10.1.2.3:8080" }]

[[groups]]
name = "g"

[[groups.apis]]
name = "signed"
path = "/signed"
backend = "orders"
[groups.apis.auth]
modes = ["hmac"]

[[consumers]]
name = "acme"
[[consumers.apps]]
app_key = "acme-app"
app_secrets = ["env:PLAN_TEST_UNSET"]
`
	var b strings.Builder
	for i := range 10 {
		l := logLineT(i, "signed", 200, 300)
		if i%2 == 0 {
			l = strings.Replace(strings.Replace(l, `"auth":""`, `"auth":"ok"`, 1), `"consumer":""`, `"consumer":"acme"`, 1)
		} else {
			l = strings.Replace(strings.Replace(l, `"auth":""`, `"auth":"failed"`, 1), `"status":200`, `"status":401`, 1)
		}
		b.WriteString(l)
	}
	dir := t.TempDir()
	conf, logPath := writeConfigAndLog(t, dir, config, b.String())
	_, _, creds, list, _ := replayFixture(t, conf, logPath, 10)
	for i, st := range list.Statuses {
		a := list.hmac[i]
		switch {
		case a == nil:
			t.Errorf("request %d (logged %d) is not signed", i, st)
		case st == 401 && (a[0] != "acme-app" || a[1] == creds.Apps["acme"][1]):
			t.Errorf("failed request %d signed with %q", i, a)
		case st == 200 && a[1] != creds.Apps["acme"][1]:
			t.Errorf("valid request %d signed with %q", i, a)
		}
	}
	lr, _, _, _ := replayThroughGateway(t, config, b.String(), 10)
	if lr.Errors != 0 || lr.Status["200"] != 5 || lr.Status["401"] != 5 {
		t.Errorf("replay: errors %v, statuses %v; want 5 x 200, 5 x 401", lr.ErrorKinds, lr.Status)
	}
}

// TestReplayOriginPerTarget: every backend target gets a replay origin of
// its own (weights kept), so the gateway keeps one connection pool per
// target as in production; behind one origin all backends shared one pool
// of pool_size connections. Two requests at once on a backend of two
// targets with pool_size 1: both are answered, none gets 503.
func TestReplayOriginPerTarget(t *testing.T) {
	const config = `
[[backends]]
name = "a"
pool_size = 1
targets = [{ url = "http://10.1.2.3:8080", weight = 1 }, { url = "http://10.1.2.4:8080", weight = 1 }]

[[backends]]
name = "b"
targets = [{ url = "http://10.1.2.5:8080", weight = 7 }]

[[groups]]
name = "g"

[[groups.apis]]
name = "slow"
path = "/slow"
backend = "a"
`
	var b strings.Builder
	for i := range 4 {
		b.WriteString(logLineT(i, "slow", 200, 300_000))
	}
	dir := t.TempDir()
	conf, logPath := writeConfigAndLog(t, dir, config, b.String())
	parsed, raw, creds, list, _ := replayFixture(t, conf, logPath, 4)
	origins, err := startReplayOrigins(parsed.Config)
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{}
	for _, o := range origins {
		defer o.Close()
		addrs = append(addrs, o.Addr())
	}
	if len(addrs) != 3 {
		t.Fatalf("%d origins for 3 targets", len(addrs))
	}
	out, _, err := renderReplayConfig(parsed, raw, replayParams{Listen: "127.0.0.1:1", Admin: "127.0.0.1:2", Origins: addrs}, creds)
	if err != nil {
		t.Fatal(err)
	}
	var tree map[string]any
	if err := toml.Unmarshal(out, &tree); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, be := range tomlTables(tree, "backends") {
		for _, tg := range tomlTables(be, "targets") {
			got = append(got, fmt.Sprint(tg["url"], " ", tg["weight"]))
		}
	}
	if want := []string{"http://" + addrs[0] + " 1", "http://" + addrs[1] + " 1", "http://" + addrs[2] + " 7"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("targets %v, want %v", got, want)
	}

	gw, err := startPlanGateway(context.Background(), PlanOptions{GatewayBin: sluiceBinary(t)}, parsed, raw, creds,
		addrs, filepath.Join(dir, "gw"), false, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer gw.proc.Stop()
	lr, err := RunLoad(context.Background(), LoadConfig{Addr: gw.listen, Mode: ClosedLoop, Connections: 2,
		Duration: 20 * time.Second, MaxRequests: 4, Requests: list.Specs})
	if err != nil {
		t.Fatal(err)
	}
	if lr.Errors != 0 || lr.Status["200"] != 4 {
		t.Errorf("two at once on two targets of pool_size 1: errors %v, statuses %v", lr.ErrorKinds, lr.Status)
	}
}
