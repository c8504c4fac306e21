package proxy

import (
	"os"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/policy"
	"github.com/valyala/fasthttp"
)

// TestCacheExampleConfig (issue 13, acceptance 6): configs/examples/cache.toml
// is what the issue asks for, and it caches through a real gateway.
func TestCacheExampleConfig(t *testing.T) {
	raw, err := os.ReadFile("../configs/examples/cache.toml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse("cache.toml", raw)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := policy.Compile(p, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l := snap.Server.Listen; len(l) != 1 || l[0] != "127.0.0.1:8080" || snap.Server.AdminListen != "127.0.0.1:9901" || strings.Contains(string(raw), "tls") {
		t.Fatalf("listeners: %v admin %q", l, snap.Server.AdminListen)
	}
	if len(p.Config.Groups) != 1 || len(p.Config.Groups[0].APIs) != 1 {
		t.Fatalf("want one group with one API")
	}
	a := p.Config.Groups[0].APIs[0]
	if a.Path != "/{rest:*}" || a.BackendPath != "" || len(a.Methods) != 1 || a.Methods[0] != "*" {
		t.Fatalf("API: path %q backend_path %q methods %v", a.Path, a.BackendPath, a.Methods)
	}
	api := snap.APIs[0]
	b := api.Backend
	if len(b.Targets) != 1 || b.Targets[0].Addr != "127.0.0.1:8000" || !b.ClientHost {
		t.Fatalf("backend: %+v", b)
	}
	k := api.Cache
	if k == nil || k.TTL != 0 || k.Override || !k.GET || !k.HEAD {
		t.Fatalf("cache: %+v", k)
	}

	// Through a real gateway, the origin's Cache-Control decides.
	o := startCacheOrigin(t)
	cfg := strings.ReplaceAll(string(raw), "127.0.0.1:8000", o.addr)
	g := startGateway(t, cfg)
	t.Cleanup(func() { g.srv.CacheStore().PurgeAll() })
	o.set(func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/cached" {
			ctx.Response.Header.Set("Cache-Control", "max-age=60")
		}
		ctx.SetBodyString(string(ctx.Host()) + string(ctx.Path()))
	})
	host := map[string]string{"Host": "www.example.org"}
	for i := 0; i < 3; i++ {
		for _, path := range []string{"/cached", "/uncached"} {
			if st, _, body := g.do("GET", path, host, nil); st != 200 || string(body) != "www.example.org"+path {
				t.Fatalf("GET %s: %d %q", path, st, body)
			}
		}
	}
	if n := o.n.Load(); n != 4 {
		t.Fatalf("origin saw %d requests, want 4 (one for /cached, three for /uncached)", n)
	}
}
