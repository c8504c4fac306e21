package accesslog

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rfc5424 matches SYSLOG-MSG with NILVALUE structured data:
// <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD SP MSG
var rfc5424 = regexp.MustCompile(`^<([0-9]{1,3})>([1-9][0-9]{0,2}) (\S+) ([\x21-\x7e]{1,255}) ([\x21-\x7e]{1,48}) ([\x21-\x7e]{1,128}) ([\x21-\x7e]{1,32}) (-|\[.+?\]) (.*)$`)

type syslogMsg struct {
	pri    int
	ts     time.Time
	host   string
	app    string
	procid string
	msgid  string
	line   line
	rawMsg string
}

func parseSyslog(t *testing.T, b []byte) syslogMsg {
	t.Helper()
	m := rfc5424.FindSubmatch(b)
	if m == nil {
		t.Fatalf("not RFC 5424: %q", b)
	}
	pri, _ := strconv.Atoi(string(m[1]))
	if pri > 191 || string(m[2]) != "1" || string(m[8]) != "-" {
		t.Fatalf("PRI %d, VERSION %s, SD %s", pri, m[2], m[8])
	}
	ts, err := time.Parse(time.RFC3339Nano, string(m[3]))
	if err != nil {
		t.Fatalf("TIMESTAMP %q: %v", m[3], err)
	}
	return syslogMsg{pri: pri, ts: ts, host: string(m[4]), app: string(m[5]), procid: string(m[6]),
		msgid: string(m[7]), line: decodeLine(t, m[9]), rawMsg: string(m[9])}
}

func checkSyslog(t *testing.T, msgs []syslogMsg, n int) {
	t.Helper()
	if len(msgs) != n {
		t.Fatalf("got %d messages, want %d", len(msgs), n)
	}
	host, _ := os.Hostname()
	for i, m := range msgs {
		// facility local3 (19); severity info for 200, warning for 404, err for 503
		wantSev := []int{sevInfo, sevWarning, sevError}[i%3]
		if m.pri != 19*8+wantSev {
			t.Fatalf("message %d: PRI %d, want %d", i, m.pri, 19*8+wantSev)
		}
		if !m.ts.Equal(time.Unix(0, testTime).Truncate(time.Millisecond)) || m.ts.Location() != time.UTC {
			t.Fatalf("TIMESTAMP %v", m.ts)
		}
		if m.host != host || m.app != "gw-test" || m.procid != strconv.Itoa(os.Getpid()) || m.msgid != "access" {
			t.Fatalf("header %+v", m)
		}
		if m.line.RequestID != string(idOf(i)) || m.line.Status != []int{200, 404, 503}[i%3] {
			t.Fatalf("message %d: %+v", i, m.line)
		}
	}
}

func syslogLogger(t *testing.T, network, addr string) *Logger {
	t.Helper()
	l, err := New(Config{FlushInterval: Duration(10 * time.Millisecond), Sinks: []SinkConfig{{
		Type: "syslog", Network: network, Address: addr, AppName: "gw-test", Facility: "local3"}}})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func putSyslogRecords(l *Logger, n int) {
	for i := 0; i < n; i++ {
		put(l, []int{200, 404, 503}[i%3], i)
	}
}

func readDatagrams(t *testing.T, pc net.PacketConn, n int) []syslogMsg {
	t.Helper()
	var out []syslogMsg
	buf := make([]byte, 64<<10)
	for len(out) < n {
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d messages: %v", len(out), err)
		}
		out = append(out, parseSyslog(t, buf[:k]))
	}
	return out
}

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pc.(*net.UDPConn).SetReadBuffer(1 << 20)
	l := syslogLogger(t, "udp", pc.LocalAddr().String())
	const n = 60
	putSyslogRecords(l, n)
	msgs := readDatagrams(t, pc, n)
	shutdown(t, l)
	checkSyslog(t, msgs, n)
	checkAccounting(t, l.Stats(), n)
}

func TestSyslogUnix(t *testing.T) {
	dir, err := os.MkdirTemp("", "al") // short: sun_path is 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "log.sock")
	pc, err := net.ListenPacket("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	l := syslogLogger(t, "unix", path)
	const n = 60
	putSyslogRecords(l, n)
	msgs := readDatagrams(t, pc, n)
	shutdown(t, l)
	checkSyslog(t, msgs, n)
	checkAccounting(t, l.Stats(), n)
}

// readOctetCounted reads RFC 6587 "LEN SP MSG" frames until EOF.
// It runs on a helper goroutine, so it reports with Errorf only.
func readOctetCounted(t *testing.T, r *bufio.Reader) [][]byte {
	var out [][]byte
	for {
		lenStr, err := r.ReadString(' ')
		if err == io.EOF && lenStr == "" {
			return out
		}
		if err != nil {
			t.Errorf("frame length: %v", err)
			return out
		}
		n, err := strconv.Atoi(strings.TrimSuffix(lenStr, " "))
		if err != nil || n <= 0 || lenStr[0] == '0' {
			t.Errorf("bad frame length %q", lenStr)
			return out
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(r, msg); err != nil {
			t.Errorf("frame body: %v", err)
			return out
		}
		out = append(out, msg)
	}
}

func TestSyslogTCP(t *testing.T) {
	ln := listen(t)
	defer ln.Close()
	got := make(chan [][]byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got <- readOctetCounted(t, bufio.NewReader(c))
	}()
	l := syslogLogger(t, "tcp", ln.Addr().String())
	const n = 300
	putSyslogRecords(l, n)
	shutdown(t, l) // closes the connection: the reader sees EOF
	var msgs []syslogMsg
	for _, m := range <-got {
		msgs = append(msgs, parseSyslog(t, m))
	}
	checkSyslog(t, msgs, n)
	checkAccounting(t, l.Stats(), n)
}

// TestSyslogTCPDown: no listener; records are counted dropped, not lost.
func TestSyslogTCPDown(t *testing.T) {
	ln := listen(t)
	addr := ln.Addr().String()
	ln.Close()
	l := syslogLogger(t, "tcp", addr)
	putSyslogRecords(l, 30)
	shutdown(t, l)
	st := l.Stats()
	checkAccounting(t, st, 30)
	if st.Sinks[0].Dropped != 30 || st.Sinks[0].Errors == 0 {
		t.Fatalf("%+v", st.Sinks[0])
	}
}
