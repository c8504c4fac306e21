package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// IdleConns is a set of keep-alive connections that each completed one
// request and then sit idle, as a large fleet of quiet clients does. Close
// must be called once; other methods are not safe for concurrent use.
type IdleConns struct {
	conns []*net.TCPConn
}

// Len returns the number of open connections.
func (c *IdleConns) Len() int { return len(c.conns) }

// Close resets every connection (SO_LINGER 0), so tens of thousands of them
// leave no TIME_WAIT sockets to exhaust loopback ports on the next run.
func (c *IdleConns) Close() {
	for _, conn := range c.conns {
		_ = conn.SetLinger(0)
		conn.Close()
	}
	c.conns = nil
}

// OpenIdleConns opens n connections to the loopback addr, sends one GET of
// path with keep-alive on each, reads the response and leaves the
// connection open. It uses 64 dialers in parallel and gives up on the first
// failure, closing what it opened; the whole operation is bounded by timeout.
func OpenIdleConns(ctx context.Context, addr, host, path string, n int, timeout time.Duration) (*IdleConns, error) {
	if err := CheckLoopbackAddr(addr); err != nil {
		return nil, err
	}
	if n < 0 || n > maxConnections {
		return nil, fmt.Errorf("bench: idle connections %d out of range [0, %d]", n, maxConnections)
	}
	if host == "" {
		host = addr
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	request := []byte("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: sluice-bench-idle\r\n\r\n")

	out := &IdleConns{conns: make([]*net.TCPConn, 0, n)}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	jobs := make(chan struct{}, n)
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	var d net.Dialer
	for range min(64, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseResponse(resp)
			br := bufio.NewReaderSize(nil, 4096)
			for range jobs {
				if ctx.Err() != nil {
					return
				}
				conn, err := openIdle(ctx, &d, addr, request, br, resp)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					cancel()
				} else {
					out.conns = append(out.conns, conn)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && len(out.conns) < n {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		opened := len(out.conns)
		out.Close()
		return nil, fmt.Errorf("bench: opening idle connection %d of %d: %w", opened+1, n, firstErr)
	}
	return out, nil
}

// openIdle dials, does one request and returns the idle connection.
func openIdle(ctx context.Context, d *net.Dialer, addr string, request []byte, br *bufio.Reader, resp *fasthttp.Response) (*net.TCPConn, error) {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn := c.(*net.TCPConn)
	fail := func(err error) (*net.TCPConn, error) {
		_ = conn.SetLinger(0)
		conn.Close()
		return nil, err
	}
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	// Cancellation (SIGTERM, the first failure) unblocks the read at once.
	defer context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })()
	if _, err := conn.Write(request); err != nil {
		return fail(err)
	}
	br.Reset(conn)
	resp.Reset()
	if err := resp.Read(br); err != nil {
		return fail(err)
	}
	if resp.StatusCode() != fasthttp.StatusOK || resp.ConnectionClose() {
		return fail(fmt.Errorf("status %d, connection close %v", resp.StatusCode(), resp.ConnectionClose()))
	}
	if br.Buffered() > 0 {
		return fail(fmt.Errorf("unexpected bytes after the response"))
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}
