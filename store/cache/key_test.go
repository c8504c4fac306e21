package cache

import (
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func hdr(kv ...string) *fasthttp.RequestHeader {
	h := &fasthttp.RequestHeader{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func key(t testing.TB, s *KeySpec, method, host, stage, path, query string, h HeaderSource) (string, int) {
	t.Helper()
	k, n, ok := s.AppendKey(nil, &KeyInput{Method: []byte(method), Host: []byte(host), Stage: []byte(stage), Path: []byte(path), Query: []byte(query), Header: h})
	if !ok {
		t.Fatalf("AppendKey(%s %s?%s) refused", method, path, query)
	}
	return string(k), n
}

func TestKeyEquivalences(t *testing.T) {
	all := NewKeySpec(true, nil, nil)
	some := NewKeySpec(false, []string{"page", "id"}, []string{"X-Tenant"})
	cases := []struct {
		name string
		spec *KeySpec
		a, b [6]string // method host stage path query, tenant header
		same bool
	}{
		{"query order does not matter", all, [6]string{"GET", "h", "prod", "/a", "x=1&y=2", ""}, [6]string{"GET", "h", "prod", "/a", "y=2&x=1", ""}, true},
		{"empty query members ignored", all, [6]string{"GET", "h", "prod", "/a", "x=1&&y=2&", ""}, [6]string{"GET", "h", "prod", "/a", "y=2&x=1", ""}, true},
		{"repeated names keep their order", all, [6]string{"GET", "h", "prod", "/a", "x=1&x=2", ""}, [6]string{"GET", "h", "prod", "/a", "x=2&x=1", ""}, false},
		{"values differ", all, [6]string{"GET", "h", "prod", "/a", "x=1", ""}, [6]string{"GET", "h", "prod", "/a", "x=2", ""}, false},
		{"name without value differs from empty value", all, [6]string{"GET", "h", "prod", "/a", "x", ""}, [6]string{"GET", "h", "prod", "/a", "x=", ""}, false},
		{"unselected params ignored", some, [6]string{"GET", "h", "prod", "/a", "id=1&utm=3", ""}, [6]string{"GET", "h", "prod", "/a", "id=1", ""}, true},
		{"selected params count", some, [6]string{"GET", "h", "prod", "/a", "id=1&page=2", ""}, [6]string{"GET", "h", "prod", "/a", "id=1", ""}, false},
		{"GET and HEAD share a class", all, [6]string{"GET", "h", "prod", "/a", "", ""}, [6]string{"HEAD", "h", "prod", "/a", "", ""}, true},
		{"other methods differ", all, [6]string{"GET", "h", "prod", "/a", "", ""}, [6]string{"OPTIONS", "h", "prod", "/a", "", ""}, false},
		{"host differs", all, [6]string{"GET", "h1", "prod", "/a", "", ""}, [6]string{"GET", "h2", "prod", "/a", "", ""}, false},
		{"stage differs", all, [6]string{"GET", "h", "prod", "/a", "", ""}, [6]string{"GET", "h", "dev", "/a", "", ""}, false},
		{"path differs", all, [6]string{"GET", "h", "prod", "/a", "", ""}, [6]string{"GET", "h", "prod", "/b", "", ""}, false},
		{"boundaries cannot be forged (host/stage)", all, [6]string{"GET", "ab", "c", "/", "", ""}, [6]string{"GET", "a", "bc", "/", "", ""}, false},
		{"boundaries cannot be forged (path/query)", all, [6]string{"GET", "h", "s", "/a", "b=1", ""}, [6]string{"GET", "h", "s", "/a\x00b=1&", "", ""}, false},
		{"NUL escape cannot be forged", all, [6]string{"GET", "h\x01\x02", "s", "/", "", ""}, [6]string{"GET", "h\x00", "s", "/", "", ""}, false},
		{"selected header counts", some, [6]string{"GET", "h", "s", "/", "", "t1"}, [6]string{"GET", "h", "s", "/", "", "t2"}, false},
		{"selected header whitespace normalized", some, [6]string{"GET", "h", "s", "/", "", "  a   b "}, [6]string{"GET", "h", "s", "/", "", "a b"}, true},
		{"selected header case kept", some, [6]string{"GET", "h", "s", "/", "", "A"}, [6]string{"GET", "h", "s", "/", "", "a"}, false},
		{"missing header differs from empty", some, [6]string{"GET", "h", "s", "/", "", "\x00missing"}, [6]string{"GET", "h", "s", "/", "", ""}, false},
	}
	mk := func(s *KeySpec, a [6]string) string {
		var h *fasthttp.RequestHeader
		if a[5] != "\x00missing" {
			h = hdr("X-Tenant", a[5])
		} else {
			h = hdr()
		}
		k, _ := key(t, s, a[0], a[1], a[2], a[3], a[4], h)
		return k
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ka, kb := mk(c.spec, c.a), mk(c.spec, c.b)
			if (ka == kb) != c.same {
				t.Errorf("same=%v, want %v\n a=%q\n b=%q", ka == kb, c.same, ka, kb)
			}
		})
	}
}

func TestKeyURLPartAndPurgePrefix(t *testing.T) {
	s := NewKeySpec(false, []string{"id"}, []string{"Accept"})
	k, n := key(t, s, "GET", "api.example", "prod", "/v1/users/7", "id=3&z=1", hdr("Accept", "json"))
	url, ok := s.AppendURL(nil, []byte("api.example"), []byte("prod"), []byte("/v1/users/7"), []byte("z=9&id=3"))
	if !ok || k[:n] != string(url) {
		t.Fatalf("URL part %q, AppendURL %q", k[:n], url)
	}
	for _, c := range []struct {
		prefix string
		match  bool
	}{{"/v1/", true}, {"/v1/users/7", true}, {"/", true}, {"/v2", false}, {"/v1/users/70", false}} {
		p := AppendPurgePrefix(nil, []byte("api.example"), []byte("prod"), []byte(c.prefix))
		if strings.HasPrefix(k, string(p)) != c.match {
			t.Errorf("prefix %q: match %v, want %v", c.prefix, !c.match, c.match)
		}
	}
	// The stage must end exactly: "prod" is not a prefix match for "prod2".
	p := AppendPurgePrefix(nil, []byte("api.example"), []byte("pro"), nil)
	if strings.HasPrefix(k, string(p)) {
		t.Error("stage prefix matched a longer stage")
	}
}

func TestKeyTooManyQueryParams(t *testing.T) {
	s := NewKeySpec(true, nil, nil)
	var q []string
	for i := 0; i < MaxKeyQueryParams; i++ {
		q = append(q, "p=1")
	}
	if _, _, ok := s.AppendKey(nil, &KeyInput{Method: []byte("GET"), Path: []byte("/"), Query: []byte(strings.Join(q, "&"))}); !ok {
		t.Fatal("MaxKeyQueryParams params refused")
	}
	q = append(q, "p=1")
	if _, _, ok := s.AppendKey(nil, &KeyInput{Method: []byte("GET"), Path: []byte("/"), Query: []byte(strings.Join(q, "&"))}); ok {
		t.Fatal("one more than MaxKeyQueryParams accepted")
	}
	// Unselected parameters do not count toward the limit.
	sel := NewKeySpec(false, []string{"id"}, nil)
	if _, _, ok := sel.AppendKey(nil, &KeyInput{Method: []byte("GET"), Path: []byte("/"), Query: []byte(strings.Join(q, "&") + "&id=1")}); !ok {
		t.Fatal("unselected params counted")
	}
}

func TestVariantKeys(t *testing.T) {
	primary := []byte("primary\x00")
	v := func(vary, consumer string, h HeaderSource) string {
		var c []byte
		if consumer != "" {
			c = []byte(consumer)
		}
		k, ok := AppendVariantKey(nil, primary, []byte(vary), c, h)
		if !ok {
			t.Fatalf("vary %q refused", vary)
		}
		if !bytes.HasPrefix(k, primary) {
			t.Fatal("variant key does not extend the primary key")
		}
		return string(k)
	}
	cases := []struct {
		name string
		a, b string
		same bool
	}{
		{"Accept-Encoding case folded", v("Accept-Encoding", "", hdr("Accept-Encoding", "GZIP, br")), v("Accept-Encoding", "", hdr("Accept-Encoding", "gzip, br")), true},
		{"Accept-Encoding whitespace collapsed", v("accept-encoding", "", hdr("Accept-Encoding", "  gzip,\t  br ")), v("Accept-Encoding", "", hdr("Accept-Encoding", "gzip, br")), true},
		{"other headers keep case", v("X-Mode", "", hdr("X-Mode", "A")), v("X-Mode", "", hdr("X-Mode", "a")), false},
		{"different values", v("Accept-Encoding", "", hdr("Accept-Encoding", "gzip")), v("Accept-Encoding", "", hdr("Accept-Encoding", "br")), false},
		{"absent vs empty", v("Accept-Encoding", "", hdr()), v("Accept-Encoding", "", hdr("Accept-Encoding", "")), false},
		{"consumer separates", v("", "alice", hdr()), v("", "bob", hdr()), false},
		{"public vs consumer", v("", "", hdr()), v("", "alice", hdr()), false},
		{"unrelated headers ignored", v("Accept", "", hdr("Accept", "x", "Cookie", "1")), v("Accept", "", hdr("Accept", "x", "Cookie", "2")), true},
		{"empty Vary members ignored", v(" , Accept,", "", hdr("Accept", "x")), v("Accept", "", hdr("Accept", "x")), true},
	}
	for _, c := range cases {
		if (c.a == c.b) != c.same {
			t.Errorf("%s: same=%v, want %v\n a=%q\n b=%q", c.name, c.a == c.b, c.same, c.a, c.b)
		}
	}
	if _, ok := AppendVariantKey(nil, primary, []byte("Accept, *"), nil, hdr()); ok {
		t.Error("Vary: * accepted")
	}
}

func FuzzAppendKey(f *testing.F) {
	f.Add("h", "s", "/a/b", "x=1&y=2&x=3", "gzip")
	f.Fuzz(func(t *testing.T, host, stage, path, query, ae string) {
		s := NewKeySpec(true, nil, []string{"Accept-Encoding"})
		in := &KeyInput{Method: []byte("GET"), Host: []byte(host), Stage: []byte(stage), Path: []byte(path), Query: []byte(query)}
		k1, n1, ok := s.AppendKey([]byte("prefix"), in)
		if !ok {
			return
		}
		if n1 > len(k1)-len("prefix") || !bytes.HasPrefix(k1, []byte("prefix")) {
			t.Fatalf("bad url length %d for key %q", n1, k1)
		}
		// Reversing the query members keeps the key when no name repeats.
		members := strings.Split(query, "&")
		seen := map[string]bool{}
		dup := false
		for _, m := range members {
			name, _, _ := strings.Cut(m, "=")
			if m != "" && seen[name] {
				dup = true
			}
			seen[name] = true
		}
		if !dup {
			for i, j := 0, len(members)-1; i < j; i, j = i+1, j-1 {
				members[i], members[j] = members[j], members[i]
			}
			in.Query = []byte(strings.Join(members, "&"))
			k2, _, _ := s.AppendKey([]byte("prefix"), in)
			if !bytes.Equal(k1, k2) {
				t.Fatalf("query order changed the key: %q vs %q", k1, k2)
			}
		}
		// A different path never gives the same key.
		in.Path = append([]byte(path), 'x')
		k3, _, _ := s.AppendKey(nil, in)
		if bytes.Equal(k1[len("prefix"):], k3) {
			t.Fatalf("paths %q and %q share a key", path, in.Path)
		}
		h := hdr()
		h.DisableNormalizing()
		h.Set("Accept-Encoding", ae)
		if _, ok := AppendVariantKey(nil, k1, []byte("Accept-Encoding"), nil, h); !ok {
			t.Fatal("variant refused")
		}
	})
}

func FuzzVary(f *testing.F) {
	f.Add("Accept-Encoding, *", "gzip")
	f.Add(" , accept ,,", "x")
	f.Fuzz(func(t *testing.T, vary, value string) {
		h := hdr()
		h.Set("Accept-Encoding", value)
		h.Set("Accept", value)
		k, ok := AppendVariantKey(nil, []byte("p"), []byte(vary), nil, h)
		if ok == VaryStar([]byte(vary)) {
			t.Fatalf("Vary %q: AppendVariantKey ok=%v but VaryStar=%v", vary, ok, !ok)
		}
		if ok && !bytes.HasPrefix(k, []byte("p\x01")) {
			t.Fatalf("variant key %q lost its primary key", k)
		}
	})
}
