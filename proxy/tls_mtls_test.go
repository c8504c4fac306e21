package proxy

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicegw/sluice/bench/origin"
	"github.com/sluicegw/sluice/store/certs/certstest"
)

const mtlsConfig = `
[server]
listen = ["{{PLAIN}}"]
[[server.listeners]]
address = "{{TLS}}"
tls = true
[[backends]]
name = "o"
targets = [{ url = "{{ORIGIN}}" }]
[[consumers]]
name = "partner-a"
client_certificates = ["cn:partner-a"]
[[consumers]]
name = "partner-b"
client_certificates = ["sha256:{{FP}}"]
[[consumers]]
name = "partner-c"
client_certificates = ["san:c.partners.test"]
[[groups]]
name = "m"
hosts = ["m.test"]
certificates = [{ cert = "file:{{DIR}}/m.pem", key = "file:{{DIR}}/m.key" }]
client_auth = "require"
client_ca = "file:{{DIR}}/client-ca.pem"
client_identity_header = "X-Client-Cert"
[groups.auth]
modes = ["mtls"]
allowed_consumers = ["partner-a", "partner-b"]
[groups.rate_limit]
consumer = { rate = 0.001, burst = 2 }
[[groups.apis]]
name = "echo"
path = "/echo"
backend = "o"
[[groups]]
name = "open"
hosts = ["open.test"]
certificates = [{ cert = "file:{{DIR}}/open.pem", key = "file:{{DIR}}/open.key" }]
[[groups.apis]]
name = "echo"
path = "/echo"
backend = "o"
`

// TestTLSMutualConsumers: a client certificate from the group's CA
// identifies its consumer by CN, fingerprint or SAN; a missing or foreign
// certificate is refused with 401, a certificate naming no consumer with
// 401, a consumer outside allowed_consumers with 403. The verified
// identity goes upstream in a header the client cannot forge.
func TestTLSMutualConsumers(t *testing.T) {
	clientCA := certstest.NewCA(t, "client CA")
	foreignCA := certstest.NewCA(t, "foreign CA")
	a := clientCA.Issue(t, certstest.Options{CN: "partner-a", Client: true})
	b := clientCA.Issue(t, certstest.Options{CN: "whoever", Client: true})
	c := clientCA.Issue(t, certstest.Options{CN: "c", DNS: []string{"c.partners.test"}, Client: true})
	nobody := clientCA.Issue(t, certstest.Options{CN: "nobody", Client: true})
	foreign := foreignCA.Issue(t, certstest.Options{CN: "partner-a", Client: true})
	fp := sha256.Sum256(b.Cert.Raw)
	cfg := strings.Replace(mtlsConfig, "{{FP}}", hex.EncodeToString(fp[:]), 1)
	g := startTLSGateway(t, cfg, func(g *tlsGateway) {
		g.issue("m", "m.test")
		g.issue("open", "open.test")
		certstest.WriteFile(t, g.dir+"/client-ca.pem", clientCA.PEM)
	})
	call := func(cert *certstest.Leaf, host string, hdr ...string) (*http.Response, []byte) {
		cfg := &tls.Config{}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{cert.TLS}
		}
		return get(t, g.client(cfg), "https://"+host+"/echo", hdr...)
	}
	for _, c := range []struct {
		name   string
		cert   *certstest.Leaf
		status int
		code   string
		who    string
	}{
		{"by CN", a, 200, "", "partner-a"},
		{"by fingerprint", b, 200, "", "partner-b"},
		{"not allowed", c, 403, CodeConsumerNotAllowed, ""},
		{"no consumer", nobody, 401, CodeUnknownClientCert, ""},
		{"missing", nil, 401, CodeClientCertRequired, ""},
		{"foreign CA", foreign, 401, CodeInvalidClientCert, ""},
	} {
		resp, body := call(c.cert, "m.test", "X-Client-Cert", "cn=forged", "X-Consumer-Name", "forged")
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, resp.StatusCode, c.status, body)
			continue
		}
		if c.status != 200 {
			var e errorBody
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != c.code {
				t.Errorf("%s: body %s, want code %s", c.name, body, c.code)
			}
			continue
		}
		var e origin.Echo
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatal(err)
		}
		if e.Headers["X-Consumer-Name"] != c.who {
			t.Errorf("%s: X-Consumer-Name %q, want %q", c.name, e.Headers["X-Consumer-Name"], c.who)
		}
		id := e.Headers["X-Client-Cert"]
		if !strings.HasPrefix(id, "cn=") || !strings.Contains(id, ";sha256=") || strings.Contains(id, "forged") {
			t.Errorf("%s: X-Client-Cert %q, want the verified identity", c.name, id)
		}
	}
	// Limits by consumer apply to certificate-identified consumers: a has
	// one request of its burst of 2 left, b's bucket is its own.
	if resp, _ := call(a, "m.test"); resp.StatusCode != 200 {
		t.Fatalf("partner-a's second request: %d", resp.StatusCode)
	}
	if resp, _ := call(a, "m.test"); resp.StatusCode != 429 {
		t.Fatalf("partner-a's third request: %d, want 429", resp.StatusCode)
	}
	if resp, _ := call(b, "m.test"); resp.StatusCode != 200 {
		t.Fatalf("partner-b after partner-a was throttled: %d", resp.StatusCode)
	}
	// A client certificate that does not even parse fails the handshake,
	// counted as bad_client_certificate.
	before := tlsFailClientCert.Get()
	// (With TLS 1.3 the client finishes first and sees the alert later.)
	if bad, err := tls.Dial("tcp", g.secure, &tls.Config{ServerName: "m.test", RootCAs: g.ca.Pool(),
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &tls.Certificate{Certificate: [][]byte{[]byte("not DER")}, PrivateKey: a.TLS.PrivateKey}, nil
		}}); err == nil {
		defer bad.Close()
	}
	waitFor(t, func() bool { return tlsFailClientCert.Get() == before+1 })
	// A group without client_auth never asks for a certificate.
	cs := tlsConnState(t, g, "open.test")
	if cs.HandshakeComplete && len(cs.PeerCertificates) == 0 {
		t.Fatal("no server certificate")
	}
}

func tlsConnState(t *testing.T, g *tlsGateway, sni string) tls.ConnectionState {
	t.Helper()
	asked := false
	cfg := &tls.Config{ServerName: sni, RootCAs: g.ca.Pool(),
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			asked = true
			return &tls.Certificate{}, nil
		}}
	c, err := tls.Dial("tcp", g.secure, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if asked {
		t.Fatalf("%s: the server asked for a client certificate", sni)
	}
	return c.ConnectionState()
}

const httpsUpstreamConfig = `
[server]
listen = ["{{PLAIN}}"]
[[backends]]
name = "private"
targets = [{ url = "https://{{UP}}", tls = { ca = "file:{{DIR}}/up-ca.pem", server_name = "origin.internal" } }]
[[backends]]
name = "wrongca"
targets = [{ url = "https://{{UP}}" }]
[backends.tls]
ca = "file:{{DIR}}/other-ca.pem"
server_name = "origin.internal"
[[backends]]
name = "mtls"
targets = [{ url = "https://{{UPM}}" }]
[backends.tls]
ca = "file:{{DIR}}/up-ca.pem"
server_name = "origin.internal"
client_cert = "file:{{DIR}}/gw-client.pem"
client_key = "file:{{DIR}}/gw-client.key"
[[backends]]
name = "mtls-nocert"
targets = [{ url = "https://{{UPM}}" }]
[backends.tls]
ca = "file:{{DIR}}/up-ca.pem"
server_name = "origin.internal"
[[groups]]
name = "g"
[[groups.apis]]
name = "private"
path = "/private/{p:*}"
backend = "private"
backend_path = "/{p}"
[[groups.apis]]
name = "wrongca"
path = "/wrongca/{p:*}"
backend = "wrongca"
backend_path = "/{p}"
[[groups.apis]]
name = "mtls"
path = "/mtls/{p:*}"
backend = "mtls"
backend_path = "/{p}"
[[groups.apis]]
name = "mtls-nocert"
path = "/mtls-nocert/{p:*}"
backend = "mtls-nocert"
backend_path = "/{p}"
`

// TestTLSHTTPSUpstream: https:// targets verified against a private CA
// (200, connections reused with TLS resumption), against the wrong CA (502
// that says so), and with a client certificate for an origin that
// requires mutual TLS.
func TestTLSHTTPSUpstream(t *testing.T) {
	upCA := certstest.NewCA(t, "origin CA")
	otherCA := certstest.NewCA(t, "other CA")
	gwClientCA := certstest.NewCA(t, "gateway client CA")
	srvCert := upCA.Issue(t, certstest.Options{DNS: []string{"origin.internal"}, CN: "origin.internal"})
	var handshakes, resumed atomic.Int64
	up := startTLSOrigin(t, &tls.Config{Certificates: []tls.Certificate{srvCert.TLS},
		VerifyConnection: func(cs tls.ConnectionState) error {
			handshakes.Add(1)
			if cs.DidResume {
				resumed.Add(1)
			}
			return nil
		}})
	upm := startTLSOrigin(t, &tls.Config{Certificates: []tls.Certificate{srvCert.TLS},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: gwClientCA.Pool()})
	gwClient := gwClientCA.Issue(t, certstest.Options{CN: "sluice", Client: true})
	cfg := strings.NewReplacer("{{UP}}", up.Addr(), "{{UPM}}", upm.Addr()).Replace(httpsUpstreamConfig)
	g := startTLSGateway(t, cfg, func(g *tlsGateway) {
		certstest.WriteFile(t, g.dir+"/up-ca.pem", upCA.PEM)
		certstest.WriteFile(t, g.dir+"/other-ca.pem", otherCA.PEM)
		gwClient.Write(t, g.dir, "gw-client")
	})
	plain := &http.Client{}
	base := "http://" + g.plain
	for i := 0; i < 3; i++ {
		resp, body := get(t, plain, base+"/private/echo")
		if resp.StatusCode != 200 {
			t.Fatalf("private CA: %d %s", resp.StatusCode, body)
		}
		var e origin.Echo
		if err := json.Unmarshal(body, &e); err != nil || e.Host != "origin.internal" && !strings.HasPrefix(e.Host, "127.0.0.1") {
			t.Fatalf("echo %s (%v)", body, err)
		}
	}
	if n := up.Requests(); n != 3 {
		t.Fatalf("origin saw %d requests, want 3", n)
	}
	// Kept alive: three requests, one handshake.
	if n := handshakes.Load(); n != 1 {
		t.Fatalf("%d TLS handshakes with the origin for 3 sequential requests, want 1 (connection reuse)", n)
	}
	// Concurrent requests open more connections to the origin; each new one
	// resumes the TLS session from the pool's client session cache.
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := plain.Get(base + "/private/echo?delay=100ms")
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if h, r := handshakes.Load(), resumed.Load(); h < 2 || r < 1 {
		t.Fatalf("%d handshakes, %d resumed: new connections to the origin must resume the TLS session", h, r)
	}
	resp, body := get(t, plain, base+"/wrongca/echo")
	if resp.StatusCode != 502 || !strings.Contains(string(body), "TLS certificate was not accepted") {
		t.Fatalf("wrong CA: %d %s, want 502 naming the certificate", resp.StatusCode, body)
	}
	resp, body = get(t, plain, base+"/mtls/echo")
	if resp.StatusCode != 200 {
		t.Fatalf("origin requiring a client certificate: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, plain, base+"/mtls-nocert/echo")
	if resp.StatusCode != 502 {
		t.Fatalf("without a client certificate: %d %s, want 502", resp.StatusCode, body)
	}
}

// startTLSOrigin runs the bench origin behind TLS on loopback.
func startTLSOrigin(t *testing.T, cfg *tls.Config) *origin.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := origin.Serve(tls.NewListener(ln, cfg))
	t.Cleanup(func() { _ = o.Close() })
	return o
}
