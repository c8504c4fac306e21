package bench

import (
	"bytes"
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

// BenchmarkOpenLoop offers 30 000 req/s open loop to a loopback fasthttp
// origin in the same process and reports the CPU time the process (generator
// plus origin) spends per request: the cost that sets the generator's
// ceiling on the harness's core, where the two share one CPU
// (taskset -c 0 go test -run '^$' -bench OpenLoop ./bench/ to mimic it).
func BenchmarkOpenLoop(b *testing.B) {
	o := startTestOrigin(b, 0)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	res, err := RunLoad(context.Background(), LoadConfig{
		Addr: o.Addr(), Paths: []string{"/x?size=1024"}, Mode: OpenLoop, Rate: 30000, Duration: time.Minute,
		MaxRequests: uint64(b.N), Timeout: 2 * time.Second,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/1e3/float64(max(res.Completed, 1)), "cpu-µs/req")
	b.ReportMetric(res.SendRate, "send-req/s")
	b.ReportMetric(float64(res.MaxSendLag.Microseconds()), "max-lag-µs")
}

// BenchmarkRespReader frames a keep-alive answer with a 1 KiB body.
func BenchmarkRespReader(b *testing.B) {
	in := append([]byte("HTTP/1.1 200 OK\r\nServer: sluice-origin\r\nContent-Type: application/octet-stream\r\nContent-Length: 1024\r\n\r\n"),
		make([]byte, 1024)...)
	rd := bytes.NewReader(in)
	rr := newRespReader(rd, respBufSize)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		rd.Reset(in)
		rr.r, rr.w = 0, 0
		if _, err := rr.read(false); err != nil {
			b.Fatal(err)
		}
	}
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
