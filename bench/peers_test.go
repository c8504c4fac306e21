package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireExternal skips when an external binary is missing, unless CI
// demands every external test run.
func requireExternal(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("SLUICE_REQUIRE_EXTERNAL") == "1" {
		t.Fatalf("SLUICE_REQUIRE_EXTERNAL=1: %v", err)
	}
	t.Skip(err)
}

func TestPeerConfigsRender(t *testing.T) {
	for _, pe := range Peers {
		for _, accessLog := range []bool{false, true} {
			dir := t.TempDir()
			p, err := NewPeerParams("127.0.0.1:18080", "127.0.0.1:18081", dir, accessLog)
			if err != nil {
				t.Fatal(err)
			}
			conf, err := pe.Render(p)
			if err != nil {
				t.Fatal(err)
			}
			s := string(conf)
			if !containsAll(s, "127.0.0.1:18081", dir, "/anon") || strings.Contains(s, "<no value>") {
				t.Errorf("%s: config lacks basics:\n%s", pe.Name, s)
			}
			var must []string
			switch pe.Name {
			case "nginx":
				must = []string{"worker_processes 1;", "daemon off;", "keepalive 64;", "proxy_http_version 1.1;",
					`proxy_set_header Connection "";`, "proxy_pass http://origin/;", "listen 127.0.0.1:18080", "pid " + dir}
				if accessLog {
					must = append(must, "access_log "+dir+"/nginx-access.log")
				} else {
					must = append(must, "access_log off;")
				}
			case "haproxy":
				must = []string{"nbthread 1", "http-reuse always", "option http-keep-alive", "bind 127.0.0.1:18080",
					"server origin1 127.0.0.1:18081"}
				if accessLog {
					must = append(must, "option httplog")
				} else if strings.Contains(s, "httplog") {
					t.Errorf("haproxy logs without access log")
				}
			case "caddy":
				must = []string{"reverse_proxy 127.0.0.1:18081", "http://:18080", "bind 127.0.0.1", "admin off", "handle_path /anon/*"}
				if accessLog {
					must = append(must, "caddy-access.log")
				}
			}
			if !containsAll(s, must...) {
				t.Errorf("%s (access log %v): want %q in\n%s", pe.Name, accessLog, must, s)
			}
			path, err := pe.WriteConfig(p)
			if err != nil || filepath.Dir(path) != dir {
				t.Errorf("%s: write %s %v", pe.Name, path, err)
			}
		}
	}
	if pe, ok := PeerByName("caddy"); !ok || pe.env[0] != "GOMAXPROCS=1" {
		t.Error("caddy must run with GOMAXPROCS=1")
	}
	if _, err := NewPeerParams("10.0.0.1:80", "127.0.0.1:1", t.TempDir(), false); err == nil {
		t.Error("non-loopback peer listen accepted")
	}
}

// TestPeerConfigsValidate runs each peer's own config checker.
func TestPeerConfigsValidate(t *testing.T) {
	for _, pe := range Peers {
		t.Run(pe.Name, func(t *testing.T) {
			bin, err := pe.Lookup()
			requireExternal(t, err)
			for _, accessLog := range []bool{false, true} {
				p, err := NewPeerParams("127.0.0.1:18080", "127.0.0.1:18081", t.TempDir(), accessLog)
				if err != nil {
					t.Fatal(err)
				}
				conf, err := pe.WriteConfig(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := pe.Check(bin, conf, p); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestPeersProxy starts each installed peer in front of a test origin and
// pushes a short load through it, with the /proc readers on its tree.
func TestPeersProxy(t *testing.T) {
	o := startTestOrigin(t, 0)
	plan := PlanCPUs(mustCPUs(t))
	for _, pe := range Peers {
		t.Run(pe.Name, func(t *testing.T) {
			bin, err := pe.Lookup()
			requireExternal(t, err)
			listen, err := FreeAddr()
			if err != nil {
				t.Fatal(err)
			}
			p, _ := NewPeerParams(listen, o.Addr(), t.TempDir(), true)
			conf, err := pe.WriteConfig(p)
			if err != nil {
				t.Fatal(err)
			}
			proc, err := StartProc(context.Background(), pe.Spec(bin, conf, p), plan)
			if err != nil {
				t.Fatal(err)
			}
			defer proc.Stop()
			cpu0, err := SampleCPU(proc.PID())
			if err != nil {
				t.Fatal(err)
			}
			res, err := RunLoad(context.Background(), LoadConfig{Addr: listen, Paths: []string{"/anon/item?size=1000"},
				Duration: 5 * time.Second, MaxRequests: 2000, Connections: 8, ExpectBodyBytes: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if res.Completed != 2000 || res.Errors != 0 {
				t.Fatalf("completed %d errors %d %v", res.Completed, res.Errors, res.ErrorKinds)
			}
			cpu1, _ := SampleCPU(proc.PID())
			mem, _ := SampleMem(proc.PID())
			if cpu1.Since(cpu0) <= 0 || mem.PeakRSS <= 0 {
				t.Errorf("cpu %v mem %+v", cpu1.Since(cpu0), mem)
			}
			proc.Stop()
			if proc.Alive() {
				t.Error("still alive after Stop")
			}
		})
	}
}
