package redisstate

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/sluicegw/sluice/store/ratelimit"
	"github.com/sluicegw/sluice/store/redisstate/redistest"
)

// TestDialWhileRedisDown: a gateway starting during an outage gets a Conn
// in fallback, not an error, and it comes into use once Redis listens.
func TestDialWhileRedisDown(t *testing.T) {
	s := redistest.Start(t)
	s.Kill()
	c, err := Dial(Options{Addrs: []string{s.Addr}, Timeout: testTimeout, ProbeInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("Dial with Redis down: %v", err)
	}
	defer c.Close()
	if c.Healthy() {
		t.Fatal("healthy with Redis down")
	}
	s.Restart()
	for start := time.Now(); !c.Healthy(); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("breaker did not close after Redis came up")
		}
	}
	if _, err := Dial(Options{}); err == nil {
		t.Fatal("Dial without addresses succeeded")
	}
}

func TestFallbackPolicies(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Fallback
	}{{"", FallbackLocal}, {"local", FallbackLocal}, {"allow", FallbackAllow}, {"deny", FallbackDeny}} {
		if got, err := ParseFallback(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseFallback(%q) = %v, %v", tc.in, got, err)
		}
	}
	if _, err := ParseFallback("open"); err == nil {
		t.Error(`ParseFallback("open") succeeded`)
	}
	lim := ratelimit.MustLimit(300, 30) // 100/s burst 10 per node of 3
	reqs := []ratelimit.Request{{Key: 5, Limit: lim}}
	now := ratelimit.Nanotime()
	count := func(p Fallback) int {
		l := newDetachedLimiter(t, LimiterOptions{Fallback: p, FleetSize: 3})
		l.conn.open.Store(true)
		n := 0
		for range 100 {
			if l.Allow(now, reqs).Allowed {
				n++
			}
		}
		return n
	}
	if n := count(FallbackLocal); n != 10 {
		t.Errorf("local fallback admitted %d of 100 at one instant, want burst/3 = 10", n)
	}
	if n := count(FallbackAllow); n != 100 {
		t.Errorf("allow fallback admitted %d of 100", n)
	}
	if n := count(FallbackDeny); n != 0 {
		t.Errorf("deny fallback admitted %d of 100", n)
	}
}

// TestMetricNames: the sluice_redis_* series are registered.
func TestMetricNames(t *testing.T) {
	var b bytes.Buffer
	metrics.WritePrometheus(&b, false)
	for _, name := range []string{
		"sluice_redis_calls_total", "sluice_redis_errors_total", "sluice_redis_call_duration_seconds",
		"sluice_redis_breaker_open", "sluice_redis_breaker_opens_total", "sluice_redis_leases_total",
		"sluice_redis_lease_tokens_total", `sluice_redis_fallback_decisions_total{policy="local"}`,
		"sluice_redis_nonce_fallback_total",
	} {
		if !strings.Contains(b.String(), name) {
			t.Errorf("metric %s missing", name)
		}
	}
}
