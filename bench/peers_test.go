package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// requireExternal skips when an external binary is missing, unless CI
// demands every external test run.
func requireExternal(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("SLUICE_REQUIRE_EXTERNAL") == "1" {
		t.Fatalf("SLUICE_REQUIRE_EXTERNAL=1: %v", err)
	}
	t.Skip(err)
}

// peerJobs are the jobs the peer tests render: plain, logging, full chain.
func peerJobs(t testing.TB) map[string]PeerJob {
	sc, err := ScenarioByName("full-chain")
	if err != nil {
		t.Fatal(err)
	}
	full := sc.PeerJob()
	if !full.AccessLog || full.APIKey == "" || full.KeyHeader != "X-Api-Key" || full.Limits == nil {
		t.Fatalf("full-chain peer job %+v", full)
	}
	return map[string]PeerJob{"plain": {}, "log": {AccessLog: true}, "full-chain": full}
}

func TestPeerConfigsRender(t *testing.T) {
	for _, pe := range Peers {
		for jobName, job := range peerJobs(t) {
			dir := t.TempDir()
			p, err := NewPeerParams("127.0.0.1:18080", "127.0.0.1:18081", dir, job)
			if err != nil {
				t.Fatal(err)
			}
			conf, err := pe.Render(p)
			if err != nil {
				t.Fatal(err)
			}
			s := string(conf)
			if !containsAll(s, "127.0.0.1:18081", dir, "/anon") || strings.Contains(s, "<no value>") {
				t.Errorf("%s: config lacks basics:\n%s", pe.Name, s)
			}
			var must, mustNot []string
			key := job.APIKey
			switch pe.Name {
			case "nginx":
				must = []string{"worker_processes 1;", "daemon off;", "keepalive 64;", "proxy_http_version 1.1;",
					`proxy_set_header Connection "";`, "proxy_pass http://origin/;", "listen 127.0.0.1:18080", "pid " + dir}
				if job.AccessLog {
					must = append(must, "access_log "+dir+"/nginx-access.log")
				} else {
					must = append(must, "access_log off;")
				}
				if key != "" {
					must = append(must, `if ($http_x_api_key != "`+key+`") {`, "return 401;")
				} else {
					mustNot = append(mustNot, "return 401")
				}
				if job.Limits != nil {
					must = append(must, "limit_req_zone $binary_remote_addr zone=bench_ip:10m rate=10000000r/s;",
						"limit_req_zone $http_x_api_key zone=bench_key", `limit_req_zone "bench-api" zone=bench_api`,
						"limit_req zone=bench_ip burst=10000000 nodelay;", "limit_req zone=bench_key", "limit_req zone=bench_api",
						"limit_req_status 429;")
				} else {
					mustNot = append(mustNot, "limit_req")
				}
			case "haproxy":
				must = []string{"nbthread 1", "http-reuse always", "option http-keep-alive", "bind 127.0.0.1:18080",
					"server origin1 127.0.0.1:18081"}
				if job.AccessLog {
					must = append(must, "option httplog")
				} else {
					mustNot = append(mustNot, "httplog")
				}
				if key != "" {
					must = append(must, "http-request deny deny_status 401 unless { req.hdr(X-Api-Key) -m str "+key+" }")
				} else {
					mustNot = append(mustNot, "deny_status 401")
				}
				if job.Limits != nil {
					must = append(must, "track-sc0 src table bench_ip", "track-sc1 req.hdr(X-Api-Key) table bench_key",
						"track-sc2 str(bench-api) table bench_api", "sc_http_req_rate(0) gt 10000000",
						"sc_http_req_rate(1) gt 10000000", "sc_http_req_rate(2) gt 10000000", "store http_req_rate(1s)")
				} else {
					mustNot = append(mustNot, "stick-table", "track-sc")
				}
			case "caddy":
				must = []string{"reverse_proxy 127.0.0.1:18081", "http://:18080", "bind 127.0.0.1", "admin off", "handle_path /anon/*"}
				if job.AccessLog {
					must = append(must, "caddy-access.log")
				}
				if key != "" {
					must = append(must, "@nokey not header X-Api-Key "+key, "respond @nokey 401")
				}
				if job.Limits != nil {
					must = append(must, "No rate limits")
				}
				mustNot = append(mustNot, "rate_limit")
			}
			if !containsAll(s, must...) {
				t.Errorf("%s (%s): want %q in\n%s", pe.Name, jobName, must, s)
			}
			for _, no := range mustNot {
				if strings.Contains(s, no) {
					t.Errorf("%s (%s): %q in\n%s", pe.Name, jobName, no, s)
				}
			}
			path, err := pe.WriteConfig(p)
			if err != nil || filepath.Dir(path) != dir {
				t.Errorf("%s: write %s %v", pe.Name, path, err)
			}
		}
	}
	if pe, ok := PeerByName("caddy"); !ok || pe.env[0] != "GOMAXPROCS=1" {
		t.Error("caddy must run with GOMAXPROCS=1")
	}
	if _, err := NewPeerParams("10.0.0.1:80", "127.0.0.1:1", t.TempDir(), PeerJob{}); err == nil {
		t.Error("non-loopback peer listen accepted")
	}
	for _, bad := range []PeerJob{
		{APIKey: `k"; return 200; #`},
		{APIKey: "k", KeyHeader: "X-Api Key"},
		{APIKey: "k e y"},
		{Limits: &PeerLimits{ClientIP: PeerRate{Rate: 0}, Key: PeerRate{Rate: 1}, API: PeerRate{Rate: 1}}},
		{Limits: &PeerLimits{ClientIP: PeerRate{Rate: 1, Burst: -1}, Key: PeerRate{Rate: 1}, API: PeerRate{Rate: 1}}},
	} {
		if _, err := NewPeerParams("127.0.0.1:18080", "127.0.0.1:1", t.TempDir(), bad); err == nil {
			t.Errorf("job %+v accepted", bad)
		}
	}
}

// TestPeerConfigsValidate runs each peer's own config checker on every job.
func TestPeerConfigsValidate(t *testing.T) {
	for _, pe := range Peers {
		t.Run(pe.Name, func(t *testing.T) {
			bin, err := pe.Lookup()
			requireExternal(t, err)
			for jobName, job := range peerJobs(t) {
				p, err := NewPeerParams("127.0.0.1:18080", "127.0.0.1:18081", t.TempDir(), job)
				if err != nil {
					t.Fatal(err)
				}
				conf, err := pe.WriteConfig(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := pe.Check(bin, conf, p); err != nil {
					t.Errorf("%s: %v", jobName, err)
				}
			}
		})
	}
}

// startPeerForTest writes pe's config for job and starts it in front of o.
func startPeerForTest(t *testing.T, pe Peer, o Origin, job PeerJob) (*Proc, PeerParams) {
	t.Helper()
	bin, err := pe.Lookup()
	requireExternal(t, err)
	listen, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPeerParams(listen, o.Addr(), t.TempDir(), job)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := pe.WriteConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	proc, err := StartProc(context.Background(), pe.Spec(bin, conf, p), PlanCPUs(mustCPUs(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Stop() })
	return proc, p
}

// peerAccessLog is where a peer's access log lands in its directory.
func peerAccessLog(pe Peer, dir string) string {
	switch pe.Name {
	case "nginx":
		return filepath.Join(dir, "nginx-access.log")
	case "haproxy":
		return filepath.Join(dir, "haproxy.stdout.log")
	}
	return filepath.Join(dir, "caddy-access.log")
}

// statusOf sends one GET with headers and returns the status.
func statusOf(t *testing.T, addr, uri string, headers ...Header) int {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + uri)
	for _, h := range headers {
		req.Header.Set(h.Name, h.Value)
	}
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode()
}

// TestPeersProxy starts each installed peer in front of a test origin, once
// as a logging proxy and once with the full-chain job, and pushes 2 000
// requests through each, with the /proc readers on its tree. The full-chain
// peers must refuse a missing or wrong key with 401 and log every request.
func TestPeersProxy(t *testing.T) {
	o := startTestOrigin(t, 0)
	jobs := peerJobs(t)
	for _, pe := range Peers {
		for _, jobName := range []string{"log", "full-chain"} {
			job := jobs[jobName]
			t.Run(pe.Name+"/"+jobName, func(t *testing.T) {
				proc, p := startPeerForTest(t, pe, o, job)
				cfg := LoadConfig{Addr: p.Listen, Paths: []string{"/anon/item?size=1000"},
					Duration: 5 * time.Second, MaxRequests: 2000, Connections: 8, ExpectBodyBytes: 1000}
				if job.APIKey != "" {
					cfg.Headers = []Header{{Name: job.KeyHeader, Value: job.APIKey}}
					if c := statusOf(t, p.Listen, "/anon/item?size=10"); c != 401 {
						t.Errorf("no key: status %d, want 401", c)
					}
					for _, bad := range []string{job.APIKey + "x", strings.ToUpper(job.APIKey), job.APIKey[1:]} {
						if c := statusOf(t, p.Listen, "/anon/item?size=10", Header{Name: job.KeyHeader, Value: bad}); c != 401 {
							t.Errorf("wrong key %q: status %d, want 401", bad, c)
						}
					}
				}
				before := o.Requests()
				cpu0, err := SampleCPU(proc.PID())
				if err != nil {
					t.Fatal(err)
				}
				res, err := RunLoad(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				if res.Completed != 2000 || res.Errors != 0 {
					t.Fatalf("completed %d errors %d %v %v", res.Completed, res.Errors, res.ErrorKinds, res.Status)
				}
				if got := o.Requests() - before; got != 2000 {
					t.Errorf("origin saw %d requests, want 2000", got)
				}
				cpu1, _ := SampleCPU(proc.PID())
				mem, _ := SampleMem(proc.PID())
				if cpu1.Since(cpu0) <= 0 || mem.PeakRSS <= 0 {
					t.Errorf("cpu %v mem %+v", cpu1.Since(cpu0), mem)
				}
				proc.Stop() // flushes buffered log lines
				if proc.Alive() {
					t.Error("still alive after Stop")
				}
				b, err := os.ReadFile(peerAccessLog(pe, p.Dir))
				if lines := strings.Count(string(b), "\n"); err != nil || lines < 2000 {
					t.Errorf("access log: %d lines (%v), want >= 2000", lines, err)
				}
			})
		}
	}
}

// TestPeerRateLimitsBite proves each of the three peer limits is live: with
// one set to 5 requests/s (no burst) and the others far above, a burst of
// requests gets 429s. Caddy has no limiter and is not tested.
func TestPeerRateLimitsBite(t *testing.T) {
	o := startTestOrigin(t, 0)
	full := peerJobs(t)["full-chain"]
	high := PeerRate{Rate: 10000000, Burst: 10000000}
	low := PeerRate{Rate: 5}
	for _, pe := range Peers {
		if pe.Name == "caddy" {
			continue
		}
		for _, which := range []string{"client-ip", "key", "api"} {
			t.Run(pe.Name+"/"+which, func(t *testing.T) {
				t.Parallel()
				lim := PeerLimits{ClientIP: high, Key: high, API: high}
				switch which {
				case "client-ip":
					lim.ClientIP = low
				case "key":
					lim.Key = low
				default:
					lim.API = low
				}
				job := full
				job.AccessLog = false
				job.Limits = &lim
				_, p := startPeerForTest(t, pe, o, job)
				res, err := RunLoad(context.Background(), LoadConfig{Addr: p.Listen, Paths: []string{"/anon/item?size=10"},
					Headers: []Header{{Name: job.KeyHeader, Value: job.APIKey}}, Duration: 5 * time.Second,
					MaxRequests: 100, Connections: 4})
				if err != nil {
					t.Fatal(err)
				}
				if res.Status["429"] < 50 {
					t.Errorf("statuses %v: want mostly 429", res.Status)
				}
				// A rate, not a blanket deny: after a pause requests pass
				// again. HAProxy's counter slides over the previous second
				// too, and counts denied requests, so it needs two.
				time.Sleep(2100 * time.Millisecond)
				if c := statusOf(t, p.Listen, "/anon/item?size=10", Header{Name: job.KeyHeader, Value: job.APIKey}); c != 200 {
					t.Errorf("after a pause: status %d, want 200", c)
				}
			})
		}
	}
}
