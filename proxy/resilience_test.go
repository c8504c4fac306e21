package proxy

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// threeOriginsConfig is acceptance 1's gateway: three origins, active
// checks every 200ms (rise 2, fall 2), passive ejection at its defaults,
// and RETRY replaced by a retry table or nothing.
const threeOriginsConfig = `
[[backends]]
name = "three"
targets = [{ url = "{{A}}" }, { url = "{{B}}" }, { url = "{{C}}" }]
connect_timeout = "500ms"
[backends.health_check]
path = "/health"
interval = "200ms"
timeout = "150ms"
rise = 2
fall = 2

[[groups]]
name = "g"
[[groups.apis]]
name = "r"
methods = ["GET"]
path = "/r/{rest:*}"
backend = "three"
timeout = "3s"
RETRY
`

const retryTable = `[groups.apis.retry]
attempts = 3
retry_on = ["connect_failure", "reset", "timeout", "status"]
per_try_timeout = "1s"
`

// load sends total GETs from workers at a steady overall rate over d, and
// calls at(i) before request i of worker 0 (the test's clock of events).
// It returns the failures (transport errors and non-200 answers).
func load(g *gateway, workers, total int, d time.Duration, event func(elapsed time.Duration)) (failures int64, first string) {
	var failed atomic.Int64
	var firstErr atomic.Value
	per := total / workers
	gap := d * time.Duration(workers) / time.Duration(total)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			next := start.Add(time.Duration(w) * gap / time.Duration(workers))
			for i := 0; i < per; i++ {
				if wait := time.Until(next); wait > 0 {
					time.Sleep(wait)
				}
				next = next.Add(gap)
				if w == 0 && event != nil {
					event(time.Since(start))
				}
				st, body, err := g.get("/r/x/"+strconv.Itoa(i), nil)
				if err != nil || st != 200 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, strconv.Itoa(st)+" "+string(body)+" "+errString(err))
				}
			}
		}(w)
	}
	wg.Wait()
	if v := firstErr.Load(); v != nil {
		first = v.(string)
	}
	return failed.Load(), first
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Acceptance 1, retries on: 10 000 GETs over 10 s to three origins, one
// killed at 3 s and restarted at 6 s: no client sees an error, and the
// restarted origin gets traffic again within 2 check intervals.
func TestResilienceOriginKilledAndRestartedNoErrorsWithRetries(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s load test")
	}
	a, b, c := newTestOrigin(t), newTestOrigin(t), newTestOrigin(t)
	g := resilienceGateway(t, strings.Replace(threeOriginsConfig, "RETRY", retryTable, 1), Options{}, a.url(), b.url(), c.url())
	const interval = 200 * time.Millisecond
	var killed, restarted atomic.Bool
	var restartedAt atomic.Int64
	back := make(chan time.Duration, 1)
	failures, first := load(g, 8, 10000, 10*time.Second, func(el time.Duration) {
		switch {
		case el > 3*time.Second && !killed.Load():
			killed.Store(true)
			go b.kill()
		case el > 6*time.Second && !restarted.Load():
			restarted.Store(true)
			go func() {
				before := b.requests.Load()
				b.restart()
				restartedAt.Store(time.Now().UnixNano())
				for i := 0; i < 400; i++ {
					if b.requests.Load() > before {
						back <- time.Duration(time.Now().UnixNano() - restartedAt.Load())
						return
					}
					time.Sleep(2 * time.Millisecond)
				}
				back <- -1
			}()
		}
	})
	if failures != 0 {
		t.Fatalf("%d client-visible errors with retries on, want 0 (first: %s)", failures, first)
	}
	d := <-back
	t.Logf("restarted origin got traffic %v after restart (check interval %v); requests a=%d b=%d c=%d",
		d, interval, a.requests.Load(), b.requests.Load(), c.requests.Load())
	// Two passes in a row bring it back: at most two intervals, plus the
	// probe's own round trip and timer slack on a shared machine.
	if d < 0 || d > 2*interval+100*time.Millisecond {
		t.Fatalf("restarted origin got traffic after %v, want within 2 check intervals (%v)", d, 2*interval)
	}
}

// Acceptance 1, retries off: the errors are bounded by the ejection
// threshold. The bound: a request in flight on the origin when it dies is
// lost (nothing retries it); every later request that reaches the dead
// origin fails to connect, which moves on to another target (nothing was
// sent) and counts toward the ejection after 5 in a row. So the errors are
// at most the requests in flight at the kill, which the 4 workers keep
// below consecutive_failures (5).
func TestResilienceOriginKilledErrorsBoundedWithoutRetries(t *testing.T) {
	a, b, c := newTestOrigin(t), newTestOrigin(t), newTestOrigin(t)
	b.delay.Store(int64(2 * time.Millisecond)) // keep requests in flight on b when it dies
	g := resilienceGateway(t, strings.Replace(threeOriginsConfig, "RETRY", "", 1), Options{}, a.url(), b.url(), c.url())
	var killed atomic.Bool
	failures, first := load(g, 4, 3000, 3*time.Second, func(el time.Duration) {
		if el > time.Second && !killed.Load() {
			killed.Store(true)
			go b.kill()
		}
	})
	t.Logf("%d errors without retries (first: %s)", failures, first)
	if failures > 5 {
		t.Fatalf("%d errors without retries, want at most consecutive_failures = 5", failures)
	}
	if tg := g.srv.ups.reg.lookup(b.addr); tg == nil || tg.available(g.srv.ups.now()) {
		t.Fatal("the dead origin is still in rotation")
	}
}

// blackhole returns a loopback address whose listener never accepts and
// whose accept queue is full: a connect to it gets no answer at all.
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)
	// Fill the accept queue: connects complete until it is full, then hang.
	for i := 0; i < 16; i++ {
		c, err := dialTimeout(addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	t.Fatal("the never-accepting listener kept accepting connects")
	return ""
}

// Acceptance 2: a blackholed target costs at most consecutive_failures
// (5) slow requests before it is ejected, not one every other request.
func TestResilienceBlackholedTargetCostsAtMostThresholdSlowRequests(t *testing.T) {
	hole := blackhole(t)
	good := newTestOrigin(t)
	cfg := `
[[backends]]
name = "two"
targets = [{ url = "http://` + hole + `" }, { url = "{{A}}" }]
connect_timeout = "300ms"
[[groups]]
name = "g"
[[groups.apis]]
name = "r"
path = "/r/{rest:*}"
backend = "two"
`
	g := resilienceGateway(t, cfg, Options{}, good.url())
	slow := 0
	for i := 0; i < 40; i++ {
		start := time.Now()
		st, body, err := g.get("/r/"+strconv.Itoa(i), nil)
		if err != nil || st != 200 {
			t.Fatalf("request %d: %d %s %v", i, st, body, err)
		}
		if time.Since(start) >= 250*time.Millisecond {
			slow++
		}
	}
	t.Logf("%d slow requests out of 40", slow)
	if slow == 0 || slow > 5 {
		t.Fatalf("%d slow requests, want 1..5 (consecutive_failures) before the blackholed target is ejected", slow)
	}
	if tg := g.srv.ups.reg.lookup(hole); tg == nil || tg.ejectedUntil.Load() == 0 {
		t.Fatal("the blackholed target was not ejected")
	}
}

// Acceptance 3: every target failing. The attempts stay within 1.2 x the
// client requests: failing requests earn the retry budget nothing, so only
// its starting burst (retryBurst x min_concurrency = 30 attempts) is spent;
// a breaker stops the attempts altogether. Clients get 502 or 503 fast.
func TestResilienceAllTargetsFailingBudgetHolds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breaker string
		slack   int
	}{
		{"budget", "", 0},
		{"budget+breaker", "[backends.breaker]\nmin_requests = 20\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, y, z := refusingAddr(t), refusingAddr(t), refusingAddr(t)
			cfg := `
[[backends]]
name = "dead"
targets = [{ url = "http://` + x + `" }, { url = "http://` + y + `" }, { url = "http://` + z + `" }]
` + tc.breaker + `
[[groups]]
name = "g"
[[groups.apis]]
name = "r"
methods = ["GET"]
path = "/r/{rest:*}"
backend = "dead"
[groups.apis.retry]
attempts = 3
retry_on = ["connect_failure", "reset", "timeout", "status"]
`
			g := resilienceGateway(t, cfg, Options{})
			const workers, per = 8, 500
			var slowest atomic.Int64
			var bad atomic.Int64
			var wg sync.WaitGroup
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < per; i++ {
						start := time.Now()
						st, _, err := g.get("/r/1", nil)
						if err != nil || (st != 502 && st != 503) {
							bad.Add(1)
						}
						if d := int64(time.Since(start)); d > slowest.Load() {
							slowest.Store(d)
						}
					}
				}()
			}
			wg.Wait()
			requests := workers * per
			attempts := g.attemptsTo(x) + g.attemptsTo(y) + g.attemptsTo(z)
			t.Logf("%d requests, %d upstream attempts (%.3f per request), slowest %v",
				requests, attempts, float64(attempts)/float64(requests), time.Duration(slowest.Load()))
			if bad.Load() != 0 {
				t.Fatalf("%d answers were not 502/503", bad.Load())
			}
			if limit := uint64(requests)*12/10 + uint64(tc.slack); attempts > limit {
				t.Fatalf("%d attempts for %d requests, want at most %d", attempts, requests, limit)
			}
			if time.Duration(slowest.Load()) > time.Second {
				t.Fatalf("slowest answer took %v; failing targets must fail fast", time.Duration(slowest.Load()))
			}
		})
	}
}
