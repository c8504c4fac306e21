//go:build unix

package proxy

import (
	"syscall"
	"unsafe"
)

// sysRead is read(2) on a non-blocking socket as a raw system call: it
// never blocks, so the runtime's syscall bookkeeping (and with one P, the
// sysmon wake-ups and P hand-offs it causes) buys nothing (issue 16, light
// load; see rawconn.go). p must not be empty. It returns the errno as is,
// EAGAIN and EINTR included: the callers' loops decide.
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}
