// Command loadgen sends a fixed number of GET requests over N keep-alive
// connections to one loopback address and reports the rate and the
// failures, for scripts/cpu-vs-nginx.sh:
//
//	go run ./scripts/loadgen -addr 127.0.0.1:8080 -path '/x?size=1024' -n 200000 -c 50
//
// A request fails when it errors, times out, is not 200, or its body is not
// -size bytes (when -size >= 0). The run ends after -n requests or -timeout,
// whichever is first; the exit code is 1 when any request failed or the
// run timed out. Loopback only: it refuses any other address.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "", "host:port to load (loopback only)")
	path := flag.String("path", "/", "request URI")
	host := flag.String("host", "", "Host header (default: -addr)")
	n := flag.Int64("n", 200000, "requests to send")
	conns := flag.Int("c", 50, "concurrent keep-alive connections")
	size := flag.Int("size", -1, "expected body size; -1 checks only the status")
	timeout := flag.Duration("timeout", 120*time.Second, "bound on the whole run")
	reqTimeout := flag.Duration("request-timeout", 5*time.Second, "bound on one request")
	quiet := flag.Bool("q", false, "print one machine-readable line: requests errors seconds rps")
	flag.Parse()

	if err := checkLoopback(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	if *n <= 0 || *conns <= 0 || *conns > 10000 {
		fmt.Fprintln(os.Stderr, "loadgen: -n must be > 0 and -c between 1 and 10000")
		os.Exit(2)
	}
	if *host == "" {
		*host = *addr
	}
	hc := &fasthttp.HostClient{
		Addr:                     *addr,
		MaxConns:                 *conns,
		NoDefaultUserAgentHeader: true,
		ReadBufferSize:           16 << 10,
		MaxIdleConnDuration:      time.Minute,
	}

	var issued, done, failed atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(*timeout)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(*path)
			req.Header.SetHost(*host)
			for issued.Add(1) <= *n {
				if time.Now().After(deadline) {
					return
				}
				err := hc.DoTimeout(req, resp, *reqTimeout)
				switch {
				case err != nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				case resp.StatusCode() != fasthttp.StatusOK:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d", resp.StatusCode()))
				case *size >= 0 && len(resp.Body()) != *size:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("body of %d bytes, want %d", len(resp.Body()), *size))
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	d, f := done.Load(), failed.Load()
	rps := float64(d) / elapsed.Seconds()
	if *quiet {
		fmt.Printf("%d %d %.3f %.0f\n", d, f, elapsed.Seconds(), rps)
	} else {
		fmt.Printf("requests %d  errors %d  elapsed %.3fs  %.0f req/s  (%d connections, %s)\n",
			d, f, elapsed.Seconds(), rps, *conns, *path)
	}
	if e := firstErr.Load(); e != nil {
		fmt.Fprintln(os.Stderr, "loadgen: first error:", e)
	}
	if f > 0 || d < *n {
		os.Exit(1)
	}
}

func checkLoopback(addr string) error {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: want host:port", addr)
	}
	if h == "localhost" {
		return nil
	}
	ip := net.ParseIP(h)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing non-loopback target %q", addr)
	}
	return nil
}
