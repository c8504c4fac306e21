package bench

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// cmdTLSLoad implements "tls-load", the TLS load generator of
// scripts/tls-vs-nginx.sh (issue 11, acceptance 4). Modes:
//
//	keepalive  -n GET requests over -c TLS keep-alive connections
//	full       -n connections, -c at a time: a full handshake (no session
//	           resumption), one GET, close
//	resumed    the same, resuming the session of an earlier connection
//	           (session tickets), after one priming connection
//	gencert    write an ECDSA P-256 certificate and key for -sni into -dir
//	           (cert.pem, key.pem)
//
// It prints one line "done errors seconds rate resumed" with -q, a labelled
// one without. Loopback targets only. The exit code is 0 when all -n
// requests or connections succeeded, 1 when some failed or the -timeout cut
// the run short, 2 for a usage or setup error (the priming connection of
// "resumed" included).
func cmdTLSLoad(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("tls-load", stderr)
	mode := fs.String("mode", "keepalive", "keepalive, full, resumed or gencert")
	addr := fs.String("addr", "", "host:port (loopback only)")
	sni := fs.String("sni", "bench.test", "TLS server name and Host header")
	ca := fs.String("ca", "", "PEM certificate to trust (the gateway's self-signed one)")
	path := fs.String("path", "/bench?size=1024", "request URI")
	size := fs.Int("size", 1024, "expected body size")
	n := fs.Int64("n", 10000, "requests (keepalive) or connections (full, resumed)")
	conns := fs.Int("c", 50, "concurrent connections")
	dir := fs.String("dir", "", "gencert: output directory")
	timeout := fs.Duration("timeout", 300*time.Second, "bound on the whole run")
	quiet := fs.Bool("q", false, "one machine-readable line")
	fatal := func(err error) int {
		fmt.Fprintln(stderr, "sluice-bench tls-load:", err)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		return fatal(fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if *mode == "gencert" {
		if *dir == "" {
			return fatal(errors.New("gencert needs -dir"))
		}
		if err := tlsLoadGenCert(*dir, *sni); err != nil {
			return fatal(err)
		}
		return 0
	}
	switch *mode {
	case "keepalive", "full", "resumed":
	default:
		return fatal(errors.New("unknown -mode " + *mode))
	}
	if err := CheckLoopbackAddr(*addr); err != nil {
		return fatal(fmt.Errorf("-addr must be a loopback host:port: %w", err))
	}
	if *n < 1 || *conns < 1 || *timeout <= 0 {
		return fatal(errors.New("need -n >= 1, -c >= 1 and -timeout > 0"))
	}
	caPEM, err := os.ReadFile(*ca)
	if err != nil {
		return fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return fatal(errors.New("-ca holds no certificate"))
	}
	// X25519 only: Go offers the X25519MLKEM768 hybrid first, which nginx's
	// OpenSSL 3.0 does not speak; both gateways must do the same key
	// exchange for the comparison to mean anything.
	cfg := &tls.Config{ServerName: *sni, RootCAs: roots, NextProtos: []string{"http/1.1"},
		CurvePreferences: []tls.CurveID{tls.X25519}}
	var done, failed, resumed atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		failed.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	deadline := time.Now().Add(*timeout)
	var issued atomic.Int64
	var wg sync.WaitGroup
	var start time.Time
	switch *mode {
	case "keepalive":
		hc := &fasthttp.HostClient{Addr: *addr, IsTLS: true, TLSConfig: cfg, MaxConns: *conns,
			NoDefaultUserAgentHeader: true, ReadBufferSize: 16 << 10, MaxIdleConnDuration: time.Minute,
			// A loaded shared machine can take seconds to accept.
			Dial: func(a string) (net.Conn, error) { return fasthttp.DialTimeout(a, 30*time.Second) }}
		defer hc.CloseIdleConnections()
		start = time.Now()
		for i := 0; i < *conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				req.SetRequestURI("https://" + *sni + *path)
				req.Header.SetHost(*sni)
				for issued.Add(1) <= *n && time.Now().Before(deadline) {
					err := hc.DoTimeout(req, resp, 30*time.Second)
					switch {
					case err != nil:
						fail(err)
					case resp.StatusCode() != 200 || len(resp.Body()) != *size:
						fail(fmt.Errorf("status %d, %d bytes", resp.StatusCode(), len(resp.Body())))
					}
					done.Add(1)
				}
			}()
		}
	case "full", "resumed":
		if *mode == "resumed" {
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			if _, err := tlsLoadConnect(*addr, cfg, *sni, *path, *size); err != nil {
				return fatal(fmt.Errorf("priming connection: %w", err))
			}
		}
		start = time.Now()
		for i := 0; i < *conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for issued.Add(1) <= *n && time.Now().Before(deadline) {
					r, err := tlsLoadConnect(*addr, cfg, *sni, *path, *size)
					if err != nil {
						fail(err)
					} else if r {
						resumed.Add(1)
					}
					done.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	el := time.Since(start)
	d, f := done.Load(), failed.Load()
	if *quiet {
		fmt.Fprintf(stdout, "%d %d %.3f %.0f %d\n", d, f, el.Seconds(), float64(d)/el.Seconds(), resumed.Load())
	} else {
		fmt.Fprintf(stdout, "%s: %d done, %d errors, %.3fs, %.0f/s, %d resumed\n", *mode, d, f, el.Seconds(), float64(d)/el.Seconds(), resumed.Load())
	}
	if e := firstErr.Load(); e != nil {
		fmt.Fprintln(stderr, "sluice-bench tls-load: first error:", e)
	}
	if f > 0 || d < *n {
		return 1
	}
	return 0
}

// tlsLoadConnect makes one connection: handshake, one GET, close. Reading
// the answer also reads TLS 1.3 session tickets, which the next connection
// of "resumed" presents. It reports whether the session was resumed.
func tlsLoadConnect(addr string, cfg *tls.Config, host, path string, size int) (bool, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return false, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n"); err != nil {
		return false, err
	}
	var resp fasthttp.Response
	if err := resp.Read(bufio.NewReader(c)); err != nil {
		return false, err
	}
	if resp.StatusCode() != 200 || len(resp.Body()) != size {
		return false, errors.New("status " + strconv.Itoa(resp.StatusCode()) + ", " + strconv.Itoa(len(resp.Body())) + " bytes")
	}
	return c.ConnectionState().DidResume, nil
}

// tlsLoadGenCert writes a self-signed ECDSA P-256 certificate for name,
// valid for two days, to dir/cert.pem and its PKCS #8 key to dir/key.pem.
func tlsLoadGenCert(dir, name string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
}
