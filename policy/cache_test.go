package policy

import (
	"strings"
	"testing"
)

const cacheBase = `
[[backends]]
name = "b"
targets = [{ url = "http://127.0.0.1:9" }]
[[groups]]
name = "g"
[groups.compression]
encodings = ["gzip"]
[[groups.apis]]
name = "a"
path = "/a"
backend = "b"
stages = ["RELEASE"]
`

func TestCacheConfigDefaults(t *testing.T) {
	s := mustCompile(t, cacheBase+"[groups.apis.cache]\n")
	k := s.APIs[0].Cache
	if k == nil || k.TTL != 0 || k.Override || !k.Heuristic || !k.GET || !k.HEAD || k.MaxObjectSize != DefaultCacheMaxObjectSize ||
		k.CoalesceTimeout != DefaultCoalesceTimeout || string(k.TagHeader) != "Surrogate-Key" || !k.Statuses.Has(410) || k.Statuses.Has(500) {
		t.Fatalf("defaults: %+v", k)
	}
	if s.Config.Cache.MaxSize != DefaultCacheMaxSize {
		t.Fatalf("[cache] max_size %d", s.Config.Cache.MaxSize)
	}
	z := s.APIs[0].Compression
	if z == nil || len(z.Encodings) != 1 || z.Encodings[0] != EncodingGzip || z.MinSize != DefaultCompressMinSize {
		t.Fatalf("group compression not inherited: %+v", z)
	}
	if !z.Compresses([]byte("text/html; charset=utf-8")) || !z.Compresses([]byte("Application/JSON")) || z.Compresses([]byte("image/png")) {
		t.Fatal("content types")
	}
	s = mustCompile(t, cacheBase+"[groups.apis.compression]\nencodings = [\"br\", \"zstd\"]\ncontent_types = [\"application/json\"]\n")
	if z := s.APIs[0].Compression; len(z.Encodings) != 2 || z.Encodings[0] != EncodingBrotli || z.Compresses([]byte("text/plain")) {
		t.Fatalf("API compression does not replace the group's: %+v", z)
	}
}

func TestCacheConfigRejects(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{"[groups.apis.cache]\nttl = \"2h1s\"", "ttl"},
		{"[groups.apis.cache]\nttl = \"500ms\"", "ttl"},
		{"[groups.apis.cache]\noverride = true", "override"},
		{"[groups.apis.cache]\nmethods = [\"POST\"]", "methods[0]"},
		{"[groups.apis.cache]\nstatuses = [206]", "statuses[0]"},
		{"[groups.apis.cache]\nkey_headers = [\"bad header\"]", "key_headers[0]"},
		{"[groups.apis.cache]\nmax_object_size = \"1GiB\"", "max_object_size"},
		{"[groups.apis.cache]\ncoalesce_timeout = \"1ms\"", "coalesce_timeout"},
		{"[groups.apis.compression]\nencodings = [\"deflate\"]", "encodings[0]"},
		{"[groups.apis.compression]\ncontent_types = [\"json\"]", "content_types[0]"},
		{"[groups.apis.cache]\n[cache]\nmax_size = \"1MiB\"", "cache.max_size"},
	} {
		_, err := compileString(t, cacheBase+tc.cfg+"\n")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one naming %s", tc.cfg, err, tc.want)
		}
	}
}
