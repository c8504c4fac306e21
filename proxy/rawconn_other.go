//go:build !linux

package proxy

import "net"

// wrapRawConn returns c unchanged: raw socket calls (rawconn.go) are
// written and measured for Linux only.
func wrapRawConn(c net.Conn) net.Conn { return c }
