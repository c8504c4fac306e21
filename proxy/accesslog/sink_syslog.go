package accesslog

import (
	"context"
	"net"
	"os"
	"strconv"
	"time"
)

// Syslog severities used (RFC 5424 section 6.2.1).
const (
	sevError   = 3 // status >= 500
	sevWarning = 4 // status >= 400
	sevInfo    = 6 // everything else
)

// syslogSink sends one RFC 5424 message per record:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID access - JSON
//
// over UDP or a unix datagram socket (one message per datagram) or TCP
// (octet counting, RFC 6587 section 3.4.1: "LEN SP MSG"). MSG is the JSON
// line, sent without a BOM (MSG-ANY). The connection is dialed lazily and
// redialed after an error. Used only from its sink goroutine.
type syslogSink struct {
	network, addr string
	stream        bool
	timeout       time.Duration
	facility      int
	header        []byte // " HOSTNAME APP-NAME PROCID access - "
	conn          net.Conn
	buf           []byte
	msg           []byte
	ends          []int // for TCP: end offset of each framed message in buf
}

func newSyslogSink(c SinkConfig) *syslogSink {
	s := &syslogSink{
		network:  c.Network,
		addr:     c.Address,
		stream:   c.Network == "tcp",
		timeout:  time.Duration(c.Timeout),
		facility: facilities[c.Facility],
	}
	if s.network == "unix" {
		s.network = "unixgram"
	}
	s.header = append(s.header, ' ')
	s.header = append(s.header, syslogHostname()...)
	s.header = append(s.header, ' ')
	s.header = append(s.header, c.AppName...)
	s.header = append(s.header, ' ')
	s.header = strconv.AppendInt(s.header, int64(os.Getpid()), 10)
	s.header = append(s.header, " access - "...)
	return s
}

// syslogHostname is the HOSTNAME field: the host name if it is 1..255
// printable ASCII characters, else the NILVALUE "-".
func syslogHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" || len(h) > 255 {
		return "-"
	}
	for i := 0; i < len(h); i++ {
		if h[i] < 33 || h[i] > 126 {
			return "-"
		}
	}
	return h
}

func (s *syslogSink) close() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// appendMessage appends record i's RFC 5424 message.
func (s *syslogSink) appendMessage(dst []byte, b *batch, i int) []byte {
	sev := sevInfo
	switch st := b.status[i]; {
	case st >= 500:
		sev = sevError
	case st >= 400:
		sev = sevWarning
	}
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(s.facility*8+sev), 10)
	dst = append(dst, '>', '1', ' ')
	dst = appendTime(dst, b.times[i])
	dst = append(dst, s.header...)
	return append(dst, b.line(i)...)
}

func (s *syslogSink) write(ctx context.Context, b *batch, fail func(error)) int {
	if s.conn == nil {
		d := net.Dialer{Timeout: s.timeout}
		c, err := d.DialContext(ctx, s.network, s.addr)
		if err != nil {
			fail(err)
			return 0
		}
		s.conn = c
	}
	if s.stream {
		return s.writeStream(b, fail)
	}
	written := 0
	for i := 0; i < b.n(); i++ {
		s.buf = s.appendMessage(s.buf[:0], b, i)
		s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
		if _, err := s.conn.Write(s.buf); err != nil {
			fail(err)
			// A datagram socket whose peer went away stays broken
			// (ECONNREFUSED); dial again on the next batch.
			s.close()
			return written
		}
		written++
	}
	return written
}

// writeStream frames the whole batch and sends it in one write.
func (s *syslogSink) writeStream(b *batch, fail func(error)) int {
	s.buf = s.buf[:0]
	s.ends = s.ends[:0]
	for i := 0; i < b.n(); i++ {
		s.msg = s.appendMessage(s.msg[:0], b, i)
		s.buf = strconv.AppendInt(s.buf, int64(len(s.msg)), 10)
		s.buf = append(s.buf, ' ')
		s.buf = append(s.buf, s.msg...)
		s.ends = append(s.ends, len(s.buf))
	}
	s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
	n, err := s.conn.Write(s.buf)
	if err == nil {
		return b.n()
	}
	fail(err)
	// The peer saw a cut frame at best; start over on a new connection.
	s.close()
	w := 0
	for w < len(s.ends) && s.ends[w] <= n {
		w++
	}
	return w
}
