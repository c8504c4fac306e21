package proxy

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/policy"
	"github.com/valyala/fasthttp"
)

// keyedExchange is an exchange whose X-Key header is the hash key.
func keyedExchange(key string) *policy.Exchange {
	x := &policy.Exchange{Req: &fasthttp.Request{}}
	x.Req.Header.Set("X-Key", key)
	return x
}

var headerKey = policy.HashKey{Source: policy.HashHeader, Name: "X-Key", NameB: []byte("X-Key")}

// Acceptance 5: 10 000 keys over 5 targets, one removed: at most 25 % of
// keys move (ideal: the removed target's 20 %), for both hashing policies.
func TestConsistentHashRemovingOneOfFiveMovesFewKeys(t *testing.T) {
	addrs := []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80", "10.0.0.5:80"}
	fewer := []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.4:80", "10.0.0.5:80"}
	ones := func(n int) []int {
		w := make([]int, n)
		for i := range w {
			w[i] = 1
		}
		return w
	}
	for name, build := range map[string]func(w []int, a []string) balancer{
		"maglev":    func(w []int, a []string) balancer { return newMaglev(w, a, headerKey) },
		"ring_hash": func(w []int, a []string) balancer { return newRing(w, a, headerKey) },
	} {
		t.Run(name, func(t *testing.T) {
			before, after := build(ones(5), addrs), build(ones(4), fewer)
			moved := 0
			share := map[string]int{}
			for i := 0; i < 10000; i++ {
				x := keyedExchange("user-" + strconv.Itoa(i))
				a, b := addrs[before.pick(x)], fewer[after.pick(x)]
				if a != b {
					moved++
				}
				if before.pick(x) != before.pick(x) {
					t.Fatal("the same key went to two targets")
				}
				share[a]++
			}
			t.Logf("%s: %.1f %% of keys moved; shares before %v", name, float64(moved)/100, share)
			if moved > 2500 {
				t.Fatalf("%d of 10000 keys moved, want at most 25 %%", moved)
			}
			for a, n := range share {
				if n < 1200 || n > 2800 {
					t.Fatalf("target %s got %d of 10000 keys, want about 2000", a, n)
				}
			}
		})
	}
}

// Acceptance 5: each policy's distribution, weights 3:1.
func TestBalancerDistributionPerPolicy(t *testing.T) {
	weights := []int{3, 1}
	addrs := []string{"10.0.0.1:80", "10.0.0.2:80"}
	targets := []*target{{addr: addrs[0]}, {addr: addrs[1]}}
	for _, tc := range []struct {
		name string
		b    balancer
		tol  int // per mille around 750
	}{
		{"round_robin", newSWRR(weights), 0},
		{"random", newRandom(weights), 20},
		{"least_request", newP2C(weights, targets), 20},
		{"maglev", newMaglev(weights, addrs, headerKey), 30},
		{"ring_hash", newRing(weights, addrs, headerKey), 50},
	} {
		n := 20000
		first := 0
		for i := 0; i < n; i++ {
			if tc.b.pick(keyedExchange("k"+strconv.Itoa(i))) == 0 {
				first++
			}
		}
		pm := first * 1000 / n
		t.Logf("%s: %d.%d %% to the weight-3 target", tc.name, pm/10, pm%10)
		if pm < 750-tc.tol || pm > 750+tc.tol {
			t.Errorf("%s: %d per mille to the weight-3 target, want 750 ± %d", tc.name, pm, tc.tol)
		}
	}
}

// A hashing policy without its key spreads requests at random instead of
// sending them all to one target.
func TestHashWithoutKeySpreads(t *testing.T) {
	b := newMaglev([]int{1, 1}, []string{"a:1", "b:1"}, headerKey)
	n0 := 0
	for i := 0; i < 2000; i++ {
		if b.pick(&policy.Exchange{Req: &fasthttp.Request{}}) == 0 {
			n0++
		}
	}
	if n0 < 800 || n0 > 1200 {
		t.Fatalf("%d of 2000 keyless requests to one target, want about half", n0)
	}
}

// Acceptance 5: least-request (P2C) under skewed latency sends less to the
// slow target; round-robin, on the same origins, sends it half.
func TestP2CSendsLessToSlowTarget(t *testing.T) {
	fast, slow := newTestOrigin(t), newTestOrigin(t)
	slow.delay.Store(int64(20 * time.Millisecond))
	cfg := `
[[backends]]
name = "skewed"
targets = [{ url = "{{A}}" }, { url = "{{B}}" }]
[backends.balance]
policy = "least_request"
[[groups]]
name = "g"
[[groups.apis]]
name = "r"
path = "/r/{rest:*}"
backend = "skewed"
`
	g := resilienceGateway(t, cfg, Options{}, fast.url(), slow.url())
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				if st, _, err := g.get("/r/1", nil); err != nil || st != 200 {
					t.Errorf("status %d %v", st, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	f, s := fast.requests.Load(), slow.requests.Load()
	t.Logf("fast %d, slow %d", f, s)
	if s*100/(f+s) >= 35 {
		t.Fatalf("the slow target got %d of %d requests, want clearly under half", s, f+s)
	}
}

// Slow start: a target that just came back takes a small share first.
func TestSlowStartRampsShare(t *testing.T) {
	now := int64(1e18)
	tg := &target{addr: "a:1"}
	c := &chain{res: &policy.Resilience{Balance: policy.Balance{SlowStart: 10 * time.Second}}}
	tg.lastEjectEnd.Store(now)
	count := func(at int64) int {
		n := 0
		for i := 0; i < 10000; i++ {
			if c.admitSlow(tg, at) {
				n++
			}
		}
		return n
	}
	early, mid, late := count(now+int64(time.Second)), count(now+int64(5*time.Second)), count(now+int64(11*time.Second))
	t.Logf("admitted per 10000: 1s %d, 5s %d, 11s %d", early, mid, late)
	if early > 1500 || mid < 4000 || mid > 6000 || late != 10000 {
		t.Fatalf("slow start shares 1s %d, 5s %d, 11s %d; want about 10 %%, 50 %%, 100 %%", early, mid, late)
	}
}
