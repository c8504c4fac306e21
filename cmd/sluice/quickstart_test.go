package main

import (
	"encoding/json"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestQuickstartWalkthrough runs `sluice run` with no -config, i.e. the
// embedded quickstart on its fixed ports, and replays the README's curl
// walkthrough. It skips when any of those ports is taken (by another
// gateway, a developer's `make run`, or a parallel test).
func TestQuickstartWalkthrough(t *testing.T) {
	const listen, origin, admin = "127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:9901"
	for _, addr := range []string{listen, origin, admin} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("quickstart port %s is not free: %v", addr, err)
		}
		_ = ln.Close()
	}
	g := spawn(t, []string{"run"}, listen, admin)
	if err := g.waitReady(10 * time.Second); err != nil {
		t.Fatalf("quickstart not ready: %v\n%s", err, g.stderr.String())
	}
	base := "http://" + listen

	// curl -i http://127.0.0.1:8080/hello
	code, hdr, body := get(t, base+"/hello")
	if code != 200 || hdr.Get("Content-Type") != "application/json" || string(body) != `{"message":"hello from sluice"}` {
		t.Errorf("/hello: %d %q %q", code, hdr.Get("Content-Type"), body)
	}
	if hdr.Get("X-Request-Id") == "" {
		t.Errorf("/hello: no X-Request-Id")
	}

	// curl -i http://127.0.0.1:8080/users/42: RELEASE goes to demo-origin,
	// which sends the target's host.
	var echo struct {
		Method  string            `json:"method"`
		URI     string            `json:"uri"`
		Host    string            `json:"host"`
		Headers map[string]string `json:"headers"`
	}
	code, _, body = get(t, base+"/users/42")
	if code != 200 {
		t.Fatalf("/users/42: %d %s", code, body)
	}
	if err := json.Unmarshal(body, &echo); err != nil {
		t.Fatalf("/users/42: %v: %s", err, body)
	}
	if echo.Method != "GET" || echo.URI != "/echo?user=42" || echo.Host != origin {
		t.Errorf("/users/42 reached the origin as %+v, want GET /echo?user=42 with Host %s", echo, origin)
	}

	// curl -i -H 'X-Ca-Stage: TEST' .../users/42: TEST's backend passes the
	// client's Host through, so the echo shows which backend was used.
	code, _, body = get(t, base+"/users/42", "X-Ca-Stage", "TEST")
	echo.Host = ""
	if err := json.Unmarshal(body, &echo); code != 200 || err != nil {
		t.Fatalf("TEST /users/42: %d %v %s", code, err, body)
	}
	if echo.URI != "/echo?user=42" || echo.Host != listen {
		t.Errorf("TEST /users/42 reached the origin as %+v, want /echo?user=42 with Host %s", echo, listen)
	}

	// A path no API serves: 404 in the one JSON error shape.
	code, hdr, body = get(t, base+"/nope")
	var e struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); code != 404 || err != nil || e.Error.Code != "NotFound" ||
		e.Error.RequestID == "" || e.Error.RequestID != hdr.Get("X-Request-Id") {
		t.Errorf("/nope: %d %v %s (X-Request-Id %q)", code, err, body, hdr.Get("X-Request-Id"))
	}
	// The non-numeric id does not match the {id:[0-9]+} template either.
	if code, _, body = get(t, base+"/users/abc"); code != 404 {
		t.Errorf("/users/abc: %d %s, want 404", code, body)
	}

	// Admin: readiness and the route table.
	if code, _, body = get(t, "http://"+admin+"/readyz"); code != 200 || !strings.Contains(string(body), "ready") {
		t.Errorf("/readyz: %d %s", code, body)
	}
	code, _, body = get(t, "http://"+admin+"/admin/routes")
	var rows []struct {
		Stage, Path, API, Backend string
	}
	if err := json.Unmarshal(body, &rows); code != 200 || err != nil || len(rows) != 6 {
		t.Fatalf("/admin/routes: %d %v %s", code, err, body)
	}
	backends := map[string]string{}
	for _, r := range rows {
		if r.API == "users" {
			backends[r.Stage] = r.Backend
		}
	}
	if backends["RELEASE"] != "demo-origin" || backends["TEST"] != "demo-origin-test" {
		t.Errorf("/admin/routes users backends by stage %v", backends)
	}

	g.signal(t, syscall.SIGTERM)
	if code := g.waitExit(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	if !strings.Contains(g.stderr.String(), "quickstart.toml (embedded)") {
		t.Errorf("log does not say the embedded quickstart was loaded:\n%s", g.stderr.String())
	}
}
