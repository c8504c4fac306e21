package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/store/certs/certstest"
)

// TestTLSBinaryZeroAllocs: the sluice binary as `go build` makes it (with
// cmd/sluice/default.pgo, applied by the go command itself) allocates
// nothing per request over a TLS keep-alive connection after the handshake
// (issue 11, acceptance 5). Without the profile, crypto/tls allocates once
// per record it reads (see scripts/pgo-profile.sh), so this reads 1.0.
// The gateway's own count comes from its go_memstats_mallocs_total; the
// scrape's own allocations are measured by a scrape with no request
// between and taken off.
func TestTLSBinaryZeroAllocs(t *testing.T) {
	originAddr, _ := startOriginProcess(t)
	ca := certstest.NewCA(t, "alloc test CA")
	leaf := ca.Issue(t, certstest.Options{DNS: []string{"a.test"}})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.pem"), string(leaf.CertPEM))
	writeFile(t, filepath.Join(dir, "a.key"), string(leaf.KeyPEM))
	var secure string
	g := startGateway(t, func(listen, admin string) string {
		secure = freePort(t)
		return fmt.Sprintf(`
[server]
listen = [%q]
admin_listen = %q
[[server.listeners]]
address = %q
tls = true
[[backends]]
name = "o"
targets = [{ url = "http://%s" }]
[[groups]]
name = "a"
hosts = ["a.test"]
certificates = [{ cert = "file:%s/a.pem", key = "file:%s/a.key" }]
[[groups.apis]]
name = "data"
path = "/data"
backend = "o"
`, listen, admin, secure, originAddr, dir, dir)
	})
	// The client's own allocations are its process's business: the count
	// read is the gateway's. One keep-alive connection carries everything.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{ServerName: "a.test", RootCAs: ca.Pool()},
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, secure)
		}}}
	defer client.CloseIdleConnections()
	var handshakes atomic.Int32
	client.Transport.(*http.Transport).TLSClientConfig.VerifyConnection = func(tls.ConnectionState) error {
		handshakes.Add(1)
		return nil
	}
	one := func() {
		resp, err := client.Get("https://a.test/data")
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || n != 1024 {
			t.Fatalf("answer: %d, %d bytes, %v", resp.StatusCode, n, err)
		}
	}
	for range 200 { // pools, buffers and the session warm up
		one()
	}
	// Three windows; the least is judged. A request's own allocation shows
	// in every window, while what the gateway allocates besides (a latency
	// histogram's bucket made on first use, runtime work) comes and goes.
	const requests, windows = 2000, 3
	const series = "go_memstats_mallocs_total"
	best := -1.0
	for range windows {
		m0 := g.metric(t, series)
		m1 := g.metric(t, series)
		for range requests {
			one()
		}
		m2 := g.metric(t, series)
		scrape := m1 - m0
		per := (m2 - m1 - scrape) / requests
		t.Logf("%d TLS requests: %.0f allocations in the gateway besides a scrape's %.0f: %.3f per request", requests, m2-m1-scrape, scrape, per)
		if best < 0 || per < best {
			best = per
		}
	}
	if h := handshakes.Load(); h != 1 {
		t.Errorf("%d TLS handshakes, want 1: the requests did not share one keep-alive connection", h)
	}
	if best > 0.1 {
		t.Errorf("%.3f allocations per TLS request in the built binary (the least of %d windows), want 0 (crypto/tls's per-record allocation is back: see scripts/pgo-profile.sh)", best, windows)
	}
}
