//go:build unix

package proxy

import (
	"bufio"
	"io"
	"net"
	"os"
	"syscall"
)

// answerReader is what an upstream connection's bufio.Reader reads from.
// It saves the read(2) that finds nothing after every request (issue 16).
//
// A net.Conn read first calls read(2) and, on EAGAIN, parks until the
// poller reports the socket readable. Right after a request is sent the
// answer is never there yet, so that first read(2) is wasted: one system
// call per proxied request. RawConn.Read calls its function after the
// poller's readiness for the socket was reset: if the request is written
// from inside that function, and the function then asks to wait, the
// answer's arrival comes after the reset and wakes the wait. It can never
// be missed, because the upstream cannot answer a request it has not got.
// Bytes that arrived before the reset (an upstream that wrote after its
// last answer) are not announced again; the idle probe in acquire, which
// runs before anything is written, is what catches those, as it always
// did (issue 10, defect 3).
//
// exchange hands the request over in pending only when it is whole in the
// write buffer (nothing was flushed while it was written): a request
// partly sent earlier could be answered early (a 413 before the body),
// before the reset.
type answerReader struct {
	rc      syscall.RawConn // nil: not a socket (a test pipe), use the conn
	conn    net.Conn
	fn      func(fd uintptr) bool // readFD, bound once: a read allocates nothing
	pending *bufio.Writer         // the request to flush before the first wait
	p       []byte
	n       int
	err     error
	eagain  uint64 // read(2) calls that found nothing (tests read it)
}

func (a *answerReader) init(nc net.Conn) {
	a.conn = nc
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			a.rc = rc
			a.fn = a.readFD
		}
	}
}

// canWait reports whether a request can be flushed inside the first read.
func (a *answerReader) canWait() bool { return a.rc != nil }

func (a *answerReader) Read(p []byte) (int, error) {
	if a.rc == nil {
		return a.conn.Read(p)
	}
	a.p, a.n, a.err = p, 0, nil
	if err := a.rc.Read(a.fn); err != nil {
		a.pending = nil
		return 0, err // a deadline, a closed connection: as net.Conn.Read says them
	}
	a.p = nil
	if a.err != nil {
		return 0, a.err
	}
	if a.n == 0 {
		return 0, io.EOF
	}
	return a.n, nil
}

// readFD runs inside RawConn.Read; false means "wait until readable".
func (a *answerReader) readFD(fd uintptr) bool {
	if w := a.pending; w != nil {
		a.pending = nil
		if err := w.Flush(); err != nil {
			a.err = err
			return true
		}
		return false // the answer cannot be there yet: wait for it
	}
	for {
		n, e := sysRead(fd, a.p)
		switch e {
		case 0:
			a.n = n
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			a.eagain++
			return false
		}
		a.err = os.NewSyscallError("read", e)
		return true
	}
}
