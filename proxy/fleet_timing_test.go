//go:build unix

package proxy

import (
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicegw/sluice/store/redisstate/redistest"
)

// fleetBenchConsumers is how many consumers the benchmark rotates over, so
// that no single key runs at the whole loop's rate (one key at 100 000/s
// would outrun refills of MaxBatch tokens and measure the 429 path).
const fleetBenchConsumers = 64

// fleetBenchConfig: consumer limit and daily quota (fleet or local, per
// {{SCOPE}}), client-IP limit local, no API-wide limit (one key for all
// consumers, see above).
func fleetBenchConfig() string {
	var b strings.Builder
	b.WriteString(`
[state.redis]
addresses = ["{{REDIS}}"]
fleet_size = 3
read_timeout = "20ms"
[state.redis.scopes]
consumer = "{{SCOPE}}"
quota = "{{SCOPE}}"
client_ip = "local"
[[backends]]
name = "users"
targets = [{ url = "http://users.internal:8000" }]
[[groups]]
name = "bench"
[[groups.apis]]
name = "get-user"
methods = ["GET"]
path = "/users/{id}"
backend = "users"
backend_path = "/v1/user?id={id}"
auth = { modes = ["key"] }
[groups.apis.rate_limit]
consumer = { rate = 100000000, burst = 100000000 }
client_ip = { rate = 100000000, burst = 100000000 }
quota = { per_day = 1000000000000 }
`)
	for i := range fleetBenchConsumers {
		n := strconv.Itoa(i)
		b.WriteString("[[consumers]]\nname = \"c" + n + "\"\napi_keys = [\"fleet-bench-key-" + n + "-0123456789\"]\n")
	}
	return b.String()
}

func processCPUNanos() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// redisCPUNanos is redis-server's own CPU from INFO cpu.
func redisCPUNanos(tb testing.TB, rs *redistest.Server) int64 {
	info, err := rs.Do("INFO", "cpu")
	if err != nil {
		tb.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return int64(total * 1e9)
}

// BenchmarkFleetPipeline is issue 15 acceptance 6's CPU comparison: the
// same API and traffic through the real server with consumer limits and
// quotas local, then fleet-wide on a real Redis, in one run. Besides
// ns/op it reports the gateway process's CPU per request (the refill
// worker and Redis client included) and redis-server's.
//
//	go test -run '^$' -bench 'BenchmarkFleetPipeline/paired' -benchtime 200000x -count 5 ./proxy/
func BenchmarkFleetPipeline(b *testing.B) {
	rs := redistest.Start(b)
	reqs := make([]*clientConn, fleetBenchConsumers)
	for i := range reqs {
		reqs[i] = &clientConn{req: []byte("GET /users/42 HTTP/1.1\r\nHost: api.example.com\r\nX-Api-Key: fleet-bench-key-" +
			strconv.Itoa(i) + "-0123456789\r\n\r\n")}
	}
	cfg := fleetBenchConfig()
	for _, scope := range []string{"local", "fleet"} {
		b.Run(scope, func(b *testing.B) {
			s, st := newFleetPipelineFrom(b, cfg, rs.Addr, scope)
			for i := 0; i < 20000; i++ { // leases open and sized
				serveOne(b, s, reqs[i%len(reqs)])
			}
			denied := 0
			b.ReportAllocs()
			cpu0, r0 := processCPUNanos(), redisCPUNanos(b, rs)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c := reqs[i%len(reqs)]
				serveOne(b, s, c)
				if string(c.status) != "HTTP/1.1 200" {
					denied++
				}
			}
			b.StopTimer()
			cpu, rcpu := processCPUNanos()-cpu0, redisCPUNanos(b, rs)-r0
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/req")
			b.ReportMetric(float64(rcpu)/float64(b.N), "redis-cpu-ns/req")
			b.ReportMetric(float64(denied)/float64(b.N), "non200/req")
			if st.Fleet != nil && scope == "fleet" && !st.Conn.Healthy() {
				b.Logf("breaker open at the end: %v", st.Conn.LastError())
			}
		})
	}
	// paired runs both in alternating slices of 5 000 requests, so that
	// load from other processes on a shared machine falls on both alike;
	// b.N requests each. fleet/local is the acceptance figure.
	b.Run("paired", func(b *testing.B) {
		sl, _ := newFleetPipelineFrom(b, cfg, rs.Addr, "local")
		sf, _ := newFleetPipelineFrom(b, cfg, rs.Addr, "fleet")
		for i := 0; i < 20000; i++ {
			serveOne(b, sl, reqs[i%len(reqs)])
			serveOne(b, sf, reqs[i%len(reqs)])
		}
		const slice = 5000
		var cpu [2]int64
		run := func(s *Server, from, n int) int64 {
			c0 := processCPUNanos()
			for i := from; i < from+n; i++ {
				serveOne(b, s, reqs[i%len(reqs)])
			}
			return processCPUNanos() - c0
		}
		b.ReportAllocs()
		b.ResetTimer()
		for done, k := 0, 0; done < b.N; k++ {
			n := min(slice, b.N-done)
			if k%2 == 0 {
				cpu[0] += run(sl, done, n)
				cpu[1] += run(sf, done, n)
			} else {
				cpu[1] += run(sf, done, n)
				cpu[0] += run(sl, done, n)
			}
			done += n
		}
		b.StopTimer()
		b.ReportMetric(float64(cpu[0])/float64(b.N), "local-cpu-ns/req")
		b.ReportMetric(float64(cpu[1])/float64(b.N), "fleet-cpu-ns/req")
		b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "fleet/local")
	})
}
