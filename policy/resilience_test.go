package policy

import (
	"strings"
	"testing"
	"time"
)

const resilienceBase = `
[[backends]]
name = "b"
targets = [{ url = "http://127.0.0.1:1" }, { url = "http://127.0.0.1:2" }]
BACKEND
[[backends]]
name = "b2"
targets = [{ url = "http://127.0.0.1:3" }]
[[groups]]
name = "g"
[[groups.apis]]
name = "a"
path = "/a/{id}"
backend = "b"
API
`

func resilienceConfig(backend, api string) string {
	return strings.NewReplacer("BACKEND", backend, "API", api).Replace(resilienceBase)
}

// Absent tables compile to Envoy's and HAProxy's defaults: passive
// ejection on, no checks, no breaker, round-robin, no retries.
func TestResilienceDefaults(t *testing.T) {
	s := mustCompile(t, resilienceConfig("[backends.health_check]", ""))
	r := s.Backends[0].Resilience
	want := Outlier{ConsecutiveFailures: 5, BaseEjection: 30 * time.Second, MaxEjection: 300 * time.Second, MaxEjectionPercent: 50}
	if r.Outlier != want || r.Breaker != nil || r.Balance.Policy != BalanceRoundRobin ||
		r.Limits != (TargetLimits{1024, 1024}) || r.Budget != (RetryBudget{20, 3}) {
		t.Fatalf("defaults %+v", r)
	}
	hc := r.Check
	if hc.Path != "/" || hc.Interval != 2*time.Second || hc.Timeout != time.Second || hc.Rise != 2 || hc.Fall != 3 ||
		!hc.Passes(204) || hc.Passes(500) {
		t.Fatalf("check defaults %+v", hc)
	}
	if s.APIs[0].Retry != nil {
		t.Fatal("retries without a retry table")
	}
	s = mustCompile(t, resilienceConfig("", "[groups.apis.retry]\nattempts = 2"))
	rp := s.APIs[0].Retry
	if rp.Attempts != 2 || !rp.OnConnect || rp.OnReset || rp.BackoffBase != 25*time.Millisecond ||
		rp.BackoffMax != 250*time.Millisecond || len(rp.Statuses) != 3 {
		t.Fatalf("retry defaults %+v", rp)
	}
}

// Every mistake is named by its key, in one run.
func TestResilienceValidation(t *testing.T) {
	for _, tc := range []struct{ backend, api, want string }{
		{"[backends.health_check]\ninterval = \"10ms\"", "", "backends[0].health_check.interval"},
		{"[backends.health_check]\ntype = \"udp\"", "", "backends[0].health_check.type"},
		{"[backends.health_check]\npath = \"health\"", "", "backends[0].health_check.path"},
		{"[backends.health_check]\ninterval = \"1s\"\ntimeout = \"2s\"", "", "backends[0].health_check.timeout"},
		{"[backends.outlier]\nmax_ejection_percent = 150", "", "backends[0].outlier.max_ejection_percent"},
		{"[backends.outlier]\nbase_ejection_time = \"10m\"", "", "backends[0].outlier.max_ejection_time"},
		{"[backends.breaker]\nfailure_ratio = 101", "", "backends[0].breaker.failure_ratio"},
		{"[backends.balance]\npolicy = \"fastest\"", "", "backends[0].balance.policy"},
		{"[backends.balance]\npolicy = \"maglev\"", "", "backends[0].balance.hash_on"},
		{"[backends.balance]\npolicy = \"maglev\"\nhash_on = \"query:x\"", "", "backends[0].balance.hash_on"},
		{"[backends.balance]\nhash_on = \"client_ip\"", "", "only maglev and ring_hash"},
		{"", "[groups.apis.retry]\nattempts = 11", "groups[0].apis[0].retry.attempts"},
		{"", "[groups.apis.retry]\nretry_on = [\"5xx\"]", "groups[0].apis[0].retry.retry_on[0]"},
		{"", "[groups.apis.retry]\nstatuses = [404]", "groups[0].apis[0].retry.statuses[0]"},
		{"", "[groups.apis.split]\nbackends = [{ backend = \"nope\" }]", "unknown backend \"nope\""},
		{"", "[groups.apis.split]\nbackends = [{ backend = \"b2\" }]", "must be one of the split's backends"},
		{"", "[groups.apis.split]\nbackends = [{ backend = \"b\" }, { backend = \"b2\" }]\nroutes = [{ header = \"X\", cookie = \"y\", value = \"1\", backend = \"b2\" }]", "exactly one of header, cookie and query"},
		{"", "[groups.apis.split]\nbackends = [{ backend = \"b\" }]\nhash_on = \"path:id\"", "not a split key"},
	} {
		_, err := compileString(t, resilienceConfig(tc.backend, tc.api))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %q: error %v, want one naming %q", tc.backend, tc.api, err, tc.want)
		}
	}
}

// A split compiles to a backend of its own whose targets are its members'.
func TestSplitCompilesToBackendOverMembers(t *testing.T) {
	s := mustCompile(t, resilienceConfig("", `[groups.apis.split]
backends = [{ backend = "b", weight = 95 }, { backend = "b2", weight = 5 }]
routes = [{ header = "X-Canary", value = "1", backend = "b2" }]
hash_on = "cookie:session"`))
	b := s.APIs[0].Backend
	sp := b.Resilience.Split
	if sp == nil || len(b.Targets) != 3 || len(sp.Members) != 2 || sp.Weights[0] != 95 || sp.Routes[0].Member != 1 ||
		sp.HashOn.Source != HashCookie {
		t.Fatalf("split backend %+v %+v", b, sp)
	}
}
