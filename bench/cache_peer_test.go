package bench

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCacheHitPeerConfig: the cache-hit scenario runs nginx with
// proxy_cache (a config nginx itself accepts, when installed) and refuses
// peers whose bench config has no cache, instead of comparing a cache with
// a plain proxy.
func TestCacheHitPeerConfig(t *testing.T) {
	sc, err := ScenarioByName("cache-hit")
	if err != nil {
		t.Fatal(err)
	}
	job := sc.PeerJob()
	if !job.Cache || !sc.Peers {
		t.Fatalf("cache-hit: PeerJob %+v, Peers %v", job, sc.Peers)
	}
	dir := t.TempDir()
	p, err := NewPeerParams("127.0.0.1:18081", "127.0.0.1:18082", dir, job)
	if err != nil {
		t.Fatal(err)
	}
	for _, pe := range Peers {
		conf, err := pe.Render(p)
		if pe.Name != "nginx" {
			if err == nil {
				t.Errorf("%s rendered a cache-hit config without a cache", pe.Name)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"proxy_cache_path " + dir + "/nginx-cache", "proxy_cache bench_cache;", "proxy_cache_valid 200 60s;", "proxy_cache_lock on;"} {
			if !strings.Contains(string(conf), want) {
				t.Errorf("nginx config lacks %q", want)
			}
		}
		bin, err := pe.Lookup()
		if err != nil {
			continue
		}
		path, err := pe.WriteConfig(p)
		if err != nil {
			t.Fatal(err)
		}
		args := pe.checkArgs(bin, path, p)
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Errorf("nginx -t rejects the cache config: %v\n%s", err, out)
		}
	}
	// Without the cache feature nginx's config has no cache.
	plain, _ := NewPeerParams("127.0.0.1:18081", "127.0.0.1:18082", dir, PeerJob{})
	conf, _ := Peers[0].Render(plain)
	if strings.Contains(string(conf), "proxy_cache") {
		t.Error("proxy_cache in a config without the cache feature")
	}
}
