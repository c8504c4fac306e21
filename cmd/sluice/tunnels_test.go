package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/sluicegw/sluice/bench/origin"
)

func tunnelConfig(originAddr string) configFunc {
	return func(listen, admin string) string {
		return fmt.Sprintf(`[server]
listen = [%q]
admin_listen = %q
max_tunnels = 20000

[[backends]]
name = "origin"
targets = [{ url = "http://%s" }]
pool_size = 20000

[[groups]]
name = "ws"

[[groups.apis]]
name = "ws"
path = "/ws"
backend = "origin"
[groups.apis.websocket]
idle_timeout = "300s"
`, listen, admin, originAddr)
	}
}

// runOriginProcess serves the origin stub until stdin closes: tests that
// need more sockets than one process may hold run the origin in its own.
func runOriginProcess(addr string) {
	o, err := origin.Start(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "origin:", err)
		os.Exit(1)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = o.Close()
	os.Exit(0)
}

// startOriginProcess runs the origin stub in a child process on a free port
// and returns its address and pid (benchmarks read its CPU apart).
func startOriginProcess(t testing.TB) (string, int) {
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "SLUICE_TEST_ORIGIN="+addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return addr, cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			t.Fatal("origin process did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// raiseFileLimit lifts the open-files limit (the gateway inherits it) and
// returns it: a tunnel holds two sockets in the gateway and two here.
func raiseFileLimit(t *testing.T) uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	want := syscall.Rlimit{Cur: 65536, Max: 65536}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err == nil {
		return want.Cur
	}
	l.Cur = l.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	return l.Cur
}

func openTunnels(t *testing.T, addr string, n int) []*websocket.Conn {
	t.Helper()
	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, 64)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d := websocket.Dialer{HandshakeTimeout: 20 * time.Second, ReadBufferSize: 512, WriteBufferSize: 512}
			c, _, err := d.Dial("ws://"+addr+"/ws", nil)
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d tunnels failed to open: %v", f, n, firstErr.Load())
	}
	return conns
}

// TestTunnelsAtScale is issue 14's acceptance point 2: the gateway's memory
// per idle tunnel (goal: under 16 KiB), and 1 000 tunnels echoing for 10 s
// without losing a message.
func TestTunnelsAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 10 000 tunnels and echoes for 10 s; runs in make test's main pass")
	}
	// A tunnel holds two sockets in the gateway. Where the open-files limit
	// cannot be raised (this sandbox: 20 000, no CAP_SYS_RESOURCE), one
	// process cannot hold 10 000 tunnels, so the tunnels are spread over as
	// many gateway processes as it takes, and the origin runs in its own.
	limit := raiseFileLimit(t)
	n := 10000
	if v, _ := strconv.Atoi(os.Getenv("SLUICE_TUNNELS")); v > 0 {
		n = v
	}
	perGateway := min(n, int(limit-1000)/2)
	if int(limit)-1000 < n {
		t.Fatalf("open-files limit %d: this process cannot hold %d client sockets", limit, n)
	}
	originAddr, _ := startOriginProcess(t)
	var gws []*gateway
	var conns []*websocket.Conn
	var before, after int64
	for left := n; left > 0; left -= perGateway {
		g := startGateway(t, tunnelConfig(originAddr))
		gws = append(gws, g)
		warm := openTunnels(t, g.listen, 100)
		for _, c := range warm {
			c.Close()
		}
		time.Sleep(500 * time.Millisecond) // let the warm-up tunnels close
		rss, _ := memStatus(t, g.cmd.Process.Pid)
		before += rss
		conns = append(conns, openTunnels(t, g.listen, min(left, perGateway))...)
	}
	time.Sleep(time.Second)
	for _, g := range gws {
		rss, _ := memStatus(t, g.cmd.Process.Pid)
		after += rss
	}
	per := float64(after-before) / float64(len(conns))
	t.Logf("%d idle tunnels over %d gateway process(es): RSS %s -> %s, %.1f KiB per tunnel", len(conns), len(gws), mib(before), mib(after), per/1024)
	if per > 16<<10 {
		t.Errorf("%.1f KiB of gateway memory per idle tunnel, goal under 16 KiB", per/1024)
	}
	for _, c := range conns[1000:] {
		c.Close()
	}

	// 1 000 tunnels echo continuously for 10 s; every message sent comes back.
	echoing := conns[:1000]
	stop := time.Now().Add(10 * time.Second)
	var sent, received atomic.Int64
	var wg sync.WaitGroup
	for i, c := range echoing {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			var seq int
			for time.Now().Before(stop) {
				msg := []byte(strconv.Itoa(i) + ":" + strconv.Itoa(seq))
				_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
					t.Errorf("tunnel %d: write: %v", i, err)
					return
				}
				sent.Add(1)
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, got, err := c.ReadMessage()
				if err != nil {
					t.Errorf("tunnel %d: read: %v", i, err)
					return
				}
				if string(got) != string(msg) {
					t.Errorf("tunnel %d: got %q, want %q", i, got, msg)
					return
				}
				received.Add(1)
				seq++
			}
		}()
	}
	wg.Wait()
	t.Logf("1000 tunnels for 10 s: %d messages sent, %d echoed (%.0f/s)", sent.Load(), received.Load(), float64(received.Load())/10)
	if sent.Load() != received.Load() || sent.Load() < 1000 {
		t.Fatalf("sent %d, received %d", sent.Load(), received.Load())
	}
}
