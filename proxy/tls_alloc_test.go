//go:build !race

package proxy

import (
	"bytes"
	"crypto/tls"
	"io"
	"testing"
	"time"

	"github.com/sluicegw/sluice/store/certs/certstest"
)

// TestTLSRequestZeroAllocs is acceptance 5 of issue 11: after the
// handshake, a request over a TLS keep-alive connection (SNI group, HSTS,
// X-Forwarded-Proto, upstream through the pool, 1 KiB answer) costs the
// gateway no allocation. testing.AllocsPerRun counts the whole process, and
// crypto/tls itself allocates one small object per record it reads
// (Conn.readFromUntil boxes an atLeastReader: one on the server for the
// request, one on the client for the answer), so the gateway's count must
// equal that of a bare crypto/tls echo measured the same way.
func TestTLSRequestZeroAllocs(t *testing.T) {
	floor := bareTLSEchoAllocs(t)
	g := startTLSGateway(t, sniConfig, prepareSNI)
	c, err := tls.Dial("tcp", g.secure, &tls.Config{ServerName: "a.test", RootCAs: g.ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /data HTTP/1.1\r\nHost: a.test\r\n\r\n")
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	// The first answer tells the length of every later one (same headers,
	// same-length request id and date).
	buf := make([]byte, 64<<10)
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	n, err := readAnswer(c, buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 ")) || !bytes.Contains(buf[:n], []byte(headerHSTS)) {
		t.Fatalf("answer %q", buf[:min(n, 400)])
	}
	one := func() {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 50; i++ {
		one()
	}
	allocs := testing.AllocsPerRun(500, one)
	if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 ")) {
		t.Fatalf("answer %q", buf[:min(n, 200)])
	}
	if allocs != floor {
		t.Fatalf("%.2f allocations per TLS request; a bare crypto/tls echo makes %.2f: the gateway adds %.2f, want 0",
			allocs, floor, allocs-floor)
	}
	t.Logf("%.2f allocations per request, all of them crypto/tls's own (a bare TLS echo: %.2f)", allocs, floor)
}

// bareTLSEchoAllocs measures crypto/tls alone: a loopback TLS server that
// answers each read with a fixed 1 KiB record, and the same client loop.
func bareTLSEchoAllocs(t *testing.T) float64 {
	ca := certstest.NewCA(t, "bare")
	leaf := ca.Issue(t, certstest.Options{DNS: []string{"a.test"}})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{leaf.TLS}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	answer := bytes.Repeat([]byte("x"), 1024)
	go func() {
		sc, err := ln.Accept()
		if err != nil {
			return
		}
		defer sc.Close()
		in := make([]byte, 4096)
		for {
			if _, err := sc.Read(in); err != nil {
				return
			}
			if _, err := sc.Write(answer); err != nil {
				return
			}
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "a.test", RootCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /data HTTP/1.1\r\nHost: a.test\r\n\r\n")
	buf := make([]byte, len(answer))
	one := func() {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 50; i++ {
		one()
	}
	return testing.AllocsPerRun(500, one)
}

// readAnswer reads one answer with a Content-Length body.
func readAnswer(r io.Reader, buf []byte) (int, error) {
	n := 0
	for {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
		if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 {
			h := buf[:i]
			j := bytes.Index(h, []byte("Content-Length: "))
			if j < 0 {
				return n, io.ErrUnexpectedEOF
			}
			cl := 0
			for _, d := range h[j+16:] {
				if d < '0' || d > '9' {
					break
				}
				cl = cl*10 + int(d-'0')
			}
			if n >= i+4+cl {
				return n, nil
			}
		}
	}
}
