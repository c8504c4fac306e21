package bench

import (
	"crypto/tls"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// startTLSOrigin serves size-byte answers over TLS on 127.0.0.1 with the
// certificate gencert wrote into dir.
func startTLSOrigin(t *testing.T, dir string, size int) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(strings.Repeat("x", size))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "bench.test" || r.URL.Path != "/bench" {
			http.Error(w, "unexpected "+r.Host+r.URL.Path, http.StatusNotFound)
			return
		}
		_, _ = w.Write(body)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func TestTLSLoad(t *testing.T) {
	dir := t.TempDir()
	if code, out, errs := runMain(t, "tls-load", "-mode", "gencert", "-dir", dir, "-sni", "bench.test"); code != 0 {
		t.Fatalf("gencert: exit %d\n%s%s", code, out, errs)
	}
	addr := startTLSOrigin(t, dir, 512)
	ca := filepath.Join(dir, "cert.pem")
	common := []string{"-addr", addr, "-ca", ca, "-path", "/bench?size=512", "-size", "512", "-timeout", "60s"}

	code, out, errs := runMain(t, append([]string{"tls-load", "-mode", "keepalive", "-n", "20", "-c", "2"}, common...)...)
	if code != 0 {
		t.Fatalf("keepalive: exit %d\n%s%s", code, out, errs)
	}
	if !regexp.MustCompile(`^keepalive: 20 done, 0 errors, [0-9.]+s, [0-9]+/s, 0 resumed\n$`).MatchString(out) {
		t.Errorf("keepalive output %q", out)
	}

	// -q: "done errors seconds rate resumed"; after the priming connection
	// every connection resumes with a TLS 1.3 session ticket.
	code, out, errs = runMain(t, append([]string{"tls-load", "-mode", "resumed", "-n", "4", "-c", "1", "-q"}, common...)...)
	if code != 0 {
		t.Fatalf("resumed: exit %d\n%s%s", code, out, errs)
	}
	f := strings.Fields(out)
	if len(f) != 5 || f[0] != "4" || f[1] != "0" {
		t.Fatalf("resumed -q output %q", out)
	}
	if r, _ := strconv.Atoi(f[4]); r != 4 {
		t.Errorf("resumed %d of 4 sessions (%q)", r, out)
	}

	code, out, errs = runMain(t, append([]string{"tls-load", "-mode", "full", "-n", "3", "-c", "1", "-q"}, common...)...)
	if f := strings.Fields(out); code != 0 || len(f) != 5 || f[0] != "3" || f[1] != "0" || f[4] != "0" {
		t.Errorf("full: exit %d, output %q %s", code, out, errs)
	}

	// A wrong body size is counted as an error: exit 1 and the first error.
	wrong := append([]string{"tls-load", "-mode", "keepalive", "-n", "3", "-c", "1"}, common...)
	wrong = append(wrong, "-size", "100")
	if code, out, errs := runMain(t, wrong...); code != 1 || !strings.Contains(out, "3 errors") || !strings.Contains(errs, "first error: status 200, 512 bytes") {
		t.Errorf("wrong size: exit %d\n%s%s", code, out, errs)
	}
}

func TestTLSLoadRefuses(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "cert.pem")
	if code, _, errs := runMain(t, "tls-load", "-mode", "gencert", "-dir", dir); code != 0 {
		t.Fatalf("gencert: exit %d %s", code, errs)
	}
	for _, addr := range []string{"192.0.2.1:443", "10.0.0.1:8443", "[2001:db8::1]:443", "example.com:443", "", "127.0.0.1"} {
		code, out, errs := runMain(t, "tls-load", "-addr", addr, "-ca", ca, "-n", "1", "-c", "1")
		if code != 2 || out != "" || !strings.Contains(errs, "loopback") {
			t.Errorf("-addr %q: exit %d, want 2, stdout %q, stderr %q", addr, code, out, errs)
		}
	}
	for _, args := range [][]string{
		{"-mode", "nope", "-addr", "127.0.0.1:1", "-ca", ca},
		{"-mode", "gencert"},
		{"-addr", "127.0.0.1:1", "-ca", ca, "-n", "0"},
		{"-addr", "127.0.0.1:1", "-ca", filepath.Join(dir, "missing.pem")},
		{"-addr", "127.0.0.1:1", "-ca", filepath.Join(dir, "key.pem")},
		{"-nope"},
		{"extra"},
	} {
		if code, _, errs := runMain(t, append([]string{"tls-load"}, args...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errs)
		}
	}
	if code, _, _ := runMain(t, "tls-load", "-h"); code != 0 {
		t.Errorf("tls-load -h: exit %d", code)
	}
	// A loopback address nothing listens on is a failed run, not a refusal.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := ln.Addr().String()
	ln.Close()
	if code, _, errs := runMain(t, "tls-load", "-mode", "full", "-addr", free, "-ca", ca, "-n", "1", "-c", "1", "-timeout", "10s"); code != 1 {
		t.Errorf("closed port: exit %d, want 1 (%s)", code, errs)
	}
}
