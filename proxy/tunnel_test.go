package proxy

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

const wsKey = "ws-key-0123456789abcdef"

func wsConfig(extra string) string {
	return `
[server]
max_tunnels = 50
[[backends]]
name = "origin"
targets = [{ url = "{{ORIGIN}}" }]
[[consumers]]
name = "device"
api_keys = ["` + wsKey + `"]
[[groups]]
name = "t"
[[groups.apis]]
name = "ws"
path = "/ws"
backend = "origin"
[groups.apis.auth]
modes = ["key"]
key_query = "api_key"
[groups.apis.rate_limit]
consumer = { rate = 0.001, burst = 20 }
[groups.apis.websocket]
idle_timeout = "2s"
max_tunnels = 3
[[groups.apis]]
name = "refused"
path = "/refused"
backend = "origin"
backend_path = "/?status=403&size=5"
[groups.apis.websocket]
` + extra
}

func dialWS(t *testing.T, g *gateway, path string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	return d.Dial("ws://"+g.addr+path, hdr)
}

func keyHeader() http.Header { return http.Header{"X-Api-Key": {wsKey}} }

func echoOnce(t *testing.T, c *websocket.Conn, kind int, msg []byte) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.WriteMessage(kind, msg); err != nil {
		t.Fatal(err)
	}
	k, got, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if k != kind || !bytes.Equal(got, msg) {
		t.Fatalf("echo: kind %d len %d, want kind %d len %d", k, len(got), kind, len(msg))
	}
}

func TestTunnelEchoesThroughTheGateway(t *testing.T) {
	g := startGateway(t, wsConfig(""))
	c, resp, err := dialWS(t, g, "/ws", keyHeader())
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	defer c.Close()
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("101 without X-Request-Id")
	}
	echoOnce(t, c, websocket.TextMessage, []byte("hello"))
	echoOnce(t, c, websocket.BinaryMessage, []byte{0, 1, 2, 255})
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	echoOnce(t, c, websocket.BinaryMessage, big)

	pong := make(chan string, 1)
	c.SetPongHandler(func(s string) error { pong <- s; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("p1"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	go func() { _, _, _ = c.ReadMessage() }() // the pong is handled while reading
	select {
	case s := <-pong:
		if s != "p1" {
			t.Fatalf("pong %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong through the tunnel")
	}

	// The key in the query works too.
	c2, _, err := dialWS(t, g, "/ws?api_key="+wsKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	echoOnce(t, c2, websocket.TextMessage, []byte("q"))
	c2.Close()
}

func TestTunnelHandshakeRunsTheRequestSteps(t *testing.T) {
	g := startGateway(t, wsConfig(""))
	before := g.origin.Requests()
	_, resp, err := dialWS(t, g, "/ws", http.Header{"X-Api-Key": {"wrong-key-0123456789abcdef"}})
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("bad key: err %v resp %v, want 401", err, resp)
	}
	_, resp, err = dialWS(t, g, "/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("no key: %v, want 401", resp)
	}
	if g.origin.Requests() != before {
		t.Fatal("a refused handshake reached the origin")
	}
	// Burst 20 (the failed ones above took nothing): the 21st handshake is throttled.
	for i := 0; i < 20; i++ {
		c, _, err := dialWS(t, g, "/ws", keyHeader())
		if err != nil {
			t.Fatalf("handshake %d: %v", i, err)
		}
		c.Close()
	}
	_, resp, err = dialWS(t, g, "/ws", keyHeader())
	if err == nil || resp == nil || resp.StatusCode != 429 {
		t.Fatalf("21st handshake: %v, want 429", resp)
	}
}

func TestTunnelLimits(t *testing.T) {
	g := startGateway(t, wsConfig(""))
	var open []*websocket.Conn
	for i := 0; i < 3; i++ {
		c, _, err := dialWS(t, g, "/ws", keyHeader())
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	_, resp, err := dialWS(t, g, "/ws", keyHeader())
	if err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("4th tunnel over max_tunnels 3: %v, want 503", resp)
	}
	open[0].Close()
	waitFor(t, func() bool {
		c, _, err := dialWS(t, g, "/ws", keyHeader())
		if err == nil {
			open = append(open, c)
		}
		return err == nil
	})

	// Idle: no frames either way for 2s closes the tunnel.
	c := open[1]
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := c.ReadMessage(); err == nil {
		t.Fatal("an idle tunnel delivered a message")
	}
	if d := time.Since(start); d < 1500*time.Millisecond || d > 6*time.Second {
		t.Fatalf("idle tunnel closed after %v, want about 2s", d)
	}
	for _, c := range open {
		c.Close()
	}
}

func TestTunnelOriginRefusingTheUpgradeIsRelayed(t *testing.T) {
	g := startGateway(t, wsConfig(""))
	_, resp, err := dialWS(t, g, "/refused", nil)
	if err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("refused upgrade: %v, want the origin's 403", resp)
	}
	// A plain request to a WebSocket API is proxied as usual.
	st, _, body := g.do("GET", "/refused", nil, nil)
	if st != 403 || len(body) != 5 {
		t.Fatalf("plain request: %d %q", st, body)
	}
}

func TestTunnelLifetimeAndShutdownSendGoingAway(t *testing.T) {
	g := startGateway(t, strings.Replace(wsConfig(""), "idle_timeout = \"2s\"", "idle_timeout = \"2s\"\nmax_lifetime = \"1s\"", 1))
	c, _, err := dialWS(t, g, "/ws", keyHeader())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("at max_lifetime: %v, want close 1001", err)
	}

	g.write(wsConfig(""))
	if _, err := g.rl.Reload(); err != nil {
		t.Fatal(err)
	}
	c, _, err = dialWS(t, g, "/ws", keyHeader())
	if err != nil {
		t.Fatal(err)
	}
	echoOnce(t, c, websocket.TextMessage, []byte("before shutdown"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- g.srv.Shutdown(ctx) }()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("on shutdown: %v, want close 1001", err)
	}
	<-done
}

func TestTunnelSurvivesReload(t *testing.T) {
	g := startGateway(t, wsConfig(""))
	c, _, err := dialWS(t, g, "/ws", keyHeader())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echoOnce(t, c, websocket.TextMessage, []byte("one"))
	// A reload that removes the API: the open tunnel keeps its snapshot.
	g.write(strings.Replace(wsConfig(""), `path = "/ws"`, `path = "/ws-renamed"`, 1))
	if _, err := g.rl.Reload(); err != nil {
		t.Fatal(err)
	}
	echoOnce(t, c, websocket.TextMessage, []byte("two"))
	if _, resp, err := dialWS(t, g, "/ws", keyHeader()); err == nil || resp.StatusCode != 404 {
		t.Fatalf("new handshake on the removed path: %v", resp)
	}
}
