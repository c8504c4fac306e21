package configs

// grafana-dashboard.json and alerts.yml are checked against a live scrape of
// a real gateway (proxy.New + Reloader + Admin handler, in process, after
// traffic that touches every metric family): every metric and label their
// PromQL uses must exist, so a renamed metric or label breaks this test
// instead of silently blanking a panel or an alert. PromQL itself is checked
// structurally (balanced brackets, ranges in rate(), le in quantiles); a
// full PromQL parser would pull in Prometheus itself.

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/sluicegw/sluice/bench/origin"
	"github.com/sluicegw/sluice/proxy"
	"github.com/valyala/fasthttp"
	"gopkg.in/yaml.v3"
)

// scraped is one /metrics scrape: each family's type, label names (le
// included for histograms) and the label values seen.
type scraped struct {
	hist   map[string]bool
	labels map[string]map[string]map[string]bool // family -> label -> values
}

func (s scraped) has(family string) bool { _, ok := s.labels[family]; return ok }

// targetLabels are added by Prometheus at scrape time, never exposed.
var targetLabels = map[string]bool{"instance": true, "job": true}

const obsConfig = `
[tls]
# A certificate, so its expiry gauge (issue 11) is exposed too.
default_certificate = { cert = "file:{{CERTS}}/a.example.test.pem", key = "file:{{CERTS}}/a.example.test.key" }
[access_log]
ring_size = 1024
[[access_log.sinks]]
type = "file"
path = {{LOG}}

[[backends]]
name = "origin"
targets = [{ url = "{{ORIGIN}}" }]

[[backends]]
name = "dead"
targets = [{ url = "http://{{DEAD}}" }]
connect_timeout = "1s"

[[consumers]]
name = "obs-partner"
api_keys = ["obs-key-0123456789abcdefgh"]

[[groups]]
name = "obs"

[[groups.apis]]
name = "ok"
path = "/ok/{id}"
backend = "origin"
backend_path = "/o?size=8"
[groups.apis.websocket]

[[groups.apis]]
name = "limited"
path = "/limited"
backend = "origin"
backend_path = "/o?size=8"
[groups.apis.rate_limit]
api = { rate = 0.001, burst = 1 }

[[groups.apis]]
name = "keyed"
path = "/keyed"
backend = "origin"
backend_path = "/o?size=8"
[groups.apis.auth]
modes = ["key"]

[[groups.apis]]
name = "dead"
path = "/dead"
backend = "dead"
`

// liveScrape runs a gateway, sends traffic that touches every family (2xx,
// 4xx, 5xx, 401, 429, 404, 502, an access log, a rejected reload) and
// returns its /metrics, parsed.
func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func liveScrape(t *testing.T) scraped {
	t.Helper()
	o, err := origin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "sluice.toml")
	cfg := strings.NewReplacer("{{ORIGIN}}", o.URL(), "{{DEAD}}", deadAddr,
		"{{LOG}}", strconv.Quote(filepath.Join(dir, "access.log")), "{{CERTS}}", mustAbs(t, "examples/certs")).Replace(obsConfig)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := proxy.New(proxy.Options{})
	rl := proxy.NewReloader(srv, proxy.Source{Name: cfgPath, Path: cfgPath})
	if _, err := rl.Reload(); err != nil {
		t.Fatalf("config rejected: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	admin := proxy.NewAdmin(srv, rl)

	client := &fasthttp.HostClient{Addr: ln.Addr().String(), ReadTimeout: 5 * time.Second}
	for _, c := range []struct {
		path, key string
		status    int
	}{
		{"/ok/1", "", 200}, {"/ok/2", "", 200},
		{"/limited", "", 200}, {"/limited", "", 429},
		{"/keyed", "", 401}, {"/keyed", "obs-key-0123456789abcdefgh", 200},
		{"/dead", "", 502}, {"/nowhere", "", 404},
	} {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + ln.Addr().String() + c.path)
		if c.key != "" {
			req.Header.Set("X-Api-Key", c.key)
		}
		if err := client.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != c.status {
			t.Fatalf("GET %s: %d, want %d: %s", c.path, resp.StatusCode(), c.status, resp.Body())
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
	if err := os.WriteFile(cfgPath, []byte(cfg+"\nno_such_key = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := rl.Reload(); err == nil {
		t.Fatal("a config with an unknown key was accepted")
	}

	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/metrics")
	ctx.Request.Header.SetMethod(fasthttp.MethodGet)
	admin.Handler()(&ctx)
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("/metrics: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(ctx.Response.Body()))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	s := scraped{hist: map[string]bool{}, labels: map[string]map[string]map[string]bool{}}
	for name, f := range fams {
		ls := map[string]map[string]bool{}
		if f.GetType() == dto.MetricType_HISTOGRAM {
			s.hist[name] = true
			ls["le"] = map[string]bool{}
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if ls[lp.GetName()] == nil {
					ls[lp.GetName()] = map[string]bool{}
				}
				ls[lp.GetName()][lp.GetValue()] = true
			}
		}
		s.labels[name] = ls
	}
	return s
}

var (
	reMetric     = regexp.MustCompile(`\bsluice_[a-z_]+`)
	reSelector   = regexp.MustCompile(`\b(sluice_[a-z_]+)\{([^}]*)\}`)
	reMatcher    = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"\s*$`)
	reGrouping   = regexp.MustCompile(`\b(?:by|without|on|ignoring)\s*\(([^)]*)\)`)
	reRangeFunc  = regexp.MustCompile(`\b(rate|irate|increase)\(`)
	reDollarLbl  = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
	reQuantileFn = regexp.MustCompile(`\bhistogram_quantile\(`)
)

// family strips the series suffixes of a histogram.
func family(name string) (fam, suffix string) {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if f, ok := strings.CutSuffix(name, suf); ok {
			return f, suf
		}
	}
	return name, ""
}

// callArgs returns the text between the '(' at open and its matching ')'.
func callArgs(expr string, open int) (string, bool) {
	depth := 0
	for i := open; i < len(expr); i++ {
		switch expr[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return expr[open+1 : i], true
			}
		}
	}
	return "", false
}

// balanced checks (), [] and {} outside string literals.
func balanced(expr string) bool {
	var stack []byte
	inStr := false
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		if inStr {
			if c == '\\' {
				i++
			} else if c == '"' {
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '(', '[', '{':
			stack = append(stack, c)
		case ')', ']', '}':
			want := map[byte]byte{')': '(', ']': '[', '}': '{'}[c]
			if len(stack) == 0 || stack[len(stack)-1] != want {
				return false
			}
			stack = stack[:len(stack)-1]
		}
	}
	return len(stack) == 0 && !inStr
}

// checkExpr reports every way expr disagrees with the scrape and returns
// the label names its by() clauses keep and the families it uses.
func checkExpr(t *testing.T, where, expr string, s scraped) (byLabels map[string]bool, used []string) {
	t.Helper()
	if strings.TrimSpace(expr) == "" {
		t.Errorf("%s: empty expression", where)
		return nil, nil
	}
	if !balanced(expr) {
		t.Errorf("%s: unbalanced brackets or quotes: %s", where, expr)
	}
	exprLabels := map[string]bool{}
	hasBucket := false
	for _, name := range reMetric.FindAllString(expr, -1) {
		fam, suf := family(name)
		if !s.has(fam) {
			t.Errorf("%s: metric %s (family %s) is not exposed by the gateway", where, name, fam)
			continue
		}
		if suf != "" && !s.hist[fam] {
			t.Errorf("%s: %s used as a histogram series, but %s is not a histogram", where, name, fam)
		}
		if s.hist[fam] && suf == "" {
			t.Errorf("%s: histogram %s used without _bucket, _sum or _count", where, fam)
		}
		hasBucket = hasBucket || suf == "_bucket"
		used = append(used, fam)
		for l := range s.labels[fam] {
			exprLabels[l] = true
		}
	}
	for _, m := range reSelector.FindAllStringSubmatch(expr, -1) {
		fam, _ := family(m[1])
		if !s.has(fam) {
			continue
		}
		for _, part := range strings.Split(m[2], ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			mm := reMatcher.FindStringSubmatch(part)
			if mm == nil {
				t.Errorf("%s: matcher %q in %s is not label op \"value\"", where, part, m[1])
				continue
			}
			name, op, val := mm[1], mm[2], mm[3]
			if targetLabels[name] {
				continue
			}
			values, ok := s.labels[fam][name]
			if !ok {
				t.Errorf("%s: %s has no label %q", where, fam, name)
				continue
			}
			// An exact match on a fixed value must name a value the
			// gateway really exposes (class="5xx", result="error").
			if op == "=" && !strings.Contains(val, "$") && !values[val] {
				t.Errorf("%s: %s{%s=%q}: no such label value in the scrape (have %v)", where, fam, name, val, keys(values))
			}
		}
	}
	byLabels = map[string]bool{}
	for _, m := range reGrouping.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(m[1], ",") {
			l = strings.TrimSpace(l)
			if l == "" {
				continue
			}
			byLabels[l] = true
			if !exprLabels[l] && !targetLabels[l] && !(l == "le" && hasBucket) {
				t.Errorf("%s: grouping label %q is on none of the metrics used (%v)", where, l, used)
			}
		}
	}
	for _, loc := range reRangeFunc.FindAllStringIndex(expr, -1) {
		args, ok := callArgs(expr, loc[1]-1)
		if !ok || !strings.Contains(args, "[") || !strings.HasSuffix(strings.TrimSpace(args), "]") {
			t.Errorf("%s: %s has no range selector: %s", where, expr[loc[0]:loc[1]], args)
		}
	}
	for _, loc := range reQuantileFn.FindAllStringIndex(expr, -1) {
		args, ok := callArgs(expr, loc[1]-1)
		q, inner, found := strings.Cut(args, ",")
		phi, err := strconv.ParseFloat(strings.TrimSpace(q), 64)
		if !ok || !found || err != nil || phi <= 0 || phi >= 1 {
			t.Errorf("%s: histogram_quantile needs a quantile in (0,1) and a vector: %s", where, args)
			continue
		}
		g := reGrouping.FindStringSubmatch(inner)
		if !strings.Contains(inner, "_bucket") || g == nil || !strings.Contains(","+strings.ReplaceAll(g[1], " ", "")+",", ",le,") {
			t.Errorf("%s: histogram_quantile over %q: want rate of _bucket series summed by (..., le)", where, inner)
		}
	}
	return byLabels, used
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// exemptFromCoverage are families deliberately on no panel and in no alert.
var exemptFromCoverage = map[string]string{
	"sluice_ratelimit_race_refunds_total": "internal diagnostic of the lock-free buckets",
}

// dashboard is the part of Grafana's dashboard model the test reads.
type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // collapsed rows
}

func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if d.Title == "" || d.UID == "" || len(d.UID) > 40 || d.SchemaVersion < 30 || len(d.Panels) == 0 {
		t.Fatalf("not a Grafana dashboard: title %q uid %q schemaVersion %d, %d panels", d.Title, d.UID, d.SchemaVersion, len(d.Panels))
	}
	s := liveScrape(t)

	vars := map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type == "query" {
			var q struct{ Query string }
			if json.Unmarshal(v.Query, &q) != nil || q.Query == "" {
				t.Errorf("variable %s: no query", v.Name)
			}
			checkExpr(t, "variable "+v.Name, q.Query, s)
		}
	}
	if !vars["datasource"] {
		t.Error("no datasource variable: the dashboard would be tied to one Prometheus")
	}

	var panels []panel
	for _, p := range d.Panels {
		panels = append(panels, p)
		panels = append(panels, p.Panels...)
	}
	ids := map[int]bool{}
	all := "" // every expression, for coverage
	byPanel := map[string]string{}
	for _, p := range panels {
		where := "panel " + strconv.Quote(p.Title)
		if p.ID <= 0 || ids[p.ID] {
			t.Errorf("%s: id %d missing or repeated", where, p.ID)
		}
		ids[p.ID] = true
		if p.Title == "" || p.Type == "" || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("%s: needs a title, a type and a gridPos within 24 columns: %+v", where, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("%s: needs targets and the ${datasource} variable", where)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("%s: refId %q missing or repeated", where, tg.RefID)
			}
			refs[tg.RefID] = true
			checkExpr(t, where, tg.Expr, s)
			for _, v := range regexp.MustCompile(`\$\{?([a-zA-Z_]+)`).FindAllStringSubmatch(tg.Expr, -1) {
				if !vars[v[1]] {
					t.Errorf("%s: unknown variable $%s", where, v[1])
				}
			}
			byPanel[p.Title] += tg.Expr + "\n"
			all += tg.Expr + "\n"
		}
	}

	// The panels the issue asks for.
	want := map[string]func(string) bool{
		"throughput": func(e string) bool { return strings.Contains(e, "rate(sluice_requests_total") },
		"error rate": func(e string) bool { return strings.Contains(e, `class="5xx"`) && strings.Contains(e, "/") },
		"p50/p99 gateway vs backend": func(e string) bool {
			for _, q := range []string{"0.5", "0.99"} {
				for _, h := range []string{"sluice_request_duration_seconds_bucket", "sluice_backend_duration_seconds_bucket"} {
					if !regexp.MustCompile(`histogram_quantile\(` + regexp.QuoteMeta(q) + `,[^\n]*` + h).MatchString(e) {
						return false
					}
				}
			}
			return true
		},
		"throttling":      func(e string) bool { return strings.Contains(e, "sluice_throttled_requests_total") },
		"upstream errors": func(e string) bool { return strings.Contains(e, "sluice_upstream_errors_total") },
		"log drops": func(e string) bool {
			return strings.Contains(e, "sluice_accesslog_sink_dropped_records_total") && strings.Contains(e, "sluice_accesslog_dropped_total")
		},
		"reloads": func(e string) bool {
			return strings.Contains(e, "sluice_config_reloads_total") && strings.Contains(e, "sluice_config_reload_errors_total")
		},
	}
	for topic, ok := range want {
		found := false
		for _, exprs := range byPanel {
			found = found || ok(exprs)
		}
		if !found {
			t.Errorf("no panel shows %s", topic)
		}
	}
	checkCoverage(t, "dashboard", all, s)
}

// alertRules is the Prometheus rule file format, decoded strictly.
type alertRules struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestAlertRules(t *testing.T) {
	raw, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var r alertRules
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	if len(r.Groups) == 0 {
		t.Fatal("alerts.yml: no rule groups")
	}
	s := liveScrape(t)
	groups, alerts := map[string]bool{}, map[string]string{}
	for _, g := range r.Groups {
		if g.Name == "" || groups[g.Name] || len(g.Rules) == 0 {
			t.Errorf("group %q: needs a unique name and rules", g.Name)
		}
		groups[g.Name] = true
		for _, rule := range g.Rules {
			where := "alert " + rule.Alert
			if rule.Record != "" || rule.Alert == "" {
				t.Errorf("%s: only alerting rules belong here (record %q)", where, rule.Record)
				continue
			}
			if !regexp.MustCompile(`^Sluice[A-Z][A-Za-z0-9]+$`).MatchString(rule.Alert) || alerts[rule.Alert] != "" {
				t.Errorf("%s: name must be unique and SluiceCamelCase", where)
			}
			alerts[rule.Alert] = rule.Expr
			if rule.For != "" {
				if d, err := time.ParseDuration(rule.For); err != nil || d <= 0 {
					t.Errorf("%s: for %q is not a duration", where, rule.For)
				}
			}
			if sev := rule.Labels["severity"]; sev != "critical" && sev != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", where, sev)
			}
			if rule.Annotations["summary"] == "" || rule.Annotations["description"] == "" {
				t.Errorf("%s: needs summary and description annotations", where)
			}
			byLabels, _ := checkExpr(t, where, rule.Expr, s)
			// Annotations may only use labels the expression's result keeps.
			if len(byLabels) > 0 {
				for _, a := range rule.Annotations {
					for _, m := range reDollarLbl.FindAllStringSubmatch(a, -1) {
						if !byLabels[m[1]] {
							t.Errorf("%s: annotation uses $labels.%s, which the expression aggregates away (keeps %v)", where, m[1], keys(byLabels))
						}
					}
				}
			}
		}
	}

	// The alerts the issue asks for.
	want := map[string]func(string) bool{
		"5xx rate":        func(e string) bool { return strings.Contains(e, `class="5xx"`) },
		"p99 latency":     func(e string) bool { return strings.Contains(e, "histogram_quantile(0.99") },
		"throttling":      func(e string) bool { return strings.Contains(e, "sluice_throttled_requests_total") },
		"log drops":       func(e string) bool { return strings.Contains(e, "sluice_accesslog_sink_dropped_records_total") },
		"reload failures": func(e string) bool { return strings.Contains(e, "sluice_config_reload_errors_total") },
	}
	for topic, ok := range want {
		found := false
		for _, e := range alerts {
			found = found || ok(e)
		}
		if !found {
			t.Errorf("no alert for %s", topic)
		}
	}
}

// checkCoverage: every sluice_ family the gateway exposes is on the
// dashboard, unless exempted with a reason.
func checkCoverage(t *testing.T, what, exprs string, s scraped) {
	t.Helper()
	used := map[string]bool{}
	for _, name := range reMetric.FindAllString(exprs, -1) {
		f, _ := family(name)
		used[f] = true
	}
	for fam := range s.labels {
		if strings.HasPrefix(fam, "sluice_") && !used[fam] && exemptFromCoverage[fam] == "" {
			t.Errorf("%s: family %s is exposed but shown nowhere", what, fam)
		}
	}
}
