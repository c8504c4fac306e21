//go:build !linux

package proxy

import (
	"net"
	"time"
)

// wrapRawConn returns c unchanged: raw socket calls (rawconn.go) are
// written and measured for Linux only.
func wrapRawConn(c net.Conn) net.Conn { return c }

// dialRaw dials a TCP upstream (rawconn.go has the Linux version).
func dialRaw(addr string, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, timeout)
}
