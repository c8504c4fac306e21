//go:build !unix

package proxy

import (
	"bufio"
	"net"
)

// answerReader reads the connection itself where RawConn waits are not
// available (see answerwait_unix.go).
type answerReader struct {
	conn    net.Conn
	pending *bufio.Writer
}

func (a *answerReader) init(nc net.Conn)           { a.conn = nc }
func (a *answerReader) canWait() bool              { return false }
func (a *answerReader) Read(p []byte) (int, error) { return a.conn.Read(p) }
