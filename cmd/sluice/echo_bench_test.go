package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/sluicegw/sluice/bench"
	"github.com/valyala/fasthttp"
)

// Issue 14, acceptance 5: the cost of a WebSocket message and of a composite
// request through a real gateway process, against the origin stub in its
// own process. CPU is read per process from /proc (bench.SampleCPU), so the
// gateway's, the origin's and the client's (this process) are apart.
//
//	go test -run '^$' -bench 'WebSocketEcho|Composite' -benchtime 200000x -count 3 ./cmd/sluice/

// benchConns is how many connections share the load.
const benchConns = 16

// cpuMeter samples the CPU of named processes around a measured section.
type cpuMeter struct {
	pids   map[string]int
	before map[string]bench.CPUSample
}

func newCPUMeter(pids map[string]int) *cpuMeter {
	return &cpuMeter{pids: pids, before: map[string]bench.CPUSample{}}
}

func (m *cpuMeter) start(b *testing.B) {
	for name, pid := range m.pids {
		s, err := bench.SampleCPU(pid)
		if err != nil {
			b.Fatal(err)
		}
		m.before[name] = s
	}
}

// report adds "<name>-cpu-µs/<unit>": CPU time per operation of each
// process (thread times in nanoseconds where readable, else 10 ms ticks).
func (m *cpuMeter) report(b *testing.B, ops int, unit string) {
	for name, pid := range m.pids {
		s, err := bench.SampleCPU(pid)
		if err != nil {
			b.Fatal(err)
		}
		d := s.Since(m.before[name])
		b.ReportMetric(float64(d.Nanoseconds())/1e3/float64(ops), name+"-cpu-µs/"+unit)
	}
}

// BenchmarkWebSocketEcho: b.N messages of 64 bytes, each written and its
// echo read back, over benchConns tunnels, through the gateway and direct
// to the origin.
func BenchmarkWebSocketEcho(b *testing.B) {
	originAddr, originPid := startOriginProcess(b)
	g := startGateway(b, tunnelConfig(originAddr))
	for _, mode := range []struct {
		name string
		url  string
		pids map[string]int
	}{
		{"gateway", "ws://" + g.listen + "/ws", map[string]int{"gateway": g.cmd.Process.Pid, "origin": originPid}},
		{"direct", "ws://" + originAddr + "/ws", map[string]int{"origin": originPid}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			conns := make([]*websocket.Conn, benchConns)
			for i := range conns {
				c, _, err := websocket.DefaultDialer.Dial(mode.url, nil)
				if err != nil {
					b.Fatal(err)
				}
				conns[i] = c
				defer c.Close()
			}
			msg := make([]byte, 64)
			m := newCPUMeter(mode.pids)
			var next atomic.Int64
			var failed atomic.Value
			b.ResetTimer()
			m.start(b)
			start := time.Now()
			var wg sync.WaitGroup
			for _, c := range conns {
				wg.Add(1)
				go func(c *websocket.Conn) {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
							failed.Store(err)
							return
						}
						if _, got, err := c.ReadMessage(); err != nil || len(got) != len(msg) {
							failed.Store(fmt.Errorf("read %d bytes: %v", len(got), err))
							return
						}
					}
				}(c)
			}
			wg.Wait()
			took := time.Since(start)
			b.StopTimer()
			if err := failed.Load(); err != nil {
				b.Fatal(err)
			}
			m.report(b, b.N, "msg")
			b.ReportMetric(float64(b.N)/took.Seconds(), "msgs/s")
		})
	}
}

// BenchmarkComposite: b.N GET requests over benchConns keep-alive
// connections to a composite API of three calls to the origin's /echo, and,
// for scale, to a plain API proxying one /echo.
func BenchmarkComposite(b *testing.B) {
	originAddr, originPid := startOriginProcess(b)
	g := startGateway(b, func(listen, admin string) string {
		return fmt.Sprintf(`[server]
listen = [%q]
admin_listen = %q

[[backends]]
name = "origin"
targets = [{ url = "http://%s" }]

[[backends]]
name = "three"
compose = [
  { name = "user", backend = "origin", path = "/echo?user={id}", key = "user" },
  { name = "orders", backend = "origin", path = "/echo?orders={id}", key = "orders" },
  { name = "stock", backend = "origin", path = "/echo?stock={id}", key = "stock", required = false },
]

[[groups]]
name = "bench"

[[groups.apis]]
name = "composite3"
methods = ["GET"]
path = "/composite/{id}"
backend = "three"

[[groups.apis]]
name = "plain"
methods = ["GET"]
path = "/plain/{id}"
backend = "origin"
backend_path = "/echo?user={id}"
`, listen, admin, originAddr)
	})
	for _, api := range []string{"composite3", "plain"} {
		b.Run(api, func(b *testing.B) {
			prefix := "/plain/"
			if api == "composite3" {
				prefix = "/composite/"
			}
			c := &fasthttp.HostClient{Addr: g.listen, MaxConns: benchConns, ReadTimeout: 10 * time.Second}
			m := newCPUMeter(map[string]int{"gateway": g.cmd.Process.Pid, "origin": originPid})
			var next atomic.Int64
			var failed atomic.Value
			b.ResetTimer()
			m.start(b)
			start := time.Now()
			var wg sync.WaitGroup
			for w := 0; w < benchConns; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
					defer fasthttp.ReleaseRequest(req)
					defer fasthttp.ReleaseResponse(resp)
					req.SetRequestURI("http://" + g.listen + prefix + "42")
					for next.Add(1) <= int64(b.N) {
						if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
							failed.Store(fmt.Errorf("status %d: %v %s", resp.StatusCode(), err, resp.Body()))
							return
						}
					}
				}()
			}
			wg.Wait()
			took := time.Since(start)
			b.StopTimer()
			if err := failed.Load(); err != nil {
				b.Fatal(err)
			}
			m.report(b, b.N, "req")
			b.ReportMetric(float64(b.N)/took.Seconds(), "req/s")
		})
	}
}
