package main

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/policy"
	"github.com/sluicegw/sluice/store/redisstate/redistest"
)

// Issue 15 acceptance 1-5: three `sluice run` processes share limits,
// quotas and nonces through one real redis-server, then through a
// three-node Redis Cluster.

const fleetKey = "fleet-test-key-0123456789abcdef"

// redisDeployment is a redistest.Server or a redistest.Cluster.
type redisDeployment interface {
	CommandCalls(names ...string) int64
	Kill()
	Restart()
}

// fleetConfig renders a gateway config sharing state through addrs:
//
//	/rate    consumer limit 1000/s, burst 100            (acceptance 1)
//	/quota   daily quota 5000                             (acceptance 2)
//	/signed  HMAC, nonces in Redis                        (acceptance 3)
//	/outage  consumer limit 300/s, burst 30               (acceptance 4)
func fleetConfig(addrs []string, extra string) configFunc {
	var q []string
	for _, a := range addrs {
		q = append(q, strconv.Quote(a))
	}
	return func(listen, admin string) string {
		return `
[server]
listen = ["` + listen + `"]
admin_listen = "` + admin + `"
[state.redis]
addresses = [` + strings.Join(q, ", ") + `]
fleet_size = 3
# The most the issue allows: the suite runs on a shared, loaded machine,
# where a 10 ms bound trips the breaker on scheduling delays alone.
read_timeout = "20ms"
` + extra + `
[[consumers]]
name = "fleet"
api_keys = ["` + fleetKey + `"]
[[consumers.apps]]
app_key = "` + signAppKey + `"
app_secrets = ["` + signSecret + `"]
[[backends]]
name = "ok"
[backends.mock]
status = 200
body = "ok"
[[groups]]
name = "g"
[[groups.apis]]
name = "rate"
path = "/rate"
backend = "ok"
auth = { modes = ["key"] }
[groups.apis.rate_limit]
consumer = { rate = 1000, burst = 100 }
[[groups.apis]]
name = "quota"
path = "/quota"
backend = "ok"
auth = { modes = ["key"] }
[groups.apis.rate_limit]
quota = { per_day = 5000 }
[[groups.apis]]
name = "signed"
path = "/signed"
backend = "ok"
auth = { modes = ["hmac"] }
[[groups.apis]]
name = "outage"
path = "/outage"
backend = "ok"
auth = { modes = ["key"] }
[groups.apis.rate_limit]
consumer = { rate = 300, burst = 30 }
`
	}
}

// startFleet starts three gateways on addrs.
func startFleet(t *testing.T, addrs []string, extra string) []*gateway {
	t.Helper()
	var nodes []*gateway
	for range 3 {
		nodes = append(nodes, startGateway(t, fleetConfig(addrs, extra)))
	}
	return nodes
}

// driveResult is what a driven load saw.
type driveResult struct {
	status  []map[int]int64 // per node: status -> count
	lat     []time.Duration // every request's latency
	offered int64
}

func (r *driveResult) count(status int) (total int64, perNode []int64) {
	for _, m := range r.status {
		perNode = append(perNode, m[status])
		total += m[status]
	}
	return total, perNode
}

func (r *driveResult) fiveXX() int64 {
	var n int64
	for _, m := range r.status {
		for s, c := range m {
			if s >= 500 || s == 0 {
				n += c
			}
		}
	}
	return n
}

func (r *driveResult) p99() time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	l := slices.Clone(r.lat)
	slices.Sort(l)
	return l[len(l)*99/100]
}

// drive offers rps requests per second to path, spread evenly over nodes
// by four paced workers per node on keep-alive connections, for d. A
// transport error counts as status 0 (and as a 5xx: the client got no
// answer).
func drive(t *testing.T, nodes []*gateway, path string, rps int, d time.Duration, hdr ...string) *driveResult {
	t.Helper()
	const perNode = 4
	res := &driveResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	workers := perNode * len(nodes)
	interval := time.Duration(int64(time.Second) * int64(workers) / int64(rps))
	start := time.Now()
	end := start.Add(d)
	for i, g := range nodes {
		res.status = append(res.status, map[int]int64{})
		tr := &http.Transport{MaxIdleConnsPerHost: perNode, DisableCompression: true}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		url := "http://" + g.listen + path
		for w := range perNode {
			wg.Add(1)
			go func() {
				defer wg.Done()
				local := map[int]int64{}
				var lat []time.Duration
				var n int64
				// Staggered so the workers do not fire together.
				next := start.Add(interval * time.Duration(w) / perNode)
				for {
					now := time.Now()
					if !now.Before(end) {
						break
					}
					if wait := next.Sub(now); wait > 0 {
						time.Sleep(wait)
					}
					next = next.Add(interval)
					req, _ := http.NewRequest(http.MethodGet, url, nil)
					for j := 0; j+1 < len(hdr); j += 2 {
						req.Header.Set(hdr[j], hdr[j+1])
					}
					t0 := time.Now()
					resp, err := c.Do(req)
					status := 0
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						_ = resp.Body.Close()
						status = resp.StatusCode
					}
					lat = append(lat, time.Since(t0))
					local[status]++
					n++
				}
				mu.Lock()
				for s, c := range local {
					res.status[i][s] += c
				}
				res.lat = append(res.lat, lat...)
				res.offered += n
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	return res
}

// metric reads one sample of the gateway's /metrics (exact series name,
// labels included); a missing series reads 0.
func (g *gateway) metric(t *testing.T, series string) float64 {
	t.Helper()
	_, _, body := get(t, "http://"+g.admin+"/metrics")
	for line := range bytes.Lines(body) {
		name, val, ok := strings.Cut(strings.TrimSpace(string(line)), " ")
		if ok && name == series {
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				t.Fatalf("metric %s: %q", series, val)
			}
			return f
		}
	}
	return 0
}

func sumMetric(t *testing.T, nodes []*gateway, series string) float64 {
	var s float64
	for _, g := range nodes {
		s += g.metric(t, series)
	}
	return s
}

func within(got, want int64, frac float64) bool {
	return math.Abs(float64(got-want)) <= frac*float64(want)
}

// fleetDuration is acceptance 1's run length: 20 s with
// SLUICE_FLEET_FULL=1, else 6 s (the machine running the suite is shared;
// the bounds are asserted unchanged, the burst counted in).
func fleetDuration() time.Duration {
	if os.Getenv("SLUICE_FLEET_FULL") == "1" {
		return 20 * time.Second
	}
	return 6 * time.Second
}

// testFleetRate is acceptance 1: a consumer limit of 1000/s (burst 100)
// over three nodes; admitted within ±5 % of 1000*d + burst, under 0.1
// Redis round trips (lease scripts counted by INFO commandstats) per
// admitted request.
func testFleetRate(t *testing.T, nodes []*gateway, rd redisDeployment) {
	d := fleetDuration()
	opens := sumMetric(t, nodes, "sluice_redis_breaker_opens_total")
	before := rd.CommandCalls("evalsha", "eval")
	r := drive(t, nodes, "/rate", 2500, d, "X-Api-Key", fleetKey)
	calls := rd.CommandCalls("evalsha", "eval") - before
	if o := sumMetric(t, nodes, "sluice_redis_breaker_opens_total") - opens; o > 0 {
		t.Logf("the breaker opened %v times during the run (Redis calls over read_timeout)", o)
	}
	admitted, perNode := r.count(200)
	denied, _ := r.count(429)
	want := int64(1000*d.Seconds()) + 100
	t.Logf("acceptance 1 (%v): offered %d, admitted %d per node %v (want %d ±5%%: 1000/s x %v + burst 100), 429 %d, Redis lease round trips %d = %.4f per admitted",
		d, r.offered, admitted, perNode, want, d, denied, calls, float64(calls)/float64(admitted))
	if r.offered < 2*want {
		t.Fatalf("offered load too low to test the limit: %d", r.offered)
	}
	if !within(admitted, want, 0.05) {
		t.Errorf("admitted %d, want %d ±5%%", admitted, want)
	}
	if ratio := float64(calls) / float64(admitted); ratio >= 0.1 {
		t.Errorf("%.3f Redis round trips per admitted request, want < 0.1", ratio)
	}
	if n := r.fiveXX(); n > 0 {
		t.Errorf("%d responses 5xx or failed", n)
	}
	for i, a := range perNode {
		if a == 0 {
			t.Errorf("node %d admitted nothing", i)
		}
	}
}

// testFleetQuota is acceptance 2: a daily quota of 5000 shared by three
// nodes admits 5000 ±1 %; the load runs until every node is refused.
func testFleetQuota(t *testing.T, nodes []*gateway) {
	opens := sumMetric(t, nodes, "sluice_redis_breaker_opens_total")
	var total int64
	perNode := make([]int64, len(nodes))
	// Until three rounds in a row admit nothing: a node may hold the last
	// tokens of a lease while another is already refused.
	for round, empty := 0, 0; round < 60 && empty < 3; round++ {
		r := drive(t, nodes, "/quota", 3000, 300*time.Millisecond, "X-Api-Key", fleetKey)
		a, pn := r.count(200)
		total += a
		for i := range pn {
			perNode[i] += pn[i]
		}
		if n := r.fiveXX(); n > 0 {
			t.Fatalf("%d responses 5xx or failed", n)
		}
		if a == 0 && total > 0 {
			empty++
		} else {
			empty = 0
		}
	}
	t.Logf("acceptance 2: daily quota 5000 over three nodes admitted %d, per node %v; breaker openings %v",
		total, perNode, sumMetric(t, nodes, "sluice_redis_breaker_opens_total")-opens)
	if !within(total, 5000, 0.01) {
		t.Errorf("admitted %d, want 5000 ±1%%", total)
	}
}

// testFleetReplay is acceptance 3: a signed request accepted by one node
// is refused as a replay by another.
func testFleetReplay(t *testing.T, nodes []*gateway) {
	t.Setenv("SLUICE_FLEET_TEST_SECRET", signSecret)
	out, errOut, code := runSign("-key", signAppKey, "-secret-env", "SLUICE_FLEET_TEST_SECRET",
		"-url", "http://"+nodes[0].listen+"/signed", "-headers")
	if code != 0 {
		t.Fatalf("sign: %d %s", code, errOut)
	}
	var hdr []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, value, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("not a header line: %q", line)
		}
		if !strings.EqualFold(name, "Host") { // each node is asked under its own address
			hdr = append(hdr, name, value)
		}
	}
	if status, _, body := get(t, "http://"+nodes[0].listen+"/signed", hdr...); status != 200 {
		t.Fatalf("first use on node 0: %d %s", status, body)
	}
	for i := 1; i < 3; i++ {
		status, _, b := get(t, "http://"+nodes[i].listen+"/signed", hdr...)
		body := string(b)
		t.Logf("acceptance 3: replayed to node %d: %d %s", i, status, strings.TrimSpace(body))
		if status != http.StatusUnauthorized || !strings.Contains(strings.ToLower(body), "replay") {
			t.Errorf("replay to node %d: %d %s, want 401 naming the replay", i, status, body)
		}
	}
	if fb := sumMetric(t, nodes, "sluice_redis_nonce_fallback_total"); fb != 0 {
		t.Errorf("nonce checks fell back %v times with Redis up", fb)
	}
}

// testFleetOutage is acceptance 4: Redis killed mid-run, then restarted;
// then stalled with DEBUG SLEEP.
func testFleetOutage(t *testing.T, nodes []*gateway, rd redisDeployment, stall func(time.Duration)) {
	const rate, burst, n = 300, 30, 3
	// Fleet limits in force first.
	warm := drive(t, nodes, "/outage", 900, time.Second, "X-Api-Key", fleetKey)
	if x := warm.fiveXX(); x > 0 {
		t.Fatalf("%d 5xx before the outage", x)
	}
	fb0 := sumMetric(t, nodes, `sluice_redis_fallback_decisions_total{policy="local"}`)

	rd.Kill()
	const outage = 3 * time.Second
	r := drive(t, nodes, "/outage", 900, outage, "X-Api-Key", fleetKey)
	fb1 := sumMetric(t, nodes, `sluice_redis_fallback_decisions_total{policy="local"}`)
	admitted, perNode := r.count(200)
	// limit/N per node: rate/N per second plus burst/N, plus what was left
	// of the node's lease when Redis died (at most 1.5 batches of burst/N).
	wantNode := int64(rate/n*outage.Seconds()) + burst/n
	t.Logf("acceptance 4, Redis killed: offered %d, admitted %d per node %v (want about %d each: %d/s/%d x %v + burst/%d), 5xx %d, fallback decisions %v -> %v",
		r.offered, admitted, perNode, wantNode, rate, n, outage, n, r.fiveXX(), fb0, fb1)
	if x := r.fiveXX(); x > 0 {
		t.Errorf("%d responses 5xx or failed while Redis was down", x)
	}
	if fb1 <= fb0 {
		t.Errorf("fallback counter did not rise: %v -> %v", fb0, fb1)
	}
	for i, a := range perNode {
		if a < wantNode*9/10 || a > wantNode*11/10+burst/n*3/2 {
			t.Errorf("node %d admitted %d in the outage, want about %d (limit/N)", i, a, wantNode)
		}
	}
	for i, g := range nodes {
		if st, _, _ := get(t, "http://"+g.admin+"/readyz"); st != 200 {
			t.Errorf("node %d /readyz %d in fallback, want 200 (readyz_in_fallback defaults to true)", i, st)
		}
	}

	rd.Restart()
	t0 := time.Now()
	for {
		if sumMetric(t, nodes, "sluice_redis_breaker_open") == 0 {
			break
		}
		if time.Since(t0) > 2*time.Second {
			t.Fatalf("fleet limits not back within 2 s of the restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
	back := time.Since(t0)
	// The load goes on; from 2 s after the restart the fleet limit must be
	// the one in force. The load then goes to node 0 alone, which tells the
	// two apart: the fleet limit lets it admit the whole 300/s, the local
	// fallback only 100/s. The bucket is drained by the load, so no burst.
	settle := drive(t, nodes, "/outage", 900, 2*time.Second-time.Since(t0), "X-Api-Key", fleetKey)
	fb2 := sumMetric(t, nodes, `sluice_redis_fallback_decisions_total{policy="local"}`)
	const after = 4 * time.Second
	r = drive(t, nodes[:1], "/outage", 900, after, "X-Api-Key", fleetKey)
	fb3 := sumMetric(t, nodes, `sluice_redis_fallback_decisions_total{policy="local"}`)
	admitted, perNode = r.count(200)
	want := int64(rate * after.Seconds())
	t.Logf("acceptance 4, Redis restarted: every breaker closed %v after the restart (breaker openings so far %v); from 2 s after it: admitted %d per node %v (want %d ±5%%), fallback decisions %v -> %v",
		back.Round(time.Millisecond), sumMetric(t, nodes, "sluice_redis_breaker_opens_total"), admitted, perNode, want, fb2, fb3)
	if x := settle.fiveXX(); x > 0 {
		t.Errorf("%d responses 5xx right after the restart", x)
	}
	if !within(admitted, want, 0.05) {
		t.Errorf("after the restart admitted %d, want %d ±5%% (the fleet limit)", admitted, want)
	}
	// A call slower than read_timeout (a loaded machine) may open the
	// breaker for a probe interval at any time; more than 1 % of the
	// requests in fallback means Redis was not back in use.
	if fb3-fb2 > float64(r.offered)/100 {
		t.Errorf("fallback decisions still rising after the restart: %v -> %v", fb2, fb3)
	}
	if x := r.fiveXX(); x > 0 {
		t.Errorf("%d responses 5xx after the restart", x)
	}

	// Redis answering slowly: the limit path never waits for it. Slices
	// with Redis normal and Redis asleep (DEBUG SLEEP, shorter than the
	// Cluster's node timeout) alternate, so that the load other processes
	// put on a shared machine falls on both samples alike.
	base, slow := &driveResult{}, &driveResult{}
	var seen, cpuBase, cpuSlow float64 // gateway CPU seconds, for the log
	for range 4 {
		c0 := sumMetric(t, nodes, "process_cpu_seconds_total")
		r := drive(t, nodes, "/outage", 300, time.Second, "X-Api-Key", fleetKey)
		base.lat = append(base.lat, r.lat...)
		base.status = append(base.status, r.status...)
		fb := sumMetric(t, nodes, `sluice_redis_fallback_decisions_total{policy="local"}`)
		c1 := sumMetric(t, nodes, "process_cpu_seconds_total")
		cpuBase += c1 - c0
		done := make(chan struct{})
		go func() { defer close(done); stall(1200 * time.Millisecond) }()
		time.Sleep(20 * time.Millisecond)
		c2 := sumMetric(t, nodes, "process_cpu_seconds_total")
		r = drive(t, nodes, "/outage", 300, time.Second, "X-Api-Key", fleetKey)
		slow.lat = append(slow.lat, r.lat...)
		slow.status = append(slow.status, r.status...)
		seen += sumMetric(t, nodes, `sluice_redis_fallback_decisions_total{policy="local"}`) - fb
		cpuSlow += sumMetric(t, nodes, "process_cpu_seconds_total") - c2
		<-done
		time.Sleep(300 * time.Millisecond) // the breaker closes again
	}
	if seen == 0 {
		t.Errorf("no fallback decision while Redis slept: the stall was not seen")
	}
	const readTimeout = 20 * time.Millisecond // as configured
	t.Logf("acceptance 4, Redis stalled by DEBUG SLEEP: p99 %v with Redis normal, %v while it slept (bound: + read_timeout %v), %d requests each; fallback decisions while asleep %v; 5xx %d; gateways' CPU %.2fs normal, %.2fs asleep",
		base.p99(), slow.p99(), readTimeout, len(base.lat), seen, slow.fiveXX(), cpuBase, cpuSlow)
	if slow.p99() > base.p99()+readTimeout {
		t.Errorf("p99 grew from %v to %v, more than the Redis timeout %v", base.p99(), slow.p99(), readTimeout)
	}
	if x := slow.fiveXX() + base.fiveXX(); x > 0 {
		t.Errorf("%d responses 5xx with Redis stalled", x)
	}
}

func TestFleetStandalone(t *testing.T) {
	rs := redistest.Start(t)
	nodes := startFleet(t, []string{rs.Addr}, "")
	t.Run("Rate", func(t *testing.T) { testFleetRate(t, nodes, rs) })
	t.Run("Quota", func(t *testing.T) { testFleetQuota(t, nodes) })
	t.Run("Replay", func(t *testing.T) { testFleetReplay(t, nodes) })
	t.Run("Outage", func(t *testing.T) {
		testFleetOutage(t, nodes, rs, func(d time.Duration) {
			_, _ = rs.Do("DEBUG", "SLEEP", strconv.FormatFloat(d.Seconds(), 'f', 3, 64))
		})
	})
}

// TestFleetCluster is acceptance 5: the same against a three-node Cluster.
func TestFleetCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	nodes := startFleet(t, c.Addrs, "")
	t.Run("Rate", func(t *testing.T) { testFleetRate(t, nodes, c) })
	t.Run("Quota", func(t *testing.T) { testFleetQuota(t, nodes) })
	t.Run("Replay", func(t *testing.T) { testFleetReplay(t, nodes) })
	t.Run("OneSlotPerCaller", func(t *testing.T) {
		// Every limit key carries its caller's hash tag, and all keys of a
		// tag live on one node (KEYS lists only the node's own keys).
		owner := map[string]string{}
		n := 0
		for _, srv := range c.Servers {
			out, err := srv.Do("KEYS", "sluice:*")
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range strings.Fields(out) {
				if strings.HasPrefix(k, "sluice:n:") {
					continue // a nonce: one key per signature
				}
				i, j := strings.IndexByte(k, '{'), strings.IndexByte(k, '}')
				if i < 0 || j < i {
					t.Errorf("key %q has no hash tag", k)
					continue
				}
				tag := k[i : j+1]
				if o, ok := owner[tag]; ok && o != srv.Addr {
					t.Errorf("keys of %s on %s and %s", tag, o, srv.Addr)
				}
				owner[tag] = srv.Addr
				n++
			}
		}
		t.Logf("%d limit keys, %d callers, each caller's keys on one node", n, len(owner))
		if n == 0 {
			t.Fatal("no limit keys in the Cluster")
		}
	})
	t.Run("Outage", func(t *testing.T) {
		testFleetOutage(t, nodes, c, func(d time.Duration) {
			var wg sync.WaitGroup
			for _, s := range c.Servers {
				wg.Go(func() { _, _ = s.Do("DEBUG", "SLEEP", strconv.FormatFloat(d.Seconds(), 'f', 3, 64)) })
			}
			wg.Wait()
		})
	})
}

// TestFleetReadyzInFallback: with readyz_in_fallback = false a node that
// lost Redis reports not ready, and ready again once Redis is back.
func TestFleetReadyzInFallback(t *testing.T) {
	rs := redistest.Start(t)
	g := startGateway(t, fleetConfig([]string{rs.Addr}, "readyz_in_fallback = false"))
	rs.Kill()
	// The breaker opens on the first failed call: a request that needs a
	// refill makes one.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, _ = get(t, "http://"+g.listen+"/rate", "X-Api-Key", fleetKey)
		if st, _, _ := get(t, "http://"+g.admin+"/readyz"); st == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz still 200 5 s after Redis was killed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	rs.Restart()
	if err := g.waitReady(3 * time.Second); err != nil {
		t.Fatalf("not ready again after Redis came back: %v", err)
	}
}

// TestFleetExample checks configs/examples/fleet.toml against issue 15,
// acceptance 7 (plain HTTP on 127.0.0.1:8080, admin 127.0.0.1:9901, Redis
// at 127.0.0.1:6390, consumer key example-fleet-key-0123456789, a fleet-wide
// consumer limit of 50/s burst 50 on a mock API /limited), then runs it
// with three nodes on free ports against a real Redis: a burst of 150
// requests spread over the fleet admits the 50 of the shared bucket, not
// 50 per node.
func TestFleetExample(t *testing.T) {
	const file = "../../configs/examples/fleet.toml"
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse(file, raw)
	if err != nil {
		t.Fatal(err)
	}
	r, err := policy.CompileState(p)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := policy.Compile(p, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.Server.Listen; len(got) != 1 || got[0] != "127.0.0.1:8080" {
		t.Errorf("listen %v, want [127.0.0.1:8080]", got)
	}
	if snap.Server.AdminListen != "127.0.0.1:9901" {
		t.Errorf("admin_listen %q", snap.Server.AdminListen)
	}
	if r == nil || len(r.Addrs) != 1 || r.Addrs[0] != "127.0.0.1:6390" || !r.Consumer || r.TLS != nil {
		t.Fatalf("[state.redis]: %+v, want plain 127.0.0.1:6390 with the consumer scope fleet-wide", r)
	}
	if p.Config.Server.Listen[0] != "127.0.0.1:8080" || len(p.Config.Consumers) != 1 ||
		!slices.Equal(p.Config.Consumers[0].APIKeys, []string{"example-fleet-key-0123456789"}) {
		t.Errorf("consumers: %+v", p.Config.Consumers)
	}
	var found bool
	for _, a := range snap.APIs {
		if a.Path != "/limited" {
			continue
		}
		found = true
		if a.Backend == nil || a.Backend.Mock == nil {
			t.Errorf("/limited (%s): not a mock backend", a.Stage)
		}
		if a.Throttle == nil || a.Throttle.Consumer == nil || a.Throttle.Consumer.Rate != 50 || a.Throttle.Consumer.Burst != 50 ||
			a.Throttle.API != nil || a.Throttle.ClientIP != nil || len(a.Throttle.Quotas) != 0 {
			t.Errorf("/limited (%s): throttle %+v, want only a consumer limit of 50/s burst 50", a.Stage, a.Throttle)
		}
	}
	if !found {
		t.Fatal("no API at /limited")
	}

	// Run it: the same file with its addresses moved to free ports.
	rs := redistest.Start(t)
	var nodes []*gateway
	for range 3 {
		nodes = append(nodes, startGateway(t, func(listen, admin string) string {
			s := strings.ReplaceAll(string(raw), "127.0.0.1:8080", listen)
			s = strings.ReplaceAll(s, "127.0.0.1:9901", admin)
			return strings.ReplaceAll(s, "127.0.0.1:6390", rs.Addr)
		}))
	}
	// One request per node loads the lease script and opens the leases;
	// a second later the bucket is full again. Then 150 requests within
	// 100ms spread over the fleet may admit the shared bucket's 50, the
	// 50/s refill and a request per node on credit: far from the 150 that
	// a bucket per node would admit. A Redis call slower than read_timeout
	// (a loaded machine) opens a breaker and puts that node on its local
	// fallback for a moment, which admits by other rules: the upper bound
	// holds for every round, the lower one is judged on a round without
	// fallback decisions, and up to three rounds are tried to get one.
	for _, g := range nodes {
		get(t, "http://"+g.listen+"/limited", "X-Api-Key", "example-fleet-key-0123456789")
	}
	judged := false
	for round := 1; round <= 3 && !judged; round++ {
		time.Sleep(1100 * time.Millisecond)
		fb := sumMetric(t, nodes, `sluice_redis_fallback_decisions_total{policy="local"}`)
		res := drive(t, nodes, "/limited", 1500, 100*time.Millisecond, "X-Api-Key", "example-fleet-key-0123456789")
		admitted, perNode := res.count(200)
		fallbacks := sumMetric(t, nodes, `sluice_redis_fallback_decisions_total{policy="local"}`) - fb
		t.Logf("fleet.toml, three nodes, round %d: offered %d in 100ms, admitted %d per node %v; fallback decisions %v",
			round, res.offered, admitted, perNode, fallbacks)
		if admitted > 75 {
			t.Errorf("admitted %d, want 50 (the fleet-wide burst) + the 50/s refill + at most 1 per node on credit, far from 150", admitted)
		}
		if x := res.fiveXX(); x > 0 {
			t.Errorf("%d 5xx", x)
		}
		if fallbacks > 0 {
			continue
		}
		judged = true
		if admitted < 50 {
			t.Errorf("admitted %d, want at least the fleet-wide burst of 50", admitted)
		}
	}
	if !judged {
		t.Errorf("every round had fallback decisions: Redis calls kept exceeding read_timeout")
	}
	if st, _, _ := get(t, "http://"+nodes[0].listen+"/limited"); st != http.StatusUnauthorized {
		t.Errorf("without the key: %d, want 401", st)
	}
}

// TestFleetRunReportsEveryError: a bad [state.redis] stops `sluice run`
// before it builds any store, with every mistake of the file positioned,
// not only the [state] ones.
func TestFleetRunReportsEveryError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	writeFile(t, path, `
[state.redis]
addresses = ["127.0.0.1:6390"]
fallback = "maybe"

[server]
read_timeout = "1ns"
`)
	_, stderr, code := runSluice(t, "run", "-config", path)
	for _, want := range []string{path + ":2:8: state.redis.fleet_size", path + ":4:1: state.redis.fallback", path + ":7:1: server.read_timeout"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
}
