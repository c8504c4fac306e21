//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// connProbe tells whether an idle upstream connection can still carry a
// request, without blocking and without allocating: one non-blocking read(2)
// on the socket. EAGAIN means open and quiet; 0 bytes means the upstream
// closed it (an origin's keep-alive timer fired: Node and Apache close idle
// connections after 5 s, gunicorn after 2 s); any byte is data nobody asked
// for, and the connection is dropped either way.
//
// Control, not Read, runs the syscall: RawConn.Read first checks the
// connection's read deadline, and an idle connection keeps its last
// exchange's deadline, long past. The socket is non-blocking (Go's poller),
// so the read never waits.
type connProbe struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) // bound once per connection, so probing allocates nothing
	ok  bool
	buf [1]byte
}

func (p *connProbe) init(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return // an in-memory pipe (tests): nothing to probe
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	p.rc = rc
	p.fn = p.check
}

// check reads raw: a runtime-visible syscall here, once per request that
// reuses a connection, would wake sysmon on a lightly loaded gateway
// (rawconn.go says why that costs more than the read).
func (p *connProbe) check(fd uintptr) {
	_, e := sysRead(fd, p.buf[:])
	p.ok = e == syscall.EAGAIN || e == syscall.EWOULDBLOCK
}

// alive reports whether the connection looks reusable. Connections that
// cannot be probed are assumed alive; the stale retry covers them.
func (p *connProbe) alive() bool {
	if p.rc == nil {
		return true
	}
	p.ok = false
	if err := p.rc.Control(p.fn); err != nil {
		return false
	}
	return p.ok
}
