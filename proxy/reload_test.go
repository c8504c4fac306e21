package proxy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// versionedConfig is a config whose answers name its version: the mock API
// answers "v=N", the proxied API sends ?v=N to the origin. An invalid version
// carries an unknown key, so it must never serve.
func versionedConfig(v int, valid bool) string {
	extra := ""
	if !valid {
		extra = "\nno_such_key = 1"
	}
	return fmt.Sprintf(`
[server]
watch_config = false
[[backends]]
name = "origin"
targets = [{ url = "{{ORIGIN}}" }]
[[backends]]
name = "mock"
[backends.mock]
body = "v=%[1]d"
[[groups]]
name = "t"%[2]s
[[groups.apis]]
name = "mock"
path = "/mock"
backend = "mock"
[[groups.apis]]
name = "proxied"
path = "/p/{id}"
backend = "origin"
backend_path = "/echo?v=%[1]d&id={id}"
`, v, extra)
}

var servedVersion = regexp.MustCompile(`v=(\d+)`)

// TestReloadUnderLoad is acceptance 3 of the core issue: at least 20 000
// requests over at least 5 s on keep-alive connections while the file is
// rewritten and reloaded at least 20 times, some versions invalid. No request
// may fail, and every answer must come from a valid snapshot that was
// current at some moment between the request's start and its end.
func TestReloadUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("5 s load test")
	}
	g := startGateway(t, versionedConfig(1, true))
	var published atomic.Int64 // highest valid version known published
	var attempted atomic.Int64 // highest version a reload was started for
	published.Store(1)
	attempted.Store(1)
	valid := map[int]bool{1: true}
	var validMu sync.RWMutex

	const minRequests, minDuration, rewrites = 20000, 5500 * time.Millisecond, 25
	var sent, failed, stale atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &fasthttp.HostClient{Addr: g.addr, MaxConns: 8, ReadTimeout: 5 * time.Second}
	var firstErr atomic.Value
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for i := 0; i < 200000; i++ { // bounded even if stop never comes
				select {
				case <-stop:
					return
				default:
				}
				uri := "http://" + g.addr + "/mock"
				if i%2 == 1 {
					uri = "http://" + g.addr + "/p/" + strconv.Itoa(w)
				}
				req.SetRequestURI(uri)
				low := published.Load()
				err := client.Do(req, resp)
				high := attempted.Load()
				sent.Add(1)
				if err != nil || resp.StatusCode() != 200 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: err=%v status=%d body=%s", uri, err, resp.StatusCode(), resp.Body()))
					continue
				}
				m := servedVersion.FindSubmatch(resp.Body())
				if m == nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, "no version in "+string(resp.Body()))
					continue
				}
				v, _ := strconv.Atoi(string(m[1]))
				validMu.RLock()
				ok := valid[v]
				validMu.RUnlock()
				if !ok || int64(v) < low || int64(v) > high {
					stale.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("served v=%d outside [%d,%d] or invalid", v, low, high))
				}
			}
		}(w)
	}

	start := time.Now()
	reloads, rejected := 0, 0
	admin := &fasthttp.HostClient{Addr: g.adminAt}
	for v := 2; v < 2+rewrites || time.Since(start) < minDuration || sent.Load() < minRequests; v++ {
		if time.Since(start) > 60*time.Second {
			t.Fatal("load did not reach its minimum within 60s")
		}
		isValid := v%3 != 0
		if isValid {
			validMu.Lock()
			valid[v] = true
			validMu.Unlock()
		}
		g.write(versionedConfig(v, isValid))
		attempted.Store(int64(v))
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.Header.SetMethod("POST")
		req.SetRequestURI("http://" + g.adminAt + "/admin/reload")
		if err := admin.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		reloads++
		switch {
		case isValid && resp.StatusCode() == 200:
			published.Store(int64(v))
		case !isValid && resp.StatusCode() == 400:
			rejected++
		default:
			t.Fatalf("reload of v%d (valid=%v): %d %s", v, isValid, resp.StatusCode(), resp.Body())
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)

	t.Logf("%d requests in %v over 8 keep-alive connections, %d reloads (%d rejected)", sent.Load(), elapsed, reloads, rejected)
	if failed.Load() != 0 || stale.Load() != 0 {
		t.Fatalf("%d failed, %d from the wrong snapshot; first: %v", failed.Load(), stale.Load(), firstErr.Load())
	}
	if sent.Load() < minRequests || elapsed < 5*time.Second || reloads < 20 || rejected == 0 {
		t.Fatalf("test did not reach its own minimums: %d requests, %v, %d reloads, %d rejected",
			sent.Load(), elapsed, reloads, rejected)
	}
	// The last invalid file shows in /admin/config; the serving version is the last valid one.
	st := g.rl.Status()
	if st.Version == 0 || g.srv.Snapshot() == nil {
		t.Fatal("no snapshot")
	}
	var status ReloadStatus
	code, body := adminGet(t, g, "/admin/config")
	if code != 200 || json.Unmarshal(body, &status) != nil {
		t.Fatalf("/admin/config: %d %s", code, body)
	}
}

func adminGet(t testing.TB, g *gateway, path string) (int, []byte) {
	t.Helper()
	st, body, err := fasthttp.Get(nil, "http://"+g.adminAt+path)
	if err != nil {
		t.Fatal(err)
	}
	return st, body
}

// TestInvalidReloadKeepsServing: a broken file is reported in /admin/config
// and the metrics, and the old snapshot keeps answering.
func TestInvalidReloadKeepsServing(t *testing.T) {
	g := startGateway(t, versionedConfig(1, true))
	before := configReloadErrors.Get()
	g.write(versionedConfig(2, false))
	if _, err := g.rl.Reload(); err == nil {
		t.Fatal("invalid config accepted")
	}
	if configReloadErrors.Get() != before+1 {
		t.Fatal("sluice_config_reload_errors_total not incremented")
	}
	if st, _, body := g.do("GET", "/mock", nil, nil); st != 200 || string(body) != "v=1" {
		t.Fatalf("old snapshot not serving: %d %s", st, body)
	}
	code, body := adminGet(t, g, "/admin/config")
	var status ReloadStatus
	if code != 200 || json.Unmarshal(body, &status) != nil {
		t.Fatalf("/admin/config %d %s", code, body)
	}
	if status.Version != 1 || len(status.Hash) != 64 || status.LoadedAt.IsZero() ||
		!regexp.MustCompile(`sluice\.toml:\d+:\d+: .*no_such_key`).MatchString(status.LastError) {
		t.Fatalf("status %+v", status)
	}
	// A good file clears the error.
	g.write(versionedConfig(3, true))
	if _, err := g.rl.Reload(); err != nil {
		t.Fatal(err)
	}
	if s := g.rl.Status(); s.LastError != "" || s.Version != 2 {
		t.Fatalf("after a good reload: %+v", s)
	}
}

// TestWatchReloadsChangedFile: a change on disk is picked up by the watcher.
func TestWatchReloadsChangedFile(t *testing.T) {
	watched := func(v int) string {
		return strings.Replace(versionedConfig(v, true), "watch_config = false", "watch_config = true", 1)
	}
	g := startGateway(t, watched(1))
	ctx, cancel := contextWithCancel()
	defer cancel()
	go g.rl.Watch(ctx, 50*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	g.write(watched(2))
	waitFor(t, func() bool {
		_, _, body := g.do("GET", "/mock", nil, nil)
		return string(body) == "v=2"
	})
}
