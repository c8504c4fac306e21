//go:build linux

package proxy

import (
	"io"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// rawConn is a TCP connection whose read(2) and write(2) run as raw system
// calls (issue 16, light load). Closing, deadlines and readiness waits are
// still Go's poller's: RawConn.Read/Write check the deadline, call the
// function and park the goroutine on EAGAIN exactly as net.Conn.Read does.
//
// Why: net.Conn.Read and Write enter the runtime's syscall state. On a
// gateway that is mostly idle with one P (GOMAXPROCS=1, the harness's and a
// one-core node's setting), that has two costs per request. The first
// syscall after an idle spell wakes sysmon from its deep sleep, which then
// polls every 20 µs; and a loopback write(2) that delivers to the peer inside
// the call often spans two sysmon ticks, so sysmon takes the P away and
// starts another thread for it, which finds nothing to do: futex wake-ups,
// nanosleeps and thread hand-offs that cost more than the request itself.
// A socket in Go is non-blocking, so these calls never wait: marking them as
// syscalls buys nothing. What a raw call gives up is the P being handed to
// other goroutines for the microseconds the kernel copies bytes, which with
// one P is nothing and with more is a few µs.
//
// Only *net.TCPConn is wrapped (wrapRawConn); anything else keeps Go's
// path. Methods other than Read and Write are the embedded connection's.
// Like net.Conn, Read and Write may be called concurrently with each other
// (one reader and one writer), and not each with itself.
type rawConn struct {
	*net.TCPConn
	rc syscall.RawConn

	// Bound once per connection so that a call allocates nothing.
	readFn, writeFn func(fd uintptr) bool

	rbuf []byte
	rn   int
	rerr syscall.Errno
	wbuf []byte
	wn   int
	werr syscall.Errno
}

// wrapRawConn returns c with raw read and write when c is a *net.TCPConn on
// Linux, else c unchanged.
func wrapRawConn(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	r := &rawConn{TCPConn: tc, rc: rc}
	r.readFn = r.doRead
	r.writeFn = r.doWrite
	return r
}

// dialRaw dials a TCP upstream and wraps it (the pools' default dialer).
func dialRaw(addr string, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return wrapRawConn(c), nil
}

// NetConn returns the wrapped connection (the name crypto/tls uses), for
// code that needs *net.TCPConn itself: splice, SetLinger, keep-alive.
func (c *rawConn) NetConn() net.Conn { return c.TCPConn }

// SyscallConn returns the socket's RawConn (the idle-connection probe uses it).
func (c *rawConn) SyscallConn() (syscall.RawConn, error) { return c.rc, nil }

func (c *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rbuf = p
	err := c.rc.Read(c.readFn)
	c.rbuf = nil
	if err != nil {
		return 0, err
	}
	if c.rerr != 0 {
		return 0, os.NewSyscallError("read", c.rerr)
	}
	if c.rn == 0 {
		return 0, io.EOF
	}
	return c.rn, nil
}

func (c *rawConn) doRead(fd uintptr) bool {
	for {
		n, e := sysRead(fd, c.rbuf)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // park on the poller until readable or the deadline
		}
		c.rn, c.rerr = n, e
		return true
	}
}

func (c *rawConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.wbuf, c.wn, c.werr = p, 0, 0
	err := c.rc.Write(c.writeFn)
	n := c.wn
	c.wbuf = nil
	if err == nil && c.werr != 0 {
		err = os.NewSyscallError("write", c.werr)
	}
	return n, err
}

// doWrite writes until all of wbuf is out, an error, or EAGAIN (then the
// poller waits for room and calls again): Write's contract is all or an error.
func (c *rawConn) doWrite(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		rest := c.wbuf[c.wn:]
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&rest[0])), uintptr(len(rest)))
		switch e {
		case 0:
			c.wn += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.werr = e
			return true
		}
	}
	return true
}
