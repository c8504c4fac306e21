package redisstate

import (
	"math"
	"testing"
	"time"

	"github.com/sluicegw/sluice/store/ratelimit"
	"github.com/sluicegw/sluice/store/redisstate/redistest"
)

// TestFleetRedisKilledAndRestarted: Redis is killed mid-run. No call
// fails or waits, the fallback counter rises, and each node enforces
// limit/3 (333/s, burst 33). Redis is restarted: every breaker closes
// within 2 s and the fleet limit (1000/s) holds again.
func TestFleetRedisKilledAndRestarted(t *testing.T) {
	s := redistest.Start(t)
	f := newFleet(t, []string{s.Addr}, LimiterOptions{})
	reqs := []ratelimit.Request{{Key: 0xdead, Limit: ratelimit.MustLimit(1000, 100)}}
	f.drive(time.Second, 500*time.Microsecond, reqs)
	if !f.healthy() {
		t.Fatal("breaker open before the outage")
	}

	fb0 := counterValue(fallbackLocal)
	s.Kill()
	const outage = 2 * time.Second
	admitted, attempts, slowest := f.drive(outage, 500*time.Microsecond, reqs)
	fb := counterValue(fallbackLocal) - fb0
	t.Logf("Redis down %v: attempts %d, admitted per node %v, fallback decisions %d, slowest Allow %v", outage, attempts, admitted, fb, slowest)
	if f.healthy() {
		t.Error("breakers still closed with Redis dead")
	}
	if fb == 0 {
		t.Error("fallback counter did not rise")
	}
	if slowest >= testTimeout {
		t.Errorf("an Allow call took %v during the outage", slowest)
	}
	// Per node: 333/s for 2 s plus the local burst 33, plus at most one
	// lease batch (33) and the debt allowance (1) spent before the breaker
	// opened.
	for i, a := range admitted {
		if lo, hi := 0.9*333*outage.Seconds(), 333*outage.Seconds()+33+34+1; float64(a) < lo || float64(a) > hi {
			t.Errorf("node %d admitted %d during the outage, want limit/3: %.0f..%.0f", i, a, lo, hi)
		}
	}

	s.Restart()
	start := time.Now()
	for !f.healthy() {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("breakers not closed 2s after Redis came back")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("fleet limits back %v after the restart", time.Since(start))
	fb0 = counterValue(fallbackLocal)
	admitted, _, _ = f.drive(2*time.Second, 500*time.Microsecond, reqs)
	total := sum(admitted)
	t.Logf("after restart, 2s: admitted %d per node %v (want 2000 ±5%%, plus the fresh bucket's burst 100)", total, admitted)
	if math.Abs(float64(total)-2000-100) > 0.05*2000 {
		t.Errorf("admitted %d after the restart, want 2100 ±100", total)
	}
	if d := counterValue(fallbackLocal) - fb0; d != 0 || !f.healthy() {
		t.Errorf("fell back %d times after recovery", d)
	}
}

// TestFleetSlowRedisBoundedLatency: Redis stalls (DEBUG SLEEP 1). Allow
// never waits for it at all; a nonce check waits at most the timeout, then
// the breaker opens and nonce checks fall back at once. When Redis answers
// again, the breakers close.
func TestFleetSlowRedisBoundedLatency(t *testing.T) {
	s := redistest.Start(t)
	f := newFleet(t, []string{s.Addr}, LimiterOptions{})
	lim := ratelimit.MustLimit(1000, 100)
	nonces := NewNonces(f.conns[0], nil)
	f.drive(200*time.Millisecond, 500*time.Microsecond, []ratelimit.Request{{Key: 1, Limit: lim}})

	nf0 := counterValue(nonceFallback)
	sleeping := make(chan error, 1)
	go func() { _, err := s.Do("DEBUG", "SLEEP", "1"); sleeping <- err }()
	time.Sleep(50 * time.Millisecond) // let the server enter the sleep

	var worstAllow, worstNonce time.Duration
	key := []byte("nonce-xxxxxxxx")
	for i := range 400 {
		// A new key each time: every call queues a refill that Redis
		// cannot answer.
		t0 := time.Now()
		f.lims[0].Allow(ratelimit.Nanotime(), []ratelimit.Request{{Key: uint64(1000 + i), Limit: lim}})
		worstAllow = max(worstAllow, time.Since(t0))
		key[len(key)-1] = byte('a' + i%26)
		key[len(key)-2] = byte('a' + i/26%26)
		t0 = time.Now()
		nonces.Seen(ratelimit.Nanotime(), key, time.Minute)
		worstNonce = max(worstNonce, time.Since(t0))
		time.Sleep(time.Millisecond)
	}
	t.Logf("Redis stalled: slowest Allow %v, slowest nonce check %v (timeout %v), nonce fallbacks %d",
		worstAllow, worstNonce, testTimeout, counterValue(nonceFallback)-nf0)
	if worstAllow >= testTimeout/2 {
		t.Errorf("Allow waited %v for a stalled Redis", worstAllow)
	}
	if worstNonce > testTimeout+30*time.Millisecond {
		t.Errorf("nonce check waited %v, beyond the %v timeout", worstNonce, testTimeout)
	}
	if counterValue(nonceFallback) == nf0 {
		t.Error("no nonce check fell back while Redis was stalled")
	}
	if err := <-sleeping; err != nil {
		t.Fatalf("DEBUG SLEEP: %v", err)
	}
	start := time.Now()
	for !f.conns[0].Healthy() {
		if time.Since(start) > 2*time.Second {
			t.Fatal("breaker still open 2s after Redis answered again")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
