package proxy

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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/store/certs/certstest"
)

// pebble is a real ACME server (Debian's pebble) with its fake DNS
// (pebble-challtestsrv answering every name with 127.0.0.1), started on
// loopback ports of their own.
type pebble struct {
	dir   string
	mgmt  string
	roots *x509.CertPool
}

// startPebble validates HTTP-01 against httpPort and TLS-ALPN-01 against
// tlsPort, where the gateway listens.
func startPebble(t *testing.T, httpPort, tlsPort string) *pebble {
	t.Helper()
	bin, err := exec.LookPath("pebble")
	dnsBin, err2 := exec.LookPath("pebble-challtestsrv")
	if err != nil || err2 != nil {
		if os.Getenv("SLUICE_REQUIRE_EXTERNAL") == "1" {
			t.Fatalf("pebble is required (SLUICE_REQUIRE_EXTERNAL=1): %v %v", err, err2)
		}
		t.Skip("pebble not installed (scripts/install-test-deps.sh installs it)")
	}
	p := &pebble{dir: t.TempDir()}
	ca := certstest.NewCA(t, "pebble listener CA")
	leaf := ca.Issue(t, certstest.Options{DNS: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, CN: "localhost"})
	certPath, keyPath := leaf.Write(t, p.dir, "pebble")
	certstest.WriteFile(t, filepath.Join(p.dir, "listener-ca.pem"), ca.PEM)
	dnsAddr, mgmtDNS := freeLoopback(t), freeLoopback(t)
	acmeAddr, mgmt := freeLoopback(t), freeLoopback(t)
	p.mgmt = mgmt
	hp, _ := strconv.Atoi(httpPort)
	tp, _ := strconv.Atoi(tlsPort)
	cfg := `{"pebble": {"listenAddress": "` + acmeAddr + `", "managementListenAddress": "` + mgmt + `",
		"certificate": "` + certPath + `", "privateKey": "` + keyPath + `",
		"httpPort": ` + strconv.Itoa(hp) + `, "tlsPort": ` + strconv.Itoa(tp) + `,
		"ocspResponderURL": "", "externalAccountBindingRequired": false}}`
	certstest.WriteFile(t, filepath.Join(p.dir, "pebble.json"), []byte(cfg))
	dns := exec.Command(dnsBin, "-dns01", dnsAddr, "-http01", "", "-https01", "", "-tlsalpn01", "",
		"-management", mgmtDNS, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	dns.Stdout, dns.Stderr = io.Discard, io.Discard
	if err := dns.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dns.Process.Kill(); _ = dns.Wait() })
	srv := exec.Command(bin, "-config", filepath.Join(p.dir, "pebble.json"), "-dnsserver", dnsAddr)
	srv.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	log, _ := os.Create(filepath.Join(p.dir, "pebble.log"))
	srv.Stdout, srv.Stderr = log, log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(p.dir, "pebble.log"))
			t.Logf("pebble log:\n%s", b)
		}
	})
	// Pebble's issuing root changes every run: fetch it from its
	// management interface once it answers.
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := hc.Get("https://" + mgmt + "/roots/0")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			p.roots = x509.NewCertPool()
			if resp.StatusCode == 200 && p.roots.AppendCertsFromPEM(b) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not start: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

const acmeConfig = `
[server]
listen = ["{{PLAIN}}"]
[[server.listeners]]
address = "{{TLS}}"
tls = true
[tls]
unknown_sni = "refuse"
[[backends]]
name = "o"
targets = [{ url = "{{ORIGIN}}" }]
[[groups]]
name = "h"
hosts = ["h.acme.test"]
acme = { email = "ops@example.test", directory = "{{ACME}}", challenge = "http-01", storage = "{{DIR}}/acme-h", ca_root = "file:{{DIR}}/listener-ca.pem" }
[[groups.apis]]
name = "echo"
path = "/echo"
backend = "o"
[[groups]]
name = "t"
hosts = ["t.acme.test"]
acme = { email = "ops@example.test", directory = "{{ACME}}", challenge = "tls-alpn-01", storage = "{{DIR}}/acme-t", ca_root = "file:{{DIR}}/listener-ca.pem" }
[[groups.apis]]
name = "echo"
path = "/echo"
backend = "o"
`

// TestTLSACMEPebble is acceptance 2 of issue 11: against a real ACME
// server, certificates are obtained over HTTP-01 and over TLS-ALPN-01,
// served to clients that verify them against the ACME server's root, and
// renewed when forced, without a restart.
func TestTLSACMEPebble(t *testing.T) {
	var p *pebble
	g := startTLSGateway(t, acmeConfig, func(g *tlsGateway) {
		_, hp, _ := net.SplitHostPort(g.plain)
		_, tp, _ := net.SplitHostPort(g.secure)
		p = startPebble(t, hp, tp)
		b, err := os.ReadFile(filepath.Join(p.dir, "listener-ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
		certstest.WriteFile(t, filepath.Join(g.dir, "listener-ca.pem"), b)
		cfg, _ := os.ReadFile(filepath.Join(p.dir, "pebble.json"))
		g.extra = []string{"{{ACME}}", "https://" + between(string(cfg), `"listenAddress": "`, `"`) + "/dir"}
	})
	// As Server.Listen does once every listener is bound.
	g.srv.edge.acme.listenersBound(g.plain, g.secure)
	for _, name := range []string{"h.acme.test", "t.acme.test"} {
		first := waitACMECert(t, g, p, name, nil)
		t.Logf("%s: obtained serial %v, expires %v", name, first.SerialNumber, first.NotAfter)
		// Served over a verified connection, end to end.
		resp, _ := get(t, g.client(&tls.Config{RootCAs: p.roots}), "https://"+name+"/echo")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", name, resp.StatusCode)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		err := g.srv.RenewCertificate(ctx, name, true)
		cancel()
		if err != nil {
			t.Fatalf("%s: forced renewal: %v", name, err)
		}
		renewed := waitACMECert(t, g, p, name, first)
		t.Logf("%s: renewed, serial %v", name, renewed.SerialNumber)
	}
}

// waitACMECert waits until a handshake for name presents a certificate
// that verifies against pebble's root and differs from not.
func waitACMECert(t *testing.T, g *tlsGateway, p *pebble, name string, not *x509.Certificate) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", g.secure,
			&tls.Config{ServerName: name, RootCAs: p.roots})
		if err == nil {
			leaf := c.ConnectionState().PeerCertificates[0]
			_ = c.Close()
			if not == nil || leaf.SerialNumber.Cmp(not.SerialNumber) != 0 {
				return leaf
			}
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: no ACME certificate within 90s (last error %v)", name, lastErr)
	return nil
}

func between(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	s = s[i+len(start):]
	if j := strings.Index(s, end); j >= 0 {
		return s[:j]
	}
	return s
}
