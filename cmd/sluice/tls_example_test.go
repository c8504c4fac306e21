package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTLSExampleRuns: `sluice run -config configs/examples/tls.toml` starts
// from the repository root with nothing else and serves what the file's
// comment promises: each group's own certificate by SNI, the mock /hello,
// HTTP redirected to HTTPS, and the mutual-TLS group open to the committed
// example client certificate only. Skips when its fixed ports are taken.
func TestTLSExampleRuns(t *testing.T) {
	const plain, secure, admin = "127.0.0.1:8080", "127.0.0.1:8443", "127.0.0.1:9901"
	for _, addr := range []string{plain, secure, admin} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("example port %s is not free: %v", addr, err)
		}
		_ = ln.Close()
	}
	root := filepath.Join("..", "..")
	g := &gateway{stderr: &syncBuffer{}, done: make(chan struct{}), listen: plain, admin: admin}
	g.cmd = exec.Command(sluiceBin, "run", "-config", "configs/examples/tls.toml")
	g.cmd.Dir = root
	g.cmd.Stdout, g.cmd.Stderr = g.stderr, g.stderr
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.err = g.cmd.Wait(); close(g.done) }()
	t.Cleanup(func() {
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.done:
		case <-time.After(10 * time.Second):
			_ = g.cmd.Process.Kill()
			<-g.done
		}
		if t.Failed() {
			t.Logf("sluice stderr:\n%s", g.stderr.String())
		}
	})
	if err := g.waitReady(10 * time.Second); err != nil {
		t.Fatalf("example not ready: %v\n%s", err, g.stderr.String())
	}
	certs := filepath.Join(root, "configs", "examples", "certs")
	pool := func(names ...string) *x509.CertPool {
		p := x509.NewCertPool()
		for _, n := range names {
			b, err := os.ReadFile(filepath.Join(certs, n))
			if err != nil || !p.AppendCertsFromPEM(b) {
				t.Fatalf("%s: %v", n, err)
			}
		}
		return p
	}
	roots := pool("a.example.test.pem", "b.example.test.pem", "mtls.example.test.pem")
	client := func(cert *tls.Certificate) *http.Client {
		cfg := &tls.Config{RootCAs: roots}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		return &http.Client{Timeout: 5 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{TLSClientConfig: cfg,
				DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
					_, port, _ := net.SplitHostPort(addr)
					return net.Dial(network, "127.0.0.1:"+port)
				}}}
	}
	fetch := func(c *http.Client, url string) (*http.Response, string) {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, host := range []string{"a", "b"} {
		resp, body := fetch(client(nil), "https://"+host+".example.test:8443/hello")
		if resp.StatusCode != 200 || !strings.Contains(body, "hello from "+host+".example.test") ||
			resp.TLS.PeerCertificates[0].DNSNames[0] != host+".example.test" || resp.Header.Get("Strict-Transport-Security") == "" {
			t.Errorf("%s: %d %q cert %v", host, resp.StatusCode, body, resp.TLS.PeerCertificates[0].DNSNames)
		}
	}
	resp, _ := fetch(client(nil), "http://a.example.test:8080/hello?x=1")
	if resp.StatusCode != 308 || resp.Header.Get("Location") != "https://a.example.test:8443/hello?x=1" {
		t.Errorf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	cc, err := tls.LoadX509KeyPair(filepath.Join(certs, "client.pem"), filepath.Join(certs, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	resp, body := fetch(client(&cc), "https://mtls.example.test:8443/hello")
	if resp.StatusCode != 200 || !strings.Contains(body, "client certificate") {
		t.Errorf("mtls with the example client certificate: %d %s", resp.StatusCode, body)
	}
	resp, body = fetch(client(nil), "https://mtls.example.test:8443/hello")
	if resp.StatusCode != 401 || !strings.Contains(body, "ClientCertificateRequired") {
		t.Errorf("mtls without a client certificate: %d %s", resp.StatusCode, body)
	}
}

// TestTLSExampleChecks: the example passes check without a warning (its
// certificates are long-lived), from the repository root and from
// elsewhere (relative certificate paths follow the file).
func TestTLSExampleChecks(t *testing.T) {
	for _, path := range []string{filepath.Join("..", "..", "configs", "examples", "tls.toml")} {
		stdout, stderr, code := runSluice(t, "check", path)
		if code != 0 || stderr != "" || stdout != path+": ok: 3 groups, 3 APIs, 3 backends\n" {
			t.Errorf("check %s: exit %d stdout %q stderr %q", path, code, stdout, stderr)
		}
	}
}
