//go:build !race

package cache

import "testing"

func TestParseAllocations(t *testing.T) {
	cc := []byte(`public, max-age=60, s-maxage=30, no-cache="Set-Cookie", stale-while-revalidate=5, x="y"`)
	date := []byte("Sun, 06 Nov 1994 08:49:37 GMT")
	var d Directives
	if a := testing.AllocsPerRun(1000, func() {
		d = Directives{}
		ParseCacheControl(&d, cc)
		_, _ = ParseHTTPDate(date, now2026)
		_, _ = ParseAge(cc[:2])
	}); a != 0 {
		t.Fatalf("parsing allocates %v times", a)
	}
}

func TestAppendKeyAllocations(t *testing.T) {
	s := NewKeySpec(false, []string{"id", "page", "sort"}, []string{"X-Tenant"})
	h := hdr("X-Tenant", "acme", "Accept-Encoding", "gzip, br")
	in := &KeyInput{Method: []byte("GET"), Host: []byte("api.example.com"), Stage: []byte("prod"), Path: []byte("/v1/users"), Query: []byte("sort=name&page=2&id=7&utm=x"), Header: h}
	all := NewKeySpec(true, nil, nil)
	buf := make([]byte, 0, 512)
	// The Vary value comes from a stored entry in the pipeline, so it is
	// made once here (a literal converted in the loop would escape through
	// the HeaderSource interface and count as the key builder's allocation).
	vary, consumer := []byte("Accept-Encoding, X-Tenant"), []byte("consumer-1")
	if a := testing.AllocsPerRun(1000, func() {
		k, _, _ := s.AppendKey(buf[:0], in)
		k, _ = AppendVariantKey(k, nil, vary, consumer, h)
		k, _, _ = all.AppendKey(k[:0], in)
		buf = k[:0]
	}); a != 0 {
		t.Fatalf("key building allocates %v times", a)
	}
}

func TestStoreGetHitAllocations(t *testing.T) {
	s := NewStore(Options{})
	defer s.Reset()
	for _, n := range []int{1 << 10, 16 << 10, 200 << 10} {
		k, ul := testKey(t, "/alloc", "", "")
		e := sampleEntry(n, 1)
		e.Tags = []byte("a b c")
		s.Set(k, ul, e)
		// A purge record of another URL and tag puts the lookup on the
		// locked path that checks the records.
		s.PurgeURL(urlOf(t, "/other", ""), 1)
		s.PurgeTag([]byte("z"), 1)
		s.PurgePrefix([]byte("zzz"), 1)
		buf := make([]byte, 0, n+1024)
		var d Entry
		if a := testing.AllocsPerRun(1000, func() {
			v, ok := s.GetInto(buf[:0], k)
			if !ok || !d.Decode(v) {
				t.Fatal("miss")
			}
		}); a != 0 {
			t.Errorf("hit of %d bytes allocates %v times", n, a)
		}
	}
}

func TestStoreSetAllocations(t *testing.T) {
	s := NewStore(Options{})
	defer s.Reset()
	k, ul := testKey(t, "/alloc", "", "")
	e := sampleEntry(1<<10, 1)
	e.Tags = []byte("a b")
	s.Set(k, ul, e)
	if a := testing.AllocsPerRun(1000, func() { s.Set(k, ul, e) }); a != 0 {
		t.Errorf("Set allocates %v times", a)
	}
}

func TestCoalesceLeaderAllocations(t *testing.T) {
	co := NewCoalescer()
	key := []byte("GET\x00h\x00/cold")
	f, _ := co.Join(key)
	co.Done(f) // warms the pool
	if a := testing.AllocsPerRun(1000, func() {
		f, leader := co.Join(key)
		if !leader {
			t.Fatal("not leader")
		}
		co.Done(f)
	}); a != 0 {
		t.Fatalf("uncontended Join+Done allocates %v times", a)
	}
}

func TestConditionalAllocations(t *testing.T) {
	e := &Entry{Status: 200, ETag: []byte(`"abc"`)}
	inm, ims := []byte(`"x", W/"abc"`), []byte("Sun, 06 Nov 1994 08:49:37 GMT")
	if a := testing.AllocsPerRun(1000, func() {
		_ = NotModified(e, inm, nil, 0)
		_ = NotModified(e, nil, ims, 0)
	}); a != 0 {
		t.Fatalf("NotModified allocates %v times", a)
	}
}
