package proxy

// The admin listener's /metrics after real traffic, parsed by Prometheus'
// own text-format parser (prometheus/common/expfmt), so what Prometheus would
// reject or misread fails here: every family the gateway promises exists
// with its label set, label values come only from config names, histograms
// are cumulative and agree with the request counters.

import (
	"bytes"
	"math"
	"net/netip"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/valyala/fasthttp"
)

// scrape fetches /metrics from the gateway's admin listener.
func scrape(t testing.TB, g *gateway) []byte {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + g.adminAt + "/metrics")
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != 200 {
		t.Fatalf("/metrics: status %d: %s", resp.StatusCode(), resp.Body())
	}
	if ct := string(resp.Header.ContentType()); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("/metrics Content-Type %q, want the text exposition format", ct)
	}
	return append([]byte(nil), resp.Body()...)
}

// parseMetrics parses a scrape the way Prometheus does.
func parseMetrics(t testing.TB, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse as Prometheus text: %v", err)
	}
	return fams
}

// scrapeValue is the value of one series, written exactly as exposed
// (`name{a="b"}`), or 0 when the series is absent.
func scrapeValue(t testing.TB, g *gateway, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(string(scrape(t, g)), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

func metricValue(f *dto.MetricFamily, m *dto.Metric) float64 {
	switch f.GetType() {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_UNTYPED:
		return m.GetUntyped().GetValue()
	}
	return math.NaN()
}

// seriesSum adds the values of a family's series whose labels include want.
func seriesSum(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	sum := 0.0
	for _, m := range f.GetMetric() {
		if hasLabels(m, want) {
			sum += metricValue(f, m)
		}
	}
	return sum
}

// histCount is the _count of a histogram family's series with labels want.
func histCount(fams map[string]*dto.MetricFamily, name string, want map[string]string) uint64 {
	var n uint64
	for _, m := range fams[name].GetMetric() {
		if hasLabels(m, want) {
			n += m.GetHistogram().GetSampleCount()
		}
	}
	return n
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	l := labelsOf(m)
	for k, v := range want {
		if l[k] != v {
			return false
		}
	}
	return true
}

// metricFamilies is every family the gateway exposes: its type (histogram
// or a plain sample, which VictoriaMetrics exposes untyped) and the exact
// label names of its series. Adding a metric means adding it here, where the
// dashboard and alerts test (configs/observability_test.go) also looks.
var metricFamilies = []struct {
	name      string
	histogram bool
	labels    string // sorted, comma-separated
}{
	{"sluice_requests_total", false, "api,class,group,stage"},
	{"sluice_request_duration_seconds", true, "api,group"},
	{"sluice_backend_duration_seconds", true, "api,group"},
	{"sluice_throttled_requests_total", false, "api,group,scope"},
	{"sluice_auth_failures_total", false, "api,group,reason"},
	{"sluice_requests_unmatched_total", false, ""},
	{"sluice_requests_rejected_total", false, "reason"},
	{"sluice_upstream_errors_total", false, "kind"},
	{"sluice_upstream_conns_dropped_total", false, "reason"},
	{"sluice_client_body_errors_total", false, "reason"},
	{"sluice_config_reloads_total", false, ""},
	{"sluice_config_reload_errors_total", false, ""},
	{"sluice_open_connections", false, ""},
	{"sluice_requests_in_flight", false, ""},
	{"sluice_accesslog_dropped_total", false, ""},
	{"sluice_accesslog_sampled_out_total", false, ""},
	{"sluice_accesslog_sink_written_records_total", false, "sink"},
	{"sluice_accesslog_sink_dropped_records_total", false, "sink"},
	{"sluice_accesslog_sink_errors_total", false, "sink"},
	{"sluice_ratelimit_keys_created_total", false, ""},
	{"sluice_ratelimit_keys_evicted_total", false, ""},
	{"sluice_ratelimit_keys_rejected_total", false, ""},
	{"sluice_ratelimit_race_refunds_total", false, ""},
	{"sluice_nonce_store_refused_full_total", false, ""},
	{"sluice_jwt_jwks_fetches_total", false, "result"},
	{"sluice_jwt_jwks_early_refetches_total", false, ""},
	{"sluice_tunnels_open_all", false, ""},
	{"sluice_tunnels_open", false, "api,group,stage"},
	{"sluice_tunnels_opened_total", false, "api,group,stage"},
	{"sluice_tunnels_closed_total", false, "reason"},
	{"sluice_tunnels_refused_total", false, ""},
	{"sluice_tunnel_bytes_total", false, "direction"},
	// Upstream resilience (issue 12): per target address, per backend.
	{"sluice_upstream_ejections_total", false, "target"},
	{"sluice_upstream_health_checks_total", false, "result,target"},
	{"sluice_upstream_attempts_total", false, "target"},
	{"sluice_upstream_attempt_failures_total", false, "target"},
	{"sluice_upstream_overloaded_total", false, "target"},
	{"sluice_upstream_breaker_transitions_total", false, "target,to"},
	{"sluice_upstream_healthy", false, "target"},
	{"sluice_upstream_ejected", false, "target"},
	{"sluice_upstream_breaker_state", false, "target"},
	{"sluice_upstream_active_requests", false, "target"},
	{"sluice_upstream_retries_total", false, "backend"},
	{"sluice_upstream_retry_budget_exhausted_total", false, "backend"},
	{"sluice_upstream_panic_total", false, "backend"},
	// Response cache and compression (issue 13).
	{"sluice_cache_requests_total", false, "outcome"},
	{"sluice_cache_hits_total", false, ""},
	{"sluice_cache_misses_total", false, ""},
	{"sluice_cache_stale_total", false, ""},
	{"sluice_cache_stores_total", false, ""},
	{"sluice_cache_refused_too_large_total", false, ""},
	{"sluice_cache_refused_total", false, ""},
	{"sluice_cache_purged_total", false, ""},
	{"sluice_cache_purge_requests_total", false, ""},
	{"sluice_cache_corrupt_entries_total", false, ""},
	{"sluice_cache_coalesced_total", false, ""},
	{"sluice_cache_coalesce_timeouts_total", false, ""},
	{"sluice_cache_entries", false, ""},
	{"sluice_cache_bytes", false, ""},
	{"sluice_cache_max_bytes", false, ""},
	{"sluice_cache_revalidated_total", false, ""},
	{"sluice_cache_bypass_total", false, ""},
	{"sluice_cache_refused_streamed_total", false, ""},
	{"sluice_cache_background_refreshes_total", false, ""},
	{"sluice_cache_refused_api_too_large_total", false, ""},
	{"sluice_compressed_responses_total", false, "encoding"},
	{"sluice_composite_calls_total", false, "outcome"},
	{"sluice_body_transforms_total", false, "direction,outcome"},
	// Fleet state on Redis (store/redisstate, issue 15). The call-duration
	// histogram is in metricFamiliesOnceUsed.
	{"sluice_redis_calls_total", false, ""},
	{"sluice_redis_errors_total", false, ""},
	{"sluice_redis_breaker_open", false, ""},
	{"sluice_redis_breaker_opens_total", false, ""},
	{"sluice_redis_leases_total", false, ""},
	{"sluice_redis_lease_tokens_total", false, ""},
	{"sluice_redis_refills_dropped_total", false, ""},
	{"sluice_redis_fallback_decisions_total", false, "policy"},
	{"sluice_redis_nonce_fallback_total", false, ""},
	{"sluice_tls_handshakes_total", false, ""},
	{"sluice_tls_handshakes_resumed_total", false, ""},
	{"sluice_tls_handshake_errors_total", false, "reason"},
	{"sluice_tls_client_certificates_total", false, "outcome"},
	{"sluice_tls_certificate_reloads_total", false, ""},
	{"sluice_tls_certificate_reload_errors_total", false, ""},
	{"sluice_acme_certificates_total", false, "outcome"},
	{"sluice_tls_certificate_expiry_timestamp_seconds", false, "name"},
	// Go runtime and process metrics (WritePrometheus(w, true)).
	{"go_goroutines", false, ""},
	{"go_memstats_alloc_bytes", false, ""},
	{"process_cpu_seconds_total", false, ""},
	{"process_resident_memory_bytes", false, ""},
	{"process_start_time_seconds", false, ""},
}

// metricFamiliesOnceUsed appear only after their first observation (a
// VictoriaMetrics histogram writes nothing before it): known when exposed,
// with these labels, but not required. sluice_redis_call_duration_seconds
// is observed only when a test of this process has called Redis.
var metricFamiliesOnceUsed = map[string]string{
	"sluice_redis_call_duration_seconds_bucket": "vmrange",
	"sluice_redis_call_duration_seconds_sum":    "",
	"sluice_redis_call_duration_seconds_count":  "",
}

const metricsConfig = `
[access_log]
ring_size = 1024
[[access_log.sinks]]
type = "file"
name = "metrics_file"
path = {{LOG}}

[[backends]]
name = "origin"
targets = [{ url = "{{ORIGIN}}" }]

[[backends]]
name = "dead"
targets = [{ url = "http://{{DEAD}}" }]
connect_timeout = "1s"

[[consumers]]
name = "metrics-partner"
api_keys = ["metrics-key-0123456789abcdef"]

[[groups]]
name = "metrics-grp"

[[groups.apis]]
name = "m-ok"
path = "/ok/{id}"
backend = "origin"
backend_path = "/o?size=8"
[groups.apis.websocket]

[[groups.apis]]
name = "m-limited"
path = "/limited/{id}"
backend = "origin"
backend_path = "/o?size=8"
[groups.apis.rate_limit]
api = { rate = 0.001, burst = 2 }

[[groups.apis]]
name = "m-auth"
path = "/auth/{id}"
backend = "origin"
backend_path = "/o?size=8"
[groups.apis.auth]
modes = ["key"]

[[groups.apis]]
name = "m-dead"
path = "/dead/{id}"
backend = "dead"
`

var metricsAPIs = []string{"m-ok", "m-limited", "m-auth", "m-dead"}

func TestMetricsScrape(t *testing.T) {
	cfg := strings.NewReplacer("{{LOG}}", strconv.Quote(filepath.Join(t.TempDir(), "access.log")),
		"{{DEAD}}", deadAddr(t)).Replace(metricsConfig)
	g := startGateway(t, cfg)
	before := parseMetrics(t, scrape(t, g))

	// Traffic: paths carry IP addresses and ids, which must never become
	// label values.
	type call struct {
		path   string
		hdr    map[string]string
		status int
	}
	var calls []call
	for i := 0; i < 20; i++ {
		c := call{path: "/ok/10.0.0." + strconv.Itoa(i), status: 200}
		if i%4 == 0 {
			c.hdr = map[string]string{"X-Ca-Stage": "TEST", "X-Forwarded-For": "203.0.113.9"}
		}
		calls = append(calls, c)
	}
	for i := 0; i < 5; i++ {
		st := 200
		if i >= 2 {
			st = 429
		}
		calls = append(calls, call{path: "/limited/" + strconv.Itoa(i), status: st})
	}
	calls = append(calls,
		call{path: "/auth/1", status: 401},
		call{path: "/auth/2", hdr: map[string]string{"X-Api-Key": "wrong-key-0123456789abcdef"}, status: 401},
		call{path: "/auth/3", hdr: map[string]string{"X-Api-Key": "metrics-key-0123456789abcdef"}, status: 200},
		call{path: "/dead/1", status: 502},
		call{path: "/dead/2", status: 502},
		call{path: "/nope/192.168.7.7", status: 404},
	)
	for _, c := range calls {
		if st, _, body := g.do("GET", c.path, c.hdr, nil); st != c.status {
			t.Fatalf("GET %s: status %d, want %d: %s", c.path, st, c.status, body)
		}
	}

	body := scrape(t, g)
	fams := parseMetrics(t, body)

	// Every promised family, with its type and exact label names.
	for _, want := range metricFamilies {
		f := fams[want.name]
		if f == nil && want.name == "sluice_tls_certificate_expiry_timestamp_seconds" {
			continue // one series per configured certificate name; this config has none
		}
		if f == nil || len(f.GetMetric()) == 0 {
			t.Errorf("family %s missing from /metrics", want.name)
			continue
		}
		if isHist := f.GetType() == dto.MetricType_HISTOGRAM; isHist != want.histogram {
			t.Errorf("%s: type %v", want.name, f.GetType())
		}
		for _, m := range f.GetMetric() {
			var names []string
			for n := range labelsOf(m) {
				names = append(names, n)
			}
			sort.Strings(names)
			if got := strings.Join(names, ","); got != want.labels {
				t.Errorf("%s: series with labels {%s}, want {%s}", want.name, got, want.labels)
				break
			}
		}
	}
	// Nothing sluice_ that the table does not know: a new metric needs a
	// row above, and a dashboard panel or alert if it matters.
	known := map[string]bool{}
	for _, want := range metricFamilies {
		known[want.name] = true
	}
	for name, labels := range metricFamiliesOnceUsed {
		known[name] = true
		for _, m := range fams[name].GetMetric() {
			var names []string
			for n := range labelsOf(m) {
				names = append(names, n)
			}
			sort.Strings(names)
			if got := strings.Join(names, ","); got != labels {
				t.Errorf("%s: series with labels {%s}, want {%s}", name, got, labels)
				break
			}
		}
	}
	for name := range fams {
		if strings.HasPrefix(name, "sluice_") && !known[name] {
			t.Errorf("family %s is exposed but not in metricFamilies", name)
		}
	}

	checkLabelValues(t, fams)
	checkHistograms(t, fams)

	// Counts moved exactly as the traffic says.
	delta := func(name string, labels map[string]string) float64 {
		return seriesSum(fams, name, labels) - seriesSum(before, name, labels)
	}
	api := func(a string, kv ...string) map[string]string {
		m := map[string]string{"group": "metrics-grp", "api": a}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"sluice_requests_total", api("m-ok", "stage", "RELEASE", "class", "2xx"), 15},
		{"sluice_requests_total", api("m-ok", "stage", "TEST", "class", "2xx"), 5},
		{"sluice_requests_total", api("m-limited", "class", "2xx"), 2},
		{"sluice_requests_total", api("m-limited", "class", "4xx"), 3},
		{"sluice_requests_total", api("m-auth", "class", "4xx"), 2},
		{"sluice_requests_total", api("m-auth", "class", "2xx"), 1},
		{"sluice_requests_total", api("m-dead", "class", "5xx"), 2},
		{"sluice_throttled_requests_total", api("m-limited", "scope", "api"), 3},
		{"sluice_auth_failures_total", api("m-auth", "reason", CodeMissingCredentials), 1},
		{"sluice_auth_failures_total", api("m-auth", "reason", CodeInvalidAPIKey), 1},
		{"sluice_upstream_errors_total", map[string]string{"kind": "connect"}, 2},
		{"sluice_requests_unmatched_total", nil, 1},
		{"sluice_ratelimit_keys_created_total", nil, 1},
	} {
		if got := delta(c.name, c.labels); got != c.want {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if v := seriesSum(fams, "sluice_requests_in_flight", nil); v != 0 {
		t.Errorf("sluice_requests_in_flight = %v with no request running", v)
	}
	// A delta: the gauge is process-wide, and in this test binary the
	// in-memory tests' ServeConn calls move it too (fasthttp reports
	// StateClosed but no StateNew for ServeConn).
	if v := delta("sluice_open_connections", nil); v < 1 {
		t.Errorf("sluice_open_connections moved by %v with a keep-alive client connected", v)
	}
	if v := seriesSum(fams, "sluice_config_reloads_total", nil); v < 1 {
		t.Errorf("sluice_config_reloads_total = %v after a load", v)
	}

	// Each API's latency histogram counts exactly its requests.
	for _, a := range metricsAPIs {
		reqs := seriesSum(fams, "sluice_requests_total", api(a))
		if n := histCount(fams, "sluice_request_duration_seconds", api(a)); float64(n) != reqs || n == 0 {
			t.Errorf("%s: sluice_request_duration_seconds_count %d, sluice_requests_total %v", a, n, reqs)
		}
	}
	// Backend time is observed for requests that reached the origin.
	if n := histCount(fams, "sluice_backend_duration_seconds", api("m-ok")); n != uint64(seriesSum(fams, "sluice_requests_total", api("m-ok"))) {
		t.Errorf("m-ok: backend histogram count %d, requests %v", n, seriesSum(fams, "sluice_requests_total", api("m-ok")))
	}
	if n := histCount(fams, "sluice_backend_duration_seconds", api("m-limited")) - histCount(before, "sluice_backend_duration_seconds", api("m-limited")); n != 2 {
		t.Errorf("m-limited: %d backend observations, want 2 (throttled requests never reach it)", n)
	}
}

// checkLabelValues: label values come from config names and fixed sets,
// never from request data (paths, addresses, header values).
func checkLabelValues(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	fixed := map[string]map[string]bool{
		"stage": {"RELEASE": true, "PRE": true, "TEST": true},
		"class": {"1xx": true, "2xx": true, "3xx": true, "4xx": true, "5xx": true},
		"scope": {"api": true, "consumer": true, "client_ip": true, "quota": true},
		"kind": {"timeout": true, "connect": true, "no_free_connection": true, "reset": true, "overloaded": true,
			"circuit_open": true, "tls": true},
		"result": {"ok": true, "error": true, "pass": true, "fail": true},
		"to":     {"open": true, "half_open": true, "closed": true},
		// Rejection reasons; auth failure reasons are error codes, checked
		// below as identifiers.
		"reason": {"framing": true, "parse": true, "overloaded": true, "body_too_large": true, "misdirected": true,
			"http_version": true, "host": true, "loop": true,
			"peer": true, "idle": true, "lifetime": true, "shutdown": true, // tunnel closes
			"streaming_uploads": true, "stale": true, "unexpected_bytes": true, // upstream hygiene
			"malformed": true, "truncated": true, "timeout": true, // client body errors
			// TLS handshake failures (proxy/tls.go).
			"unknown_sni": true, "protocol_version": true, "bad_client_certificate": true, "plain_http": true, "other": true},
		"direction": {"upstream": true, "downstream": true, "request": true, "response": true},
		"outcome": {"ok": true, "error": true, "status": true, "timeout": true, "too_large": true, "not_json": true,
			"applied": true, "invalid_json": true,
			"hit": true, "miss": true, "stale": true, "revalidated": true, "bypass": true, "coalesced": true,
			"missing": true, "rejected": true, "verified": true, "obtained": true, "failed": true},
	}
	ourAPIs := map[string]bool{}
	for _, a := range metricsAPIs {
		ourAPIs[a] = true
	}
	for name, f := range fams {
		if !strings.HasPrefix(name, "sluice_") {
			continue
		}
		for _, m := range f.GetMetric() {
			l := labelsOf(m)
			for k, v := range l {
				if k == "target" { // a configured target's host:port, not request data
					continue
				}
				if _, err := netip.ParseAddr(v); err == nil || strings.ContainsAny(v, "/?:= ") || v == "" {
					t.Errorf("%s%v: label %s=%q looks like request data", name, l, k, v)
				}
				if set, ok := fixed[k]; ok && !set[v] && !(name == "sluice_auth_failures_total" && k == "reason" && isIdentifier(v)) {
					t.Errorf("%s%v: %s=%q is not one of the fixed values", name, l, k, v)
				}
			}
			if l["group"] == "metrics-grp" && !ourAPIs[l["api"]] {
				t.Errorf("%s%v: api %q is not an API of the config", name, l, l["api"])
			}
		}
	}
}

func isIdentifier(s string) bool {
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}

// checkHistograms: every histogram series has increasing bounds ending at
// +Inf, cumulative counts, and _count equal to the +Inf bucket.
func checkHistograms(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	seen := 0
	for name, f := range fams {
		if f.GetType() != dto.MetricType_HISTOGRAM {
			continue
		}
		for _, m := range f.GetMetric() {
			seen++
			h := m.GetHistogram()
			b := h.GetBucket()
			if len(b) < 2 {
				t.Errorf("%s%v: %d buckets", name, labelsOf(m), len(b))
				continue
			}
			prevBound, prevCount := math.Inf(-1), uint64(0)
			for _, bk := range b {
				if bk.GetUpperBound() <= prevBound || bk.GetCumulativeCount() < prevCount {
					t.Errorf("%s%v: bucket le=%v count %d after le=%v count %d: not cumulative",
						name, labelsOf(m), bk.GetUpperBound(), bk.GetCumulativeCount(), prevBound, prevCount)
				}
				prevBound, prevCount = bk.GetUpperBound(), bk.GetCumulativeCount()
			}
			// The parser keeps +Inf as the last bucket; it must hold every sample.
			if !math.IsInf(prevBound, 1) || prevCount != h.GetSampleCount() {
				t.Errorf("%s%v: last bucket le=%v count %d, _count %d", name, labelsOf(m), prevBound, prevCount, h.GetSampleCount())
			}
			if h.GetSampleSum() < 0 || (h.GetSampleCount() == 0 && h.GetSampleSum() != 0) {
				t.Errorf("%s%v: _sum %v with _count %d", name, labelsOf(m), h.GetSampleSum(), h.GetSampleCount())
			}
		}
	}
	if seen == 0 {
		t.Error("no histogram in /metrics")
	}
}
