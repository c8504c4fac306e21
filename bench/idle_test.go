package bench

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestOpenIdleConns(t *testing.T) {
	o := startTestOrigin(t, 0)
	idle, err := OpenIdleConns(context.Background(), o.Addr(), "", "/idle?size=16", 300, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if idle.Len() != 300 || o.Requests() != 300 {
		t.Errorf("opened %d, origin saw %d requests", idle.Len(), o.Requests())
	}
	// The server holds them open.
	deadline := time.Now().Add(5 * time.Second)
	for o.srv.GetOpenConnectionsCount() != 300 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := o.srv.GetOpenConnectionsCount(); n != 300 {
		t.Errorf("server sees %d open connections", n)
	}
	idle.Close()
	for o.srv.GetOpenConnectionsCount() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := o.srv.GetOpenConnectionsCount(); n != 0 {
		t.Errorf("%d connections left after Close", n)
	}
}

func TestOpenIdleConnsFailures(t *testing.T) {
	o := startTestOrigin(t, 0)
	if _, err := OpenIdleConns(context.Background(), o.Addr(), "", "/?status=500", 10, 5*time.Second); err == nil {
		t.Error("500 answers accepted as idle connections")
	}
	if _, err := OpenIdleConns(context.Background(), closedPort(t), "", "/", 10, 5*time.Second); err == nil {
		t.Error("refused connections accepted")
	}
	if _, err := OpenIdleConns(context.Background(), o.Addr(), "", "/", maxConnections+1, time.Second); err == nil {
		t.Error("too many connections accepted")
	}
	// A server that closes after each response does not leave idle connections.
	o.srv.Handler = func(ctx *fasthttp.RequestCtx) { ctx.SetConnectionClose() }
	if _, err := OpenIdleConns(context.Background(), o.Addr(), "", "/", 5, 5*time.Second); err == nil {
		t.Error("Connection: close accepted")
	}
}

// TestOpenIdleConnsCancel: a cancelled run (SIGTERM) stops waiting for a
// target that never answers, instead of holding on for the whole timeout.
func TestOpenIdleConnsCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accept and stay silent
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := OpenIdleConns(ctx, ln.Addr().String(), "", "/", 8, 10*time.Minute)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("no error from a silent target")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("OpenIdleConns ignored cancellation")
	}
}
