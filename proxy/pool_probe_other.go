//go:build !unix

package proxy

import "net"

// connProbe is a no-op where a non-blocking read on the socket is not
// available: idle connections are assumed alive and the stale retry in
// backendPool.Do covers a closed one.
type connProbe struct{}

func (p *connProbe) init(net.Conn) {}

func (p *connProbe) alive() bool { return true }
