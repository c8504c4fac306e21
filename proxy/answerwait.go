package proxy

import "net"

// writeWatch is what an upstream connection's bufio.Writer writes to: it
// notes whether anything went out, so exchange knows whether a request is
// still whole in the buffer (answerReader's condition) after fasthttp wrote
// it there.
type writeWatch struct {
	conn  net.Conn
	wrote bool
}

func (w *writeWatch) Write(p []byte) (int, error) {
	w.wrote = true
	return w.conn.Write(p)
}
