package redisstate

import (
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
	testKilledAndRestarted(t, []string{s.Addr}, s.Kill, s.Restart)
}

// TestFleetRedisKilledAndRestartedCluster: the same with every node of a
// Cluster killed and restarted (they keep their nodes.conf, so the
// cluster re-forms with its slots, empty).
func TestFleetRedisKilledAndRestartedCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	testKilledAndRestarted(t, c.Addrs, c.Kill, c.Restart)
}

func testKilledAndRestarted(t *testing.T, addrs []string, kill, restart func()) {
	f := newFleet(t, addrs, LimiterOptions{})
	reqs := []ratelimit.Request{{Key: 0xdead, Limit: ratelimit.MustLimit(1000, 100)}}
	f.drive(time.Second, 500*time.Microsecond, reqs)
	if !f.healthy() {
		t.Fatal("breaker open before the outage")
	}

	fb0 := counterValue(fallbackLocal)
	kill()
	const outage = 2 * time.Second
	admitted, attempts, slowest := f.drive(outage, 500*time.Microsecond, reqs)
	fb := counterValue(fallbackLocal) - fb0
	t.Logf("Redis down %v: attempts %d, admitted per node %v, fallback decisions %d, slowest Allow %v", outage, attempts, admitted, fb, slowest)
	if attempts < 3*2*333*int64(outage.Seconds()) {
		t.Fatalf("offered load too low to test limit/3: %d attempts", attempts)
	}
	if f.healthy() {
		t.Error("breakers still closed with Redis dead")
	}
	if fb == 0 {
		t.Error("fallback counter did not rise")
	}
	if slowest >= 250*time.Millisecond {
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

	restart()
	start := time.Now()
	for !f.healthy() {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("breakers not closed 2s after Redis came back")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("fleet limits back %v after the restart", time.Since(start))
	fb0 = counterValue(fallbackLocal)
	admitted, attempts, _ = f.drive(2*time.Second, 500*time.Microsecond, reqs)
	total := sum(admitted)
	if attempts < 4000 {
		t.Fatalf("offered load too low to test the limit: %d attempts", attempts)
	}
	// The restarted Redis starts with a full bucket, so the burst (100) is
	// allowed on top; tokens still leased when the run stops are not spent.
	t.Logf("after restart, 2s: admitted %d per node %v (want 2000 -5%%..+5%% plus the fresh bucket's burst 100)", total, admitted)
	if float64(total) < 0.95*2000 || float64(total) > 1.05*2000+100 {
		t.Errorf("admitted %d after the restart, want 1900..2200", total)
	}
	if d := counterValue(fallbackLocal) - fb0; d != 0 || !f.healthy() {
		t.Errorf("fell back %d times after recovery; last breaker errors: %v %v %v", d, f.conns[0].LastError(), f.conns[1].LastError(), f.conns[2].LastError())
	}
}

// TestFleetSlowRedisBoundedLatency: Redis stalls (DEBUG SLEEP 2). Allow
// never waits for it at all; a nonce check waits at most the timeout, then
// the breaker opens and nonce checks fall back at once. When Redis answers
// again, the breakers close. The bounds leave room for a loaded test
// machine and still tell a bounded wait from one that lasts the 2 s stall.
func TestFleetSlowRedisBoundedLatency(t *testing.T) {
	s := redistest.Start(t)
	f := newFleet(t, []string{s.Addr}, LimiterOptions{})
	lim := ratelimit.MustLimit(1000, 100)
	nonces := NewNonces(f.conns[0], nil)
	f.drive(200*time.Millisecond, 500*time.Microsecond, []ratelimit.Request{{Key: 1, Limit: lim}})

	nf0 := counterValue(nonceFallback)
	sleeping := make(chan error, 1)
	go func() { _, err := s.Do("DEBUG", "SLEEP", "2"); sleeping <- err }()
	time.Sleep(50 * time.Millisecond) // let the server enter the sleep

	var worstAllow, worstNonce time.Duration
	key := []byte("nonce-xxxxxxxx")
	for i := range 600 {
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
	if worstAllow >= 250*time.Millisecond {
		t.Errorf("Allow waited %v for a stalled Redis", worstAllow)
	}
	if worstNonce > testTimeout+500*time.Millisecond {
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
