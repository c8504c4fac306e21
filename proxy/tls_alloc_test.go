//go:build !race

package proxy

import (
	"bytes"
	"crypto/tls"
	"io"
	"os"
	"testing"
	"time"

	"github.com/sluicegw/sluice/store/certs/certstest"
)

// TestTLSRequestZeroAllocs is acceptance 5 of issue 11: after the
// handshake, a request over a TLS keep-alive connection (SNI group, HSTS,
// X-Forwarded-Proto, upstream through the pool, 1 KiB answer) allocates
// nothing. testing.AllocsPerRun counts the whole process, client included.
//
// Go's crypto/tls boxes an atLeastReader for every record read that needs
// bytes from the socket (Conn.readFromUntil hands it to
// bytes.Buffer.ReadFrom, whose interface call makes it escape): one on the
// server for the request, one on the client for the answer. The product's
// PGO profile (cmd/sluice/default.pgo; scripts/pgo-profile.sh) marks that
// call hot, so the compiler inlines ReadFrom there, calls atLeastReader
// directly and keeps it on the stack. `go build` applies the profile to the
// binary by itself; `make test` builds the tests with it and sets
// SLUICE_PGO=1, and then the count must be 0. Built without it, the
// gateway must still add nothing to what a bare crypto/tls echo allocates.
func TestTLSRequestZeroAllocs(t *testing.T) {
	floor := bareTLSEchoAllocs(t)
	one := tlsRequestLoop(t)
	for i := 0; i < 50; i++ {
		one()
	}
	allocs := testing.AllocsPerRun(500, one)
	if os.Getenv("SLUICE_PGO") == "1" {
		if allocs != 0 || floor != 0 {
			t.Fatalf("built with the PGO profile: %.2f allocations per TLS request (a bare crypto/tls echo: %.2f), want 0: "+
				"the profile no longer lets the compiler inline bytes.Buffer.ReadFrom into crypto/tls's readFromUntil "+
				"(a Go upgrade moved it?); regenerate it with scripts/pgo-profile.sh", allocs, floor)
		}
		t.Logf("built with the PGO profile: 0 allocations per TLS request, client included")
		return
	}
	if allocs != floor {
		t.Fatalf("%.2f allocations per TLS request; a bare crypto/tls echo makes %.2f: the gateway adds %.2f, want 0",
			allocs, floor, allocs-floor)
	}
	t.Logf("%.2f allocations per request, all of them crypto/tls's own (a bare TLS echo: %.2f); built without the PGO profile (make test sets it)", allocs, floor)
}

// BenchmarkTLSRequest is one request over a TLS keep-alive connection
// through the gateway (the TLS read path scripts/pgo-profile.sh profiles).
func BenchmarkTLSRequest(b *testing.B) {
	one := tlsRequestLoop(b)
	b.ReportAllocs()
	for b.Loop() {
		one()
	}
}

// tlsRequestLoop starts a TLS gateway, checks its first answer and returns
// a function that sends the same request and reads its answer.
func tlsRequestLoop(tb testing.TB) func() {
	g := startTLSGateway(tb, sniConfig, prepareSNI)
	c, err := tls.Dial("tcp", g.secure, &tls.Config{ServerName: "a.test", RootCAs: g.ca.Pool()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	req := []byte("GET /data HTTP/1.1\r\nHost: a.test\r\n\r\n")
	_ = c.SetDeadline(time.Now().Add(10 * time.Minute))
	// The first answer tells the length of every later one (same headers,
	// same-length request id and date).
	buf := make([]byte, 64<<10)
	if _, err := c.Write(req); err != nil {
		tb.Fatal(err)
	}
	n, err := readAnswer(c, buf)
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 ")) || !bytes.Contains(buf[:n], []byte(headerHSTS)) {
		tb.Fatalf("answer %q", buf[:min(n, 400)])
	}
	return func() {
		if _, err := c.Write(req); err != nil {
			tb.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			tb.Fatal(err)
		}
		if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 ")) {
			tb.Fatalf("answer %q", buf[:min(n, 200)])
		}
	}
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
