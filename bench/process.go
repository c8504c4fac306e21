package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// ProcSpec describes a process under test: a gateway or peer proxy run in the
// foreground (never daemonized) so the harness owns its lifetime.
type ProcSpec struct {
	// Name labels log files and errors ("sluice", "nginx", ...).
	Name string
	// Argv is the command line; Argv[0] is an absolute path or found in PATH.
	Argv []string
	// Env is added to the harness's environment (e.g. GOMAXPROCS=1).
	Env []string
	// Dir is the working directory, also where stdout/stderr logs go.
	Dir string
	// Ready reports nil once the process serves; polled every 20ms.
	Ready func(ctx context.Context) error
	// ReadyTimeout bounds startup (default 15s).
	ReadyTimeout time.Duration
	// StopGrace is how long Stop waits after SIGTERM before SIGKILL (default 5s).
	StopGrace time.Duration
}

// Proc is a started process under test. Methods are safe for use from one
// goroutine at a time.
type Proc struct {
	name       string
	cmd        *exec.Cmd
	stderrPath string
	stdoutPath string
	stopGrace  time.Duration
	exited     chan struct{}
	waitErr    error
}

// StartProc starts spec pinned per plan, waits until it is ready and pins its
// whole process tree again. On failure the process is stopped and the error
// carries the tail of its stderr.
func StartProc(ctx context.Context, spec ProcSpec, plan CPUPlan) (*Proc, error) {
	if len(spec.Argv) == 0 || spec.Ready == nil || spec.Dir == "" {
		panic("BUG: ProcSpec needs Argv, Ready and Dir")
	}
	if spec.ReadyTimeout == 0 {
		spec.ReadyTimeout = 15 * time.Second
	}
	if spec.StopGrace == 0 {
		spec.StopGrace = 5 * time.Second
	}
	p := &Proc{name: spec.Name, stderrPath: filepath.Join(spec.Dir, spec.Name+".stderr.log"),
		stdoutPath: filepath.Join(spec.Dir, spec.Name+".stdout.log"), stopGrace: spec.StopGrace, exited: make(chan struct{})}
	stdout, err := os.Create(p.stdoutPath)
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := os.Create(p.stderrPath)
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	argv := withTaskset(plan, spec.Argv)
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir = spec.Dir
	p.cmd.Env = append(os.Environ(), spec.Env...)
	p.cmd.Stdout = stdout
	p.cmd.Stderr = stderr
	// Own process group: Stop signals nginx's master and workers together.
	// Pdeathsig: targets die with the harness instead of holding ports.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", spec.Name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()

	rctx, cancel := context.WithTimeout(ctx, spec.ReadyTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		if lastErr = spec.Ready(rctx); lastErr == nil {
			break
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("bench: %s exited during startup (%v): %s", spec.Name, p.waitErr, p.StderrTail(600))
		case <-rctx.Done():
			p.Stop()
			return nil, fmt.Errorf("bench: %s not ready after %v (%v): %s", spec.Name, spec.ReadyTimeout, lastErr, p.StderrTail(600))
		case <-tick.C:
		}
	}
	if plan.Pinned {
		if err := PinTree(p.PID(), []int{plan.Target}); err != nil {
			p.Stop()
			return nil, err
		}
	}
	return p, nil
}

// PID is the process's id (nginx: the master; its workers are its children).
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Alive reports whether the process has not exited.
func (p *Proc) Alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM to the process group, then SIGKILL after StopGrace.
// It is idempotent.
func (p *Proc) Stop() error {
	if !p.Alive() {
		return nil
	}
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(p.stopGrace):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.exited
	}
	// Workers left in the group after the leader exited (a crashed master).
	_ = syscall.Kill(pgid, syscall.SIGKILL)
	return nil
}

// StderrTail returns up to n trailing bytes of the process's stderr,
// trimmed, or of its stdout when stderr is empty (some programs log there).
func (p *Proc) StderrTail(n int) string {
	for _, path := range []string{p.stderrPath, p.stdoutPath} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if len(b) > n {
			b = b[len(b)-n:]
		}
		if s := strings.TrimSpace(string(bytes.ToValidUTF8(b, nil))); s != "" {
			return s
		}
	}
	return "(no output)"
}

// FreeAddr returns a loopback "127.0.0.1:port" that was free a moment ago.
// Another process may take it before the target binds it; startup then fails
// with a clear error rather than benchmarking the wrong thing.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// HTTPReady returns a probe that GETs http://addr+path with headers and
// wants status 200.
func HTTPReady(addr, path string, headers ...Header) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if err := CheckLoopbackAddr(addr); err != nil {
			return err
		}
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://" + addr + path)
		req.SetConnectionClose()
		for _, h := range headers {
			req.Header.Set(h.Name, h.Value)
		}
		timeout := time.Second
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
			timeout = time.Until(dl)
		}
		if timeout <= 0 {
			return context.DeadlineExceeded
		}
		if err := fasthttp.DoTimeout(req, resp, timeout); err != nil {
			return err
		}
		if resp.StatusCode() != fasthttp.StatusOK {
			return fmt.Errorf("GET %s: status %d", path, resp.StatusCode())
		}
		return nil
	}
}
