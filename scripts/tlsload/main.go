// Command tlsload is the TLS load generator of scripts/tls-vs-nginx.sh
// (issue 11, acceptance 4). Modes:
//
//	keepalive  -n GET requests over -c TLS keep-alive connections
//	full       -n connections, -c at a time: a full handshake (no session
//	           resumption), one GET, close
//	resumed    the same, resuming the session of an earlier connection
//	           (session tickets), after one priming connection
//	gencert    write an ECDSA P-256 certificate and key for -sni into -dir
//
// It prints one line "done errors seconds rate [resumed]" with -q. Loopback
// targets only.
package main

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

func main() {
	mode := flag.String("mode", "keepalive", "keepalive, full, resumed or gencert")
	addr := flag.String("addr", "", "host:port (loopback only)")
	sni := flag.String("sni", "bench.test", "TLS server name and Host header")
	ca := flag.String("ca", "", "PEM certificate to trust (the gateway's self-signed one)")
	path := flag.String("path", "/bench?size=1024", "request URI")
	size := flag.Int("size", 1024, "expected body size")
	n := flag.Int64("n", 10000, "requests (keepalive) or connections (full, resumed)")
	conns := flag.Int("c", 50, "concurrent connections")
	dir := flag.String("dir", "", "gencert: output directory")
	timeout := flag.Duration("timeout", 300*time.Second, "bound on the whole run")
	quiet := flag.Bool("q", false, "one machine-readable line")
	flag.Parse()
	if *mode == "gencert" {
		if err := gencert(*dir, *sni); err != nil {
			fatal(err)
		}
		return
	}
	if h, _, err := net.SplitHostPort(*addr); err != nil || !net.ParseIP(h).IsLoopback() {
		fatal(errors.New("-addr must be a loopback host:port"))
	}
	caPEM, err := os.ReadFile(*ca)
	if err != nil {
		fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		fatal(errors.New("-ca holds no certificate"))
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
		start = time.Now()
		for i := 0; i < *conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
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
			if _, err := connect(*addr, cfg, *sni, *path, *size); err != nil {
				fatal(fmt.Errorf("priming connection: %w", err))
			}
		}
		start = time.Now()
		for i := 0; i < *conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for issued.Add(1) <= *n && time.Now().Before(deadline) {
					r, err := connect(*addr, cfg, *sni, *path, *size)
					if err != nil {
						fail(err)
					} else if r {
						resumed.Add(1)
					}
					done.Add(1)
				}
			}()
		}
	default:
		fatal(errors.New("unknown -mode " + *mode))
	}
	wg.Wait()
	el := time.Since(start)
	d, f := done.Load(), failed.Load()
	if *quiet {
		fmt.Printf("%d %d %.3f %.0f %d\n", d, f, el.Seconds(), float64(d)/el.Seconds(), resumed.Load())
	} else {
		fmt.Printf("%s: %d done, %d errors, %.3fs, %.0f/s, %d resumed\n", *mode, d, f, el.Seconds(), float64(d)/el.Seconds(), resumed.Load())
	}
	if e := firstErr.Load(); e != nil {
		fmt.Fprintln(os.Stderr, "tlsload: first error:", e)
	}
	if f > 0 || d < *n {
		os.Exit(1)
	}
}

// connect makes one connection: handshake, one GET, close. Reading the
// answer also reads TLS 1.3 session tickets, which the next connection of
// "resumed" presents.
func connect(addr string, cfg *tls.Config, host, path string, size int) (bool, error) {
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

func gencert(dir, name string) error {
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

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "tlsload:", err)
	os.Exit(2)
}
