package bench

import (
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// The test binary doubles as the child processes some tests need: a fake
// gateway (the real one is built elsewhere) and a CPU burner.
func TestMain(m *testing.M) {
	switch os.Getenv("BENCH_TEST_CHILD") {
	case "gateway":
		os.Exit(fakeGateway(os.Args[1:]))
	case "burn":
		os.Exit(burnChild(os.Args[1:]))
	}
	code := m.Run()
	removeSluiceBinary()
	os.Exit(code)
}

// burnChild spins until it has used the CPU time in args[0], then sleeps so
// the parent can read its final CPU time before it exits.
func burnChild(args []string) int {
	d, err := time.ParseDuration(args[0])
	if err != nil {
		return 2
	}
	burn(d)
	time.Sleep(30 * time.Second)
	return 0
}

// processCPU is the process's user+system time from getrusage(2): an
// interface independent of /proc.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// burn spins until the process has used d more CPU time. It measures CPU,
// not wall time: on a shared machine a wall-clock burn may get little CPU.
func burn(d time.Duration) uint64 {
	var x uint64 = 1
	for end := processCPU() + d; processCPU() < end; {
		for i := 0; i < 100000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	return x
}

// testOrigin is a minimal fasthttp backend: ?size=N answers N bytes (default
// 1024), ?status=C answers status C; it counts requests and, when asked,
// records their arrival times.
type testOrigin struct {
	ln       net.Listener
	srv      *fasthttp.Server
	requests atomic.Uint64
	base     time.Time
	arrivals []int64 // nanoseconds since base, first len(arrivals) requests
	nArr     atomic.Int64
}

func startTestOrigin(t testing.TB, recordArrivals int) *testOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &testOrigin{ln: ln, base: time.Now(), arrivals: make([]int64, recordArrivals)}
	body := make([]byte, 1<<20)
	for i := range body {
		body[i] = 'x'
	}
	o.srv = &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			o.requests.Add(1)
			if i := o.nArr.Add(1) - 1; i < int64(len(o.arrivals)) {
				o.arrivals[i] = int64(time.Since(o.base))
			}
			size := 1024
			if n, err := fasthttp.ParseUint(ctx.QueryArgs().Peek("size")); err == nil && n <= len(body) {
				size = n
			}
			if c, err := fasthttp.ParseUint(ctx.QueryArgs().Peek("status")); err == nil && c >= 100 && c < 600 {
				ctx.SetStatusCode(c)
			}
			ctx.Response.SetBodyRaw(body[:size])
		},
		Name: "test-origin",
	}
	go o.srv.Serve(ln)
	t.Cleanup(o.close)
	return o
}

func (o *testOrigin) Addr() string     { return o.ln.Addr().String() }
func (o *testOrigin) Requests() uint64 { return o.requests.Load() }
func (o *testOrigin) Close() error     { o.close(); return nil }
func (o *testOrigin) close()           { _ = o.srv.Shutdown() }

// recorded returns the recorded arrival times.
func (o *testOrigin) recorded() []int64 {
	n := min(o.nArr.Load(), int64(len(o.arrivals)))
	return o.arrivals[:n]
}

// closedPort returns a loopback address nobody listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func itoa(i int) string { return strconv.Itoa(i) }
