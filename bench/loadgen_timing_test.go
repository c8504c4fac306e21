package bench

import (
	"context"
	"testing"
	"time"
)

// BenchmarkClosedLoop measures the generator plus a loopback fasthttp
// origin: the ceiling the harness can offer on this machine.
func BenchmarkClosedLoop(b *testing.B) {
	o := startTestOrigin(b, 0)
	b.ReportAllocs()
	b.ResetTimer()
	res, err := RunLoad(context.Background(), LoadConfig{
		Addr: o.Addr(), Paths: []string{"/x?size=1024"}, Duration: time.Minute, MaxRequests: uint64(b.N), Connections: 32,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.Throughput, "req/s")
	b.ReportMetric(float64(res.Latency.P99.Microseconds()), "p99-µs")
}

func BenchmarkParseProcStat(b *testing.B) {
	line := []byte(hostileStat)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseProcStat(line); err != nil {
			b.Fatal(err)
		}
	}
}
