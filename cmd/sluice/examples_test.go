package main

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/sluicegw/sluice/bench/origin"
	"github.com/sluicegw/sluice/policy"
)

const wsExample = "../../configs/examples/websocket.toml"

// TestWebSocketExampleConfig checks configs/examples/websocket.toml against
// what issue 14 and the README promise (decoded strictly and compiled), then
// serves it once, on free ports in place of its fixed ones, and replays the
// README's walkthrough: WebSocket echo with the key in the header and in the
// query, a bad key refused at the handshake, and the composite dashboard.
func TestWebSocketExampleConfig(t *testing.T) {
	src, err := os.ReadFile(wsExample)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse(wsExample, src)
	if err != nil {
		t.Fatalf("strict decode: %v", err)
	}
	snap, err := policy.Compile(p, policy.Options{})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if s := snap.Server; len(s.Listen) != 1 || s.Listen[0] != "127.0.0.1:8080" || s.AdminListen != "127.0.0.1:9901" {
		t.Fatalf("listen %v admin %s: want plain HTTP on 127.0.0.1:8080, admin 127.0.0.1:9901", s.Listen, s.AdminListen)
	}
	cfg := p.Config
	if len(cfg.Consumers) != 1 || len(cfg.Consumers[0].APIKeys) != 1 || cfg.Consumers[0].APIKeys[0] != "example-ws-key-0123456789" {
		t.Fatalf("consumers %+v", cfg.Consumers)
	}
	if a := cfg.Groups[0].Auth; a == nil || len(a.Modes) != 1 || a.Modes[0] != "key" || a.KeyHeader != "X-Api-Key" || a.KeyQuery != "api_key" {
		t.Fatalf("auth %+v: want key auth in X-Api-Key or api_key", a)
	}
	var ws, dash *policy.API
	for _, a := range snap.APIs {
		switch {
		case a.Path == "/ws" && a.WebSocket != nil:
			ws = a
		case a.Path == "/dashboard/{id}" && a.Composite != nil:
			dash = a
		}
	}
	if ws == nil || len(ws.Backend.Targets) != 1 || ws.Backend.Targets[0].Addr != "127.0.0.1:18201" {
		t.Fatalf("no /ws API with websocket on, to 127.0.0.1:18201")
	}
	if dash == nil || len(dash.Composite.Calls) != 2 {
		t.Fatalf("no composite /dashboard/{id} over two calls")
	}
	for _, c := range dash.Composite.Calls {
		if c.Backend.Targets[0].Addr != "127.0.0.1:18201" {
			t.Fatalf("call %s goes to %s, not the origin stub", c.Name, c.Backend.Targets[0].Addr)
		}
	}

	// Serve it once.
	o, err := origin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	g := startGateway(t, func(listen, admin string) string {
		s := strings.ReplaceAll(string(src), "127.0.0.1:18201", o.Addr())
		s = strings.ReplaceAll(s, `"127.0.0.1:8080"`, `"`+listen+`"`)
		return strings.ReplaceAll(s, `"127.0.0.1:9901"`, `"`+admin+`"`)
	})
	const key = "example-ws-key-0123456789"
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	for _, tc := range []struct {
		url string
		hdr http.Header
	}{
		{"ws://" + g.listen + "/ws", http.Header{"X-Api-Key": {key}}},
		{"ws://" + g.listen + "/ws?api_key=" + key, nil},
	} {
		c, resp, err := d.Dial(tc.url, tc.hdr)
		if err != nil {
			t.Fatalf("%s: %v (%v)", tc.url, err, resp)
		}
		for _, kind := range []int{websocket.TextMessage, websocket.BinaryMessage} {
			if err := c.WriteMessage(kind, []byte("hello sluice")); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			k, msg, err := c.ReadMessage()
			if err != nil || k != kind || string(msg) != "hello sluice" {
				t.Fatalf("echo: %d %q %v", k, msg, err)
			}
		}
		_ = c.Close()
	}
	if _, resp, err := d.Dial("ws://"+g.listen+"/ws", http.Header{"X-Api-Key": {"wrong-key-0123456789"}}); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("a wrong key must get 401 at the handshake: %v %v", err, resp)
	}

	code, hdr, body := get(t, "http://"+g.listen+"/dashboard/42", "X-Api-Key", key)
	if code != 200 || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("/dashboard/42: %d %s", code, body)
	}
	var dashboard struct {
		Profile          origin.Echo `json:"profile"`
		Activity         origin.Echo `json:"activity"`
		DashboardVersion int         `json:"dashboard_version"`
	}
	if err := json.Unmarshal(body, &dashboard); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if dashboard.Profile.URI != "/echo?user=42" || dashboard.Activity.URI != "/echo?activity_of=42&consumer=example-ws-client" ||
		dashboard.DashboardVersion != 1 || dashboard.Profile.Headers != nil {
		t.Fatalf("/dashboard/42 answered %s", body)
	}
	if code, _, _ := get(t, "http://"+g.listen+"/dashboard/42"); code != 401 {
		t.Fatalf("/dashboard/42 without a key: %d, want 401", code)
	}
}
