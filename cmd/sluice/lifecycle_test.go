package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicegw/sluice/bench/origin"
)

// lifecycleConfig is a gateway with a mock API whose body the test rewrites
// and a slow API proxied to the test's origin. watch_config is off so that
// only SIGHUP can cause the reloads the test observes.
func lifecycleConfig(originAddr, body string) configFunc {
	return func(listen, admin string) string {
		return fmt.Sprintf(`[server]
listen = [%q]
admin_listen = %q
shutdown_timeout = "10s"
watch_config = false

[[backends]]
name = "origin"
targets = [{ url = "http://%s" }]

[[backends]]
name = "canned"
[backends.mock]
body = '%s'

[[groups]]
name = "life"

[[groups.apis]]
name = "canned"
methods = ["GET"]
path = "/canned"
backend = "canned"

[[groups.apis]]
name = "slow"
methods = ["GET"]
path = "/slow"
backend = "origin"
timeout = "9s"
`, listen, admin, originAddr, body)
	}
}

type configStatus struct {
	Version   uint64 `json:"version"`
	Hash      string `json:"hash"`
	File      string `json:"file"`
	LastError string `json:"last_error"`
}

func adminConfig(t *testing.T, g *gateway) configStatus {
	t.Helper()
	code, _, body := get(t, "http://"+g.admin+"/admin/config")
	if code != http.StatusOK {
		t.Fatalf("/admin/config: %d %s", code, body)
	}
	var st configStatus
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("/admin/config: %v: %s", err, body)
	}
	return st
}

// eventually polls cond every 20 ms for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLifecycleReloadAndGracefulShutdown(t *testing.T) {
	o, err := origin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()

	var listen, admin string
	g := startGateway(t, func(l, a string) string {
		listen, admin = l, a
		return lifecycleConfig(o.Addr(), `{"v":1}`)(l, a)
	})
	base := "http://" + g.listen
	if code, _, body := get(t, base+"/canned"); code != 200 || string(body) != `{"v":1}` {
		t.Fatalf("before reload: %d %q", code, body)
	}
	st0 := adminConfig(t, g)
	if st0.LastError != "" || st0.File != g.config || st0.Version == 0 {
		t.Fatalf("initial /admin/config %+v", st0)
	}

	// A valid rewrite + SIGHUP: the new body serves.
	writeFile(t, g.config, lifecycleConfig(o.Addr(), `{"v":2}`)(listen, admin))
	g.signal(t, syscall.SIGHUP)
	eventually(t, "the reloaded body", func() bool {
		_, _, body := get(t, base+"/canned")
		return string(body) == `{"v":2}`
	})
	st1 := adminConfig(t, g)
	if st1.Version <= st0.Version || st1.Hash == st0.Hash || st1.LastError != "" {
		t.Fatalf("after a good reload /admin/config %+v (before %+v)", st1, st0)
	}

	// An invalid rewrite + SIGHUP: the old snapshot keeps serving and
	// /admin/config names the error.
	bad := strings.Replace(lifecycleConfig(o.Addr(), `{"v":3}`)(listen, admin), `timeout = "9s"`, `timeout = "45s"`, 1)
	writeFile(t, g.config, bad)
	g.signal(t, syscall.SIGHUP)
	var st2 configStatus
	eventually(t, "last_error in /admin/config", func() bool {
		st2 = adminConfig(t, g)
		return st2.LastError != ""
	})
	if !strings.Contains(st2.LastError, "over the 30s maximum") || st2.Version != st1.Version || st2.Hash != st1.Hash {
		t.Fatalf("after a bad reload /admin/config %+v (serving was %+v)", st2, st1)
	}
	if code, _, body := get(t, base+"/canned"); code != 200 || string(body) != `{"v":2}` {
		t.Fatalf("after a rejected reload: %d %q, want the previous body", code, body)
	}

	// SIGTERM with a slow request in flight: it completes, the process exits
	// 0 within shutdown_timeout, and the port refuses connections afterwards.
	type result struct {
		code int
		body string
		err  error
	}
	slow := make(chan result, 1)
	before := o.Requests()
	go func() {
		c := &http.Client{Timeout: 15 * time.Second}
		resp, err := c.Get(base + "/slow?delay=2s&size=5")
		if err != nil {
			slow <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		slow <- result{code: resp.StatusCode, body: string(b), err: err}
	}()
	eventually(t, "the slow request to reach the origin", func() bool { return o.Requests() > before })
	sentAt := time.Now()
	g.signal(t, syscall.SIGTERM)
	if code := g.waitExit(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	exitedIn := time.Since(sentAt)
	var r result
	select {
	case r = <-slow:
	case <-time.After(5 * time.Second):
		t.Fatal("the in-flight request never completed")
	}
	if r.err != nil || r.code != 200 || r.body != "abcde" {
		t.Fatalf("in-flight request: %d %q %v, want 200 \"abcde\"", r.code, r.body, r.err)
	}
	if exitedIn < time.Second {
		t.Errorf("exited %v after SIGTERM, before the 2s in-flight request could finish", exitedIn)
	}
	for _, addr := range []string{g.listen, g.admin} {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			t.Fatalf("%s still accepts connections after exit", addr)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial %s after exit: %v, want connection refused", addr, err)
		}
	}
	if !strings.Contains(g.stderr.String(), "shutting down") {
		t.Errorf("no shutdown log line:\n%s", g.stderr.String())
	}
}

// TestSIGINTWithoutTrafficExitsAtOnce: nothing in flight, nothing to wait for.
func TestSIGINTWithoutTrafficExitsAtOnce(t *testing.T) {
	o, err := origin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	g := startGateway(t, lifecycleConfig(o.Addr(), `{"v":1}`))
	g.signal(t, syscall.SIGINT)
	if code := g.waitExit(t, 5*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGINT", code)
	}
}
