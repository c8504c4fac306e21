package proxy

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const retryTwoConfig = `
[server]
stream_threshold = "4KiB"
[[backends]]
name = "two"
targets = [{ url = "{{A}}" }, { url = "{{B}}" }]
[backends.outlier]
consecutive_failures = 0
[[groups]]
name = "g"
[[groups.apis]]
name = "r"
path = "/r/{rest:*}"
backend = "two"
timeout = "TIMEOUT"
[groups.apis.retry]
attempts = 3
retry_on = ["reset", "timeout", "status"]
per_try_timeout = "PERTRY"
ANY
[groups.apis.params]
[[groups.apis.params.params]]
name = "f"
in = "form"
[[groups.apis]]
name = "plain"
path = "/p/{rest:*}"
backend = "two"
[groups.apis.retry]
attempts = 3
retry_on = ["reset", "timeout", "status"]
ANY
`

func retryConfig(timeout, perTry string, anyMethod bool) string {
	any := ""
	if anyMethod {
		any = "any_method = true"
	}
	return strings.NewReplacer("TIMEOUT", timeout, "PERTRY", perTry, "ANY", any).Replace(retryTwoConfig)
}

// A listed 5xx is retried on the other target: the client never sees it.
func TestRetryStatusGoesToAnotherTarget(t *testing.T) {
	a, b := newTestOrigin(t), newTestOrigin(t)
	a.status.Store(503)
	g := resilienceGateway(t, retryConfig("5s", "0s", false), Options{}, a.url(), b.url())
	for i := 0; i < 20; i++ {
		if st, body, err := g.get("/r/1", nil); err != nil || st != 200 {
			t.Fatalf("status %d %s %v", st, body, err)
		}
	}
	if a.requests.Load() == 0 || b.requests.Load() != 20 {
		t.Fatalf("a %d, b %d requests; want every request answered by b, some tried on a first", a.requests.Load(), b.requests.Load())
	}
}

// Each try is bounded by per_try_timeout, all of them by the API's
// timeout: a hanging upstream costs the API timeout and a 504, never more.
func TestRetryPerTryTimeoutWithinAPITimeoutThen504(t *testing.T) {
	a, b := newTestOrigin(t), newTestOrigin(t)
	a.delay.Store(int64(2 * time.Second))
	b.delay.Store(int64(2 * time.Second))
	g := resilienceGateway(t, retryConfig("500ms", "200ms", false), Options{}, a.url(), b.url())
	start := time.Now()
	st, h, body := g.do("GET", "/r/1", nil, nil)
	took := time.Since(start)
	wantError(t, st, h, body, 504, CodeGatewayTimeout)
	if took > 900*time.Millisecond {
		t.Fatalf("504 after %v, want about the 500ms API timeout", took)
	}
	if n := a.requests.Load() + b.requests.Load(); n < 2 {
		t.Fatalf("%d tries within the API timeout, want at least 2 (per-try timeout 200ms)", n)
	}
}

// A POST is not retried unless the API opts in, and then only with its
// body in memory; a streamed body is never retried, opted in or not.
func TestRetryNonIdempotentOnlyOptedInAndNeverStreamed(t *testing.T) {
	for _, tc := range []struct {
		name      string
		anyMethod bool
		body      int
		wantOK    bool
		path      string
	}{
		{"post-not-opted-in", false, 10, false, "/r/1"},
		{"post-opted-in", true, 10, true, "/r/1"},
		// No step reads this API's body: over stream_threshold it streams.
		{"streamed-post-opted-in", true, 64 << 10, false, "/p/1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newTestOrigin(t), newTestOrigin(t)
			a.status.Store(503)
			b.status.Store(503)
			g := resilienceGateway(t, retryConfig("5s", "0s", tc.anyMethod), Options{}, a.url(), b.url())
			// A form parameter rule makes the gateway read the body into
			// memory (Exchange.Replayable) unless it is over the threshold.
			st, _, _ := g.do("POST", tc.path, map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
				[]byte("f="+strings.Repeat("x", tc.body)))
			tries := a.requests.Load() + b.requests.Load()
			if st != 503 {
				t.Fatalf("status %d, want the upstream's 503", st)
			}
			if retried := tries > 1; retried != tc.wantOK {
				t.Fatalf("%d tries; retried = %v, want %v", tries, retried, tc.wantOK)
			}
		})
	}
}

// Over max_concurrent the request fails fast with 503 UpstreamOverloaded
// instead of queueing.
func TestLimitsMaxConcurrentFailsFastWithDistinctCode(t *testing.T) {
	o := newTestOrigin(t)
	o.delay.Store(int64(300 * time.Millisecond))
	cfg := `
[[backends]]
name = "one"
targets = [{ url = "{{A}}" }]
[backends.limits]
max_concurrent = 1
[[groups]]
name = "g"
[[groups.apis]]
name = "r"
path = "/r/{rest:*}"
backend = "one"
`
	g := resilienceGateway(t, cfg, Options{}, o.url())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if st, _, err := g.get("/r/slow", nil); err != nil || st != 200 {
			t.Errorf("first request: %d %v", st, err)
		}
	}()
	waitFor(t, func() bool { return o.requests.Load() == 1 })
	start := time.Now()
	st, h, body := g.do("GET", "/r/2", nil, nil)
	wantError(t, st, h, body, 503, CodeUpstreamOverloaded)
	if d := time.Since(start); d > 150*time.Millisecond {
		t.Fatalf("overloaded answer took %v, want at once", d)
	}
	wg.Wait()
}

// The access log records the target that answered and the attempt count.
func TestAccessLogRecordsUpstreamAndAttempts(t *testing.T) {
	a, b := newTestOrigin(t), newTestOrigin(t)
	a.status.Store(503)
	path := filepath.Join(t.TempDir(), "access.log")
	cfg := "[access_log]\n" + fileSinkTOML("f", path) + retryConfig("5s", "0s", false)
	g := resilienceGateway(t, cfg, Options{}, a.url(), b.url())
	for i := 0; i < 4; i++ {
		if st, _, err := g.get("/r/1", nil); err != nil || st != 200 {
			t.Fatalf("status %d %v", st, err)
		}
	}
	shutdownGateway(t, g)
	lines := readLogFile(t, path)
	if len(lines) != 4 {
		t.Fatalf("%d records, want 4", len(lines))
	}
	retried := 0
	for _, l := range lines {
		if l.Upstream != b.url() {
			t.Fatalf("upstream %q, want the target that answered, %q", l.Upstream, b.url())
		}
		switch l.Attempts {
		case 1:
		case 2:
			retried++
		default:
			t.Fatalf("attempts %d, want 1 or 2", l.Attempts)
		}
	}
	if retried == 0 {
		t.Fatal("no record shows the retry")
	}
}
