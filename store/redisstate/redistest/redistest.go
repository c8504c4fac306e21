// Package redistest starts real redis-server processes for tests: one
// standalone server, or a three-node Cluster joined with redis-cli, each on
// free loopback ports with persistence off and its files in a temporary
// directory. Tests skip when redis-server is not installed, unless
// SLUICE_REQUIRE_EXTERNAL=1 (CI), where a missing binary fails the test.
package redistest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Require skips t (or fails it under SLUICE_REQUIRE_EXTERNAL=1) when the
// redis-server or redis-cli binary is missing.
func Require(t testing.TB) {
	t.Helper()
	for _, b := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(b); err != nil {
			if os.Getenv("SLUICE_REQUIRE_EXTERNAL") == "1" {
				t.Fatalf("%s not found and SLUICE_REQUIRE_EXTERNAL=1: %v", b, err)
			}
			t.Skipf("%s not installed (scripts/install-test-deps.sh installs it)", b)
		}
	}
}

// Server is one redis-server process owned by a test. Its methods are not
// safe for concurrent use.
type Server struct {
	Port int
	Addr string // 127.0.0.1:Port

	t    testing.TB
	dir  string
	args []string
	cmd  *exec.Cmd
}

// Start runs a standalone redis-server on a free loopback port and stops it
// when the test ends. extra are further server arguments.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	Require(t)
	s := newServer(t, freePort(t, false), t.TempDir(), extra)
	s.start()
	t.Cleanup(s.Kill)
	return s
}

func newServer(t testing.TB, port int, dir string, extra []string) *Server {
	args := []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
		// DEBUG SLEEP simulates a stalled Redis in the outage tests.
		"--enable-debug-command", "local",
		"--protected-mode", "no", "--loglevel", "warning",
		"--logfile", filepath.Join(dir, "redis-"+strconv.Itoa(port)+".log"),
	}
	return &Server{Port: port, Addr: "127.0.0.1:" + strconv.Itoa(port), t: t, dir: dir, args: append(args, extra...)}
}

func (s *Server) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", s.args...)
	s.cmd.Dir = s.dir
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	// Bounded wait for the listener; a server that exits early (port taken)
	// is reported with its log.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := s.Do("PING"); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(s.dir, "redis-"+strconv.Itoa(s.Port)+".log"))
	s.Kill()
	s.t.Fatalf("redis-server on %s did not answer PING within 10s; log:\n%s", s.Addr, log)
}

// Kill stops the server with SIGKILL (a crash, not a shutdown) and waits
// for it by pid. It is idempotent.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts a killed server again on the same port, empty (no
// persistence), as a crashed Redis comes back.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// Do sends one command over a fresh connection and returns the reply as
// text (simple and bulk strings as is, integers in decimal, arrays joined
// by newlines). It is for test setup and inspection, not for speed.
func (s *Server) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var b []byte
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, "\r\n"...)
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	if _, err := c.Write(b); err != nil {
		return "", err
	}
	return readReply(bufio.NewReader(c))
}

func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, _ := strconv.Atoi(line[1:])
		parts := make([]string, 0, max(n, 0))
		for range n {
			p, err := readReply(r)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "\n"), nil
	}
	return "", errors.New("unknown reply: " + line)
}

// CommandCalls returns the calls counted by INFO commandstats for the
// named commands (lower case, e.g. "evalsha", "eval", "set").
func (s *Server) CommandCalls(names ...string) int64 {
	s.t.Helper()
	info, err := s.Do("INFO", "commandstats")
	if err != nil {
		s.t.Fatalf("INFO commandstats: %v", err)
	}
	var total int64
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		for _, n := range names {
			p := "cmdstat_" + n + ":calls="
			if strings.HasPrefix(line, p) {
				v := line[len(p):]
				if i := strings.IndexByte(v, ','); i >= 0 {
					v = v[:i]
				}
				c, _ := strconv.ParseInt(v, 10, 64)
				total += c
			}
		}
	}
	return total
}

// Cluster is a Redis Cluster of three masters without replicas.
type Cluster struct {
	Servers []*Server
	Addrs   []string
}

// StartCluster runs three cluster-enabled servers, joins them with
// `redis-cli --cluster create` and waits until every node reports
// cluster_state:ok. The servers stop when the test ends.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	Require(t)
	c := &Cluster{}
	cliArgs := []string{"--cluster", "create"}
	for range 3 {
		dir := t.TempDir()
		s := newServer(t, freePort(t, true), dir, []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", "2000",
		})
		s.start()
		t.Cleanup(s.Kill)
		c.Servers = append(c.Servers, s)
		c.Addrs = append(c.Addrs, s.Addr)
		cliArgs = append(cliArgs, s.Addr)
	}
	cliArgs = append(cliArgs, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command("redis-cli", cliArgs...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitOK(t)
	return c
}

// Kill stops every node with SIGKILL.
func (c *Cluster) Kill() {
	for _, s := range c.Servers {
		s.Kill()
	}
}

// Restart starts every node again (after Kill) and waits until the
// cluster is ok. The nodes keep their nodes.conf, so they rejoin with the
// same slots and no data.
func (c *Cluster) Restart() {
	for _, s := range c.Servers {
		s.Restart()
	}
	c.waitOK(c.Servers[0].t)
}

func (c *Cluster) waitOK(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range c.Servers {
		for {
			info, err := s.Do("CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s not ok within 20s: %v %s", s.Addr, err, info)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// CommandCalls sums Server.CommandCalls over the nodes.
func (c *Cluster) CommandCalls(names ...string) int64 {
	var n int64
	for _, s := range c.Servers {
		n += s.CommandCalls(names...)
	}
	return n
}

// freePort returns a loopback port that was free a moment ago; with bus
// set, port+10000 (the cluster bus) was free too.
func freePort(t testing.TB, bus bool) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if !bus {
			l.Close()
			return port
		}
		if port+10000 > 65535 {
			l.Close()
			continue
		}
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		l.Close()
		if err != nil {
			continue
		}
		l2.Close()
		return port
	}
	t.Fatal("no free port pair for a cluster node")
	return 0
}
