package main

// These tests run the sluice binary as a real process, the way an operator
// does: built once per test binary in TestMain, started on free loopback
// ports with a generated config, steered with signals, observed over HTTP
// and /proc. The origin is bench/origin, started inside the test.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sluiceBin is the binary TestMain built; every test shares it.
var sluiceBin string

func TestMain(m *testing.M) {
	if addr := os.Getenv("SLUICE_TEST_ORIGIN"); addr != "" {
		runOriginProcess(addr) // a test re-executed this binary as an origin
		return
	}
	dir, err := os.MkdirTemp("", "sluice-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot make a temp dir:", err)
		os.Exit(1)
	}
	sluiceBin = filepath.Join(dir, "sluice")
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	build := exec.Command(gobin, "build", "-o", sluiceBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot build sluice:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// runSluice runs a short subcommand to completion (bounded at 20 s) and
// returns its stdout, stderr and exit code.
func runSluice(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(sluiceBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sluice %v: %v", args, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("sluice %v did not finish in 20s", args)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("sluice %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// freePort returns a loopback address that was free a moment ago. Another
// process may take it before sluice binds it; startGateway retries once.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// writeFile replaces path atomically, so a reload never reads half a file.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer collects a child's stderr for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gateway is a running `sluice run` process.
type gateway struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's result, valid after done
	config string        // the config file's path
	listen string        // client address
	admin  string        // admin address
}

// configFunc renders a config for the given client and admin addresses.
type configFunc func(listen, admin string) string

// startGateway writes a config for two fresh loopback ports, starts
// `sluice run -config` on it and waits until /readyz answers 200. A bind
// failure (a port taken between picking and binding) is retried once with
// new ports. The process is killed at cleanup if the test left it running.
func startGateway(t testing.TB, cfg configFunc, extraArgs ...string) *gateway {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sluice.toml")
	for attempt := 0; ; attempt++ {
		listen, admin := freePort(t), freePort(t)
		writeFile(t, path, cfg(listen, admin))
		args := append([]string{"run", "-config", path}, extraArgs...)
		g := spawn(t, args, listen, admin)
		g.config = path
		err := g.waitReady(10 * time.Second)
		if err == nil {
			return g
		}
		if attempt == 0 && strings.Contains(g.stderr.String(), "address already in use") {
			t.Logf("port taken between picking and binding, retrying: %v", err)
			continue
		}
		t.Fatalf("gateway not ready: %v\nstderr:\n%s", err, g.stderr.String())
	}
}

// spawn starts sluice with args; listen and admin are where it will serve.
func spawn(t testing.TB, args []string, listen, admin string) *gateway {
	t.Helper()
	g := &gateway{stderr: &syncBuffer{}, done: make(chan struct{}), listen: listen, admin: admin}
	g.cmd = exec.Command(sluiceBin, args...)
	g.cmd.Stdout = g.stderr
	g.cmd.Stderr = g.stderr
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("start sluice: %v", err)
	}
	go func() {
		g.err = g.cmd.Wait()
		close(g.done)
	}()
	t.Cleanup(func() {
		select {
		case <-g.done:
		default:
			_ = g.cmd.Process.Kill()
			<-g.done
		}
		if t.Failed() {
			t.Logf("sluice stderr:\n%s", g.stderr.String())
		}
	})
	return g
}

// waitReady polls GET /readyz until 200, the process exits, or d passes.
func (g *gateway) waitReady(d time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-g.done:
			return fmt.Errorf("sluice exited before it was ready: %v", g.err)
		default:
		}
		resp, err := c.Get("http://" + g.admin + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("/readyz not 200 within %v", d)
}

// signal sends sig to the gateway process.
func (g *gateway) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := g.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// waitExit waits up to d for the process to exit and returns its exit code.
func (g *gateway) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-g.done:
	case <-time.After(d):
		t.Fatalf("sluice did not exit within %v", d)
	}
	var ee *exec.ExitError
	switch {
	case g.err == nil:
		return 0
	case errors.As(g.err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("sluice: %v", g.err)
	return -1
}

// get fetches url with a fresh connection and returns status, headers and body.
func get(t *testing.T, url string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, resp.Header, body
}

func TestVersion(t *testing.T) {
	out, _, code := runSluice(t, "version")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.HasPrefix(out, "sluice ") || strings.Count(out, "\n") != 1 {
		t.Fatalf("version output %q: want one line starting with \"sluice \"", out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"check"}, {"routes", "a", "b"}, {"run", "-no-such-flag"},
		{"run", "-log-level", "loud"}} {
		_, stderr, code := runSluice(t, args...)
		if code != 2 {
			t.Errorf("sluice %v: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
		if stderr == "" {
			t.Errorf("sluice %v: nothing on stderr", args)
		}
	}
}
