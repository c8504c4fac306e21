package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluicegw/sluice/bench/origin"
	"github.com/sluicegw/sluice/store/certs/certstest"
)

// tlsGateway is a real gateway with a plain and a TLS listener on loopback,
// its certificates issued by an in-test CA into dir.
type tlsGateway struct {
	t       testing.TB
	srv     *Server
	rl      *Reloader
	cfgPath string
	dir     string
	plain   string
	secure  string
	origin  *origin.Server
	ca      *certstest.CA
	extra   []string // more old, new replacement pairs for the config
}

// startTLSGateway writes cfg with {{PLAIN}}, {{TLS}}, {{TLSPORT}},
// {{DIR}} and {{ORIGIN}} replaced, then serves it. Certificate files the
// config names must already be in g.dir: prepare writes them first.
func startTLSGateway(t testing.TB, cfg string, prepare func(g *tlsGateway)) *tlsGateway {
	t.Helper()
	g := &tlsGateway{t: t, dir: t.TempDir(), ca: certstest.NewCA(t, "sluice test CA")}
	o, err := origin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	g.origin = o
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.plain, g.secure = pln.Addr().String(), tln.Addr().String()
	if prepare != nil {
		prepare(g)
	}
	g.cfgPath = filepath.Join(g.dir, "sluice.toml")
	g.write(cfg)
	g.srv = New(Options{})
	g.rl = NewReloader(g.srv, Source{Name: g.cfgPath, Path: g.cfgPath})
	if _, err := g.rl.Reload(); err != nil {
		t.Fatalf("config rejected: %v", err)
	}
	go func() { _ = g.srv.Serve(pln) }()
	go func() { _ = g.srv.Serve(g.srv.ListenTLS(tln)) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.srv.Shutdown(ctx)
	})
	waitFor(t, func() bool { return g.srv.serving.Load() == 2 })
	return g
}

func (g *tlsGateway) write(cfg string) {
	_, port, _ := net.SplitHostPort(g.secure)
	r := strings.NewReplacer(append([]string{"{{PLAIN}}", g.plain, "{{TLS}}", g.secure, "{{TLSPORT}}", port,
		"{{DIR}}", g.dir, "{{ORIGIN}}", g.origin.URL()}, g.extra...)...)
	certstest.WriteFile(g.t, filepath.Join(g.dir, "sluice.toml"), []byte(r.Replace(cfg)))
}

// issue writes a server certificate for names as dir/file.pem and .key.
func (g *tlsGateway) issue(file string, names ...string) *certstest.Leaf {
	l := g.ca.Issue(g.t, certstest.Options{DNS: names, CN: names[0]})
	l.Write(g.t, g.dir, file)
	return l
}

// client is an HTTPS client that dials the gateway's TLS listener whatever
// the URL's host, so the URL's host is the SNI and the Host header.
func (g *tlsGateway) client(cfg *tls.Config) *http.Client {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.RootCAs == nil {
		cfg.RootCAs = g.ca.Pool()
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Transport: &http.Transport{
			TLSClientConfig: cfg,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, g.secure)
			},
			ForceAttemptHTTP2: false,
		},
	}
}

func get(t *testing.T, c *http.Client, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// handshake dials the TLS listener with cfg and returns the served leaf.
func (g *tlsGateway) handshake(cfg *tls.Config) (*x509.Certificate, error) {
	if cfg.RootCAs == nil {
		cfg.RootCAs = g.ca.Pool()
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", g.secure, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

const sniConfig = `
[server]
listen = ["{{PLAIN}}"]
[[server.listeners]]
address = "{{TLS}}"
tls = true
[tls]
default_certificate = { cert = "file:{{DIR}}/default.pem", key = "file:{{DIR}}/default.key" }
[[backends]]
name = "o"
targets = [{ url = "{{ORIGIN}}" }]
[[groups]]
name = "a"
hosts = ["a.test"]
certificates = [{ cert = "file:{{DIR}}/a.pem", key = "file:{{DIR}}/a.key" }]
redirect_https = true
hsts = { max_age = "8760h", include_subdomains = true }
[[groups.apis]]
name = "echo"
path = "/echo"
backend = "o"
[[groups.apis]]
name = "data"
path = "/data"
backend = "o"
[[groups]]
name = "w"
hosts = ["*.w.test"]
certificates = [{ cert = "file:{{DIR}}/w.pem", key = "file:{{DIR}}/w.key" }]
[[groups.apis]]
name = "echo"
path = "/echo"
backend = "o"
`

func prepareSNI(g *tlsGateway) {
	g.issue("default", "default.test")
	g.issue("a", "a.test")
	g.issue("w", "*.w.test")
}

// TestTLSSNIPicksCertificate: exact and wildcard names get their group's
// certificate; unknown names and clients without SNI get the default one.
func TestTLSSNIPicksCertificate(t *testing.T) {
	g := startTLSGateway(t, sniConfig, prepareSNI)
	cases := []struct{ sni, want string }{
		{"a.test", "a.test"},
		{"A.Test", "a.test"},
		{"x.w.test", "*.w.test"},
		{"y.w.test", "*.w.test"},
		{"unknown.test", "default.test"},
		{"", "default.test"},
	}
	for _, c := range cases {
		cfg := &tls.Config{ServerName: c.sni, InsecureSkipVerify: c.sni == "" || c.sni == "unknown.test"}
		leaf, err := g.handshake(cfg)
		if err != nil {
			t.Fatalf("SNI %q: %v", c.sni, err)
		}
		if leaf.DNSNames[0] != c.want {
			t.Errorf("SNI %q: served %v, want %q", c.sni, leaf.DNSNames, c.want)
		}
	}
	// And requests over it reach the group, with X-Forwarded-Proto https.
	resp, body := get(t, g.client(nil), "https://x.w.test/echo")
	var e origin.Echo
	if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if e.Headers["X-Forwarded-Proto"] != "https" {
		t.Fatalf("X-Forwarded-Proto %q, want https", e.Headers["X-Forwarded-Proto"])
	}
	// Plain requests say http.
	resp, body = get(t, &http.Client{}, "http://"+g.plain+"/echo", "Host", "x.w.test")
	if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != 200 || e.Headers["X-Forwarded-Proto"] != "http" {
		t.Fatalf("plain: %d X-Forwarded-Proto %q", resp.StatusCode, e.Headers["X-Forwarded-Proto"])
	}
	// The expiry of every served name is exported.
	var buf bytes.Buffer
	metrics.WritePrometheus(&buf, false)
	want := `sluice_tls_certificate_expiry_timestamp_seconds{name="*.w.test"} ` +
		strconv.FormatInt(leafOf(t, g, "x.w.test").NotAfter.Unix(), 10)
	if !strings.Contains(buf.String(), want) {
		t.Fatalf("metrics lack %q", want)
	}
}

func leafOf(t *testing.T, g *tlsGateway, sni string) *x509.Certificate {
	t.Helper()
	leaf, err := g.handshake(&tls.Config{ServerName: sni})
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// TestTLSUnknownSNIRefused: with unknown_sni = "refuse", a name no group
// owns fails the handshake and is counted as unknown_sni.
func TestTLSUnknownSNIRefused(t *testing.T) {
	cfg := strings.Replace(sniConfig, "[tls]\n", "[tls]\nunknown_sni = \"refuse\"\n", 1)
	g := startTLSGateway(t, cfg, prepareSNI)
	before := tlsFailUnknownSNI.Get()
	if _, err := g.handshake(&tls.Config{ServerName: "unknown.test", InsecureSkipVerify: true}); err == nil {
		t.Fatal("handshake for an unknown name succeeded; want it refused")
	}
	waitFor(t, func() bool { return tlsFailUnknownSNI.Get() == before+1 })
	if _, err := g.handshake(&tls.Config{ServerName: "a.test"}); err != nil {
		t.Fatalf("a known name after a refused one: %v", err)
	}
}

// TestTLS11Refused: TLS 1.1 clients are refused (min 1.2), counted as
// protocol_version; min_version = "1.3" refuses 1.2 as well.
func TestTLS11Refused(t *testing.T) {
	g := startTLSGateway(t, sniConfig, prepareSNI)
	before := tlsFailVersion.Get()
	_, err := g.handshake(&tls.Config{ServerName: "a.test", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		t.Fatal("TLS 1.1 handshake succeeded")
	}
	waitFor(t, func() bool { return tlsFailVersion.Get() == before+1 })
	if _, err := g.handshake(&tls.Config{ServerName: "a.test", MaxVersion: tls.VersionTLS12}); err != nil {
		t.Fatalf("TLS 1.2: %v", err)
	}
	g13 := startTLSGateway(t, strings.Replace(sniConfig, "[tls]\n", "[tls]\nmin_version = \"1.3\"\n", 1), prepareSNI)
	if _, err := g13.handshake(&tls.Config{ServerName: "a.test", MaxVersion: tls.VersionTLS12}); err == nil {
		t.Fatal("min_version 1.3 accepted TLS 1.2")
	}
}

// TestTLSCertificateFileReplaced: a renewal written over the files is
// served to new handshakes within 2 s, without a reload, while an open
// keep-alive connection keeps working.
func TestTLSCertificateFileReplaced(t *testing.T) {
	g := startTLSGateway(t, sniConfig, prepareSNI)
	c := g.client(nil)
	resp, _ := get(t, c, "https://a.test/echo")
	old := resp.TLS.PeerCertificates[0].SerialNumber
	renewed := g.issue("a", "a.test")
	start := time.Now()
	for {
		leaf, err := g.handshake(&tls.Config{ServerName: "a.test"})
		if err != nil {
			t.Fatal(err)
		}
		if leaf.SerialNumber.Cmp(renewed.Cert.SerialNumber) == 0 {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("still serving the old certificate %v after 2s", leaf.SerialNumber)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The keep-alive connection opened before the renewal still serves.
	resp, _ = get(t, c, "https://a.test/echo")
	if resp.StatusCode != 200 || resp.TLS.PeerCertificates[0].SerialNumber.Cmp(old) != 0 {
		t.Fatalf("old connection: status %d serial %v (want the old connection, old certificate %v)",
			resp.StatusCode, resp.TLS.PeerCertificates[0].SerialNumber, old)
	}
	// A broken write is ignored: the renewed certificate stays.
	certstest.WriteFile(t, filepath.Join(g.dir, "a.pem"), []byte("not a certificate"))
	time.Sleep(3 * certWatchInterval)
	leaf, err := g.handshake(&tls.Config{ServerName: "a.test"})
	if err != nil || leaf.SerialNumber.Cmp(renewed.Cert.SerialNumber) != 0 {
		t.Fatalf("after a broken write: %v, %v", leaf, err)
	}
}

// TestTLSRedirectAndHSTS: plain HTTP to a redirecting group gets 308 to the
// same path and query over HTTPS; HTTPS answers carry HSTS, plain ones and
// other groups' do not.
func TestTLSRedirectAndHSTS(t *testing.T) {
	g := startTLSGateway(t, sniConfig, prepareSNI)
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ := get(t, plain, "http://"+g.plain+"/echo/x?q=1&r=%20", "Host", "a.test:8080")
	_, port, _ := net.SplitHostPort(g.secure)
	want := "https://a.test:" + port + "/echo/x?q=1&r=%20"
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Fatalf("status %d Location %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if resp.Header.Get(headerHSTS) != "" {
		t.Fatal("HSTS on a plain answer")
	}
	// A group without redirect_https is served over plain HTTP.
	resp, _ = get(t, plain, "http://"+g.plain+"/echo", "Host", "x.w.test")
	if resp.StatusCode != 200 {
		t.Fatalf("plain request to a group without redirect: %d", resp.StatusCode)
	}
	c := g.client(nil)
	resp, _ = get(t, c, "https://a.test/echo")
	if h := resp.Header.Get(headerHSTS); resp.StatusCode != 200 || h != "max-age=31536000; includeSubDomains" {
		t.Fatalf("status %d HSTS %q", resp.StatusCode, h)
	}
	// Error answers carry it too (every exit passes respond).
	resp, _ = get(t, c, "https://a.test/nowhere")
	if resp.StatusCode != 404 || resp.Header.Get(headerHSTS) == "" {
		t.Fatalf("404 over TLS: status %d HSTS %q", resp.StatusCode, resp.Header.Get(headerHSTS))
	}
	resp, _ = get(t, c, "https://x.w.test/echo")
	if resp.Header.Get(headerHSTS) != "" {
		t.Fatal("HSTS from a group that does not set it")
	}
}

// TestTLSMisdirected421: a TLS request whose Host belongs to another group
// than its SNI name is refused with 421.
func TestTLSMisdirected421(t *testing.T) {
	g := startTLSGateway(t, sniConfig, prepareSNI)
	resp, body := get(t, g.client(nil), "https://a.test/echo", "Host", "x.w.test")
	if resp.StatusCode != http.StatusMisdirectedRequest || !strings.Contains(string(body), CodeMisdirected) {
		t.Fatalf("status %d body %s, want 421", resp.StatusCode, body)
	}
}

// TestTLSPlainHTTPOnTLSPort: plain HTTP sent to the TLS port gets a clear
// 400 text answer and a close, not a hang.
func TestTLSPlainHTTPOnTLSPort(t *testing.T) {
	g := startTLSGateway(t, sniConfig, prepareSNI)
	before := tlsFailPlainHTTP.Get()
	out, closed := rawExchange(t, g.secure, "GET /echo HTTP/1.1\r\nHost: a.test\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 400 ") || !strings.Contains(out, "speaks HTTPS") || !closed {
		t.Fatalf("answer %q closed=%v", out, closed)
	}
	if i := strings.Index(out, "\r\n\r\n"); i < 0 || !strings.Contains(out, "Content-Length: "+strconv.Itoa(len(out)-i-4)) {
		t.Fatalf("Content-Length does not match the body: %q", out)
	}
	if tlsFailPlainHTTP.Get() != before+1 {
		t.Fatal("not counted as plain_http")
	}
}

// TestTLSHandshakeBounds: a client that never finishes its handshake is
// cut at handshake_timeout, and while max_handshakes are in progress, a
// further handshake waits instead of starting.
func TestTLSHandshakeBounds(t *testing.T) {
	cfg := strings.Replace(sniConfig, "[tls]\n", "[tls]\nhandshake_timeout = \"300ms\"\nmax_handshakes = 1\n", 1)
	g := startTLSGateway(t, cfg, prepareSNI)
	before := tlsFailTimeout.Get()
	stalled, err := net.Dial("tcp", g.secure)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	// The only handshake slot is taken: a second client's handshake does
	// not start until the stalled one is cut.
	waitFor(t, func() bool { return len(g.srv.edge.sem) == 1 })
	second, err := net.Dial("tcp", g.secure)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	time.Sleep(50 * time.Millisecond)
	if n := len(g.srv.edge.sem); n != 1 {
		t.Fatalf("%d handshakes in progress, want at most max_handshakes = 1", n)
	}
	_ = stalled.SetReadDeadline(time.Now().Add(3 * time.Second))
	start := time.Now()
	_, rerr := stalled.Read(make([]byte, 1))
	if rerr == nil || errors.Is(rerr, os.ErrDeadlineExceeded) {
		t.Fatalf("stalled handshake not closed by the server: %v", rerr)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("closed after %v, want about the 300ms handshake timeout", d)
	}
	waitFor(t, func() bool { return tlsFailTimeout.Get() >= before+1 })
	if _, err := g.handshake(&tls.Config{ServerName: "a.test"}); err != nil {
		t.Fatalf("handshake after the slot freed: %v", err)
	}
}

// TestTLSSessionTicketKeysShared: two gateways reading one ticket key file
// resume each other's sessions.
func TestTLSSessionTicketKeysShared(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "tickets")
	certstest.WriteFile(t, keys, []byte(strings.Repeat("ab", 32)+"\n"+strings.Repeat("cd", 32)+"\n"))
	cfg := strings.Replace(sniConfig, "[tls]\n", "[tls]\nsession_ticket_keys = \"file:"+keys+"\"\n", 1)
	g1 := startTLSGateway(t, cfg, prepareSNI)
	g2 := startTLSGateway(t, cfg, func(g *tlsGateway) {
		g.ca = g1.ca // the same certificates, as a fleet shares them
		prepareSNI(g)
	})
	cache := tls.NewLRUClientSessionCache(8)
	// TLS 1.2: the ticket is sent in the handshake, so resumption is
	// decided by the next one without reading application data first.
	cc := &tls.Config{ServerName: "a.test", ClientSessionCache: cache, RootCAs: g1.ca.Pool(), MaxVersion: tls.VersionTLS12}
	c1, err := tls.Dial("tcp", g1.secure, cc)
	if err != nil {
		t.Fatal(err)
	}
	_ = c1.Close()
	c2, err := tls.Dial("tcp", g2.secure, cc)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if !c2.ConnectionState().DidResume {
		t.Fatal("the second gateway did not resume the first one's session")
	}
	// Without the shared file, a third gateway cannot.
	g3 := startTLSGateway(t, sniConfig, func(g *tlsGateway) { g.ca = g1.ca; prepareSNI(g) })
	c3, err := tls.Dial("tcp", g3.secure, cc)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if c3.ConnectionState().DidResume {
		t.Fatal("a gateway with its own keys resumed a foreign session")
	}
}
