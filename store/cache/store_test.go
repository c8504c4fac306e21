package cache

import (
	"bytes"
	"strconv"
	"testing"
)

// testKey builds a primary key for path on host "h", stage "prod", plus an
// optional variant suffix (consumer), returning the key and its URL length.
func testKey(t testing.TB, path, query, consumer string) ([]byte, int) {
	t.Helper()
	s := NewKeySpec(true, nil, nil)
	k, n, ok := s.AppendKey(nil, &KeyInput{Method: []byte("GET"), Host: []byte("h"), Stage: []byte("prod"), Path: []byte(path), Query: []byte(query)})
	if !ok {
		t.Fatal("key refused")
	}
	if consumer != "" {
		k, _ = AppendVariantKey(nil, k, nil, []byte(consumer), nil)
	}
	return k, n
}

func urlOf(t testing.TB, path, query string) []byte {
	u, ok := NewKeySpec(true, nil, nil).AppendURL(nil, []byte("h"), []byte("prod"), []byte(path), []byte(query))
	if !ok {
		t.Fatal("url refused")
	}
	return u
}

func body(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func sampleEntry(n int, seed byte) *Entry {
	return &Entry{
		Meta:     Meta{RequestTime: 10, ResponseTime: 11, Date: 9, Age: 2, Lifetime: 60, SWR: 5, SIE: 7, LastModified: 3, Flags: MetaPublic | MetaMustRevalidate},
		Status:   200,
		StoredAt: 11,
		ETag:     []byte(`"v1"`),
		Header:   []byte("Content-Type: application/json\r\n"),
		Body:     body(n, seed),
	}
}

func mustGet(t testing.TB, s *Store, key []byte) *Entry {
	t.Helper()
	v, ok := s.GetInto(nil, key)
	if !ok {
		t.Fatalf("miss for %q", key)
	}
	e := &Entry{}
	if !e.Decode(v) {
		t.Fatal("stored value does not decode")
	}
	return e
}

func isMiss(s *Store, key []byte) bool {
	_, ok := s.GetInto(nil, key)
	return !ok
}

func TestStoreRoundTrip(t *testing.T) {
	s := NewStore(Options{MaxSize: 64 << 20})
	defer s.Reset()
	// Sizes around fastcache's 64 KiB chunk: inline, the edge, and the big-value API.
	for _, n := range []int{0, 1 << 10, 16 << 10, 64<<10 - 200, 64<<10 - 100, 64 << 10, 300 << 10} {
		k, ul := testKey(t, "/size/"+strconv.Itoa(n), "", "")
		in := sampleEntry(n, byte(n))
		in.Tags = []byte("a b")
		if !s.Set(k, ul, in) {
			t.Fatalf("size %d refused", n)
		}
		e := mustGet(t, s, k)
		if e.Meta != in.Meta || e.Status != 200 || e.StoredAt != 11 || string(e.ETag) != `"v1"` ||
			!bytes.Equal(e.Header, in.Header) || !bytes.Equal(e.Body, in.Body) || e.urlLen != ul || len(e.tagHashes) != 16 {
			t.Fatalf("size %d: round trip mismatch: %+v", n, e.Meta)
		}
	}
	// GetInto appends after what dst holds.
	k, _ := testKey(t, "/size/1024", "", "")
	v, ok := s.GetInto([]byte("xyz"), k)
	if !ok || string(v[:3]) != "xyz" {
		t.Fatal("GetInto did not append")
	}
	var e Entry
	if !e.Decode(v[3:]) || len(e.Body) != 1024 {
		t.Fatal("appended value does not decode")
	}
	if !isMiss(s, []byte("no such key")) {
		t.Fatal("unknown key hit")
	}
}

func TestStoreOverwriteInlineAndBig(t *testing.T) {
	s := NewStore(Options{})
	defer s.Reset()
	k, ul := testKey(t, "/x", "", "")
	s.Set(k, ul, sampleEntry(100<<10, 1))
	s.Set(k, ul, sampleEntry(10, 2))
	if e := mustGet(t, s, k); !bytes.Equal(e.Body, body(10, 2)) {
		t.Fatal("inline overwrite of a big value not seen")
	}
	s.Set(k, ul, sampleEntry(100<<10, 3))
	if e := mustGet(t, s, k); !bytes.Equal(e.Body, body(100<<10, 3)) {
		t.Fatal("big overwrite of an inline value not seen")
	}
}

func TestStoreRefusals(t *testing.T) {
	s := NewStore(Options{MaxObjectSize: 4 << 10})
	defer s.Reset()
	before, beforeOther := refusedTooLarge.Get(), refusedOther.Get()
	k, ul := testKey(t, "/big", "", "")
	if s.Set(k, ul, sampleEntry(8<<10, 1)) {
		t.Fatal("object above MaxObjectSize stored")
	}
	if !isMiss(s, k) {
		t.Fatal("refused object readable")
	}
	tags := bytes.Repeat([]byte("t "), MaxTags+1)
	e := sampleEntry(10, 1)
	e.Tags = tags
	if s.Set(k, ul, e) {
		t.Fatal("entry with too many tags stored")
	}
	long := bytes.Repeat([]byte("k"), MaxKeyLen+1)
	if s.Set(long, 1, sampleEntry(10, 1)) {
		t.Fatal("over-long key stored")
	}
	if got, other := refusedTooLarge.Get()-before, refusedOther.Get()-beforeOther; got != 1 || other != 2 {
		t.Fatalf("refusal counters moved by %d (too large) and %d (other), want 1 and 2", got, other)
	}
	e.Tags = bytes.Repeat([]byte("t "), MaxTags)
	if !s.Set(k, ul, e) {
		t.Fatal("entry with MaxTags tags refused")
	}
}

func TestStorePurgeURL(t *testing.T) {
	s := NewStore(Options{})
	defer s.Reset()
	keys := map[string][]byte{}
	add := func(name, path, query, consumer string) {
		k, ul := testKey(t, path, query, consumer)
		s.Set(k, ul, sampleEntry(100, 1))
		keys[name] = k
	}
	add("primary", "/a", "q=1", "")
	add("alice", "/a", "q=1", "alice")
	add("bob", "/a", "q=1", "bob")
	add("other query", "/a", "q=2", "")
	add("other path", "/ab", "q=1", "")
	// Query order must not matter for the purge either.
	s.PurgeURL(urlOf(t, "/a", "q=1"), 100)
	for name, gone := range map[string]bool{"primary": true, "alice": true, "bob": true, "other query": false, "other path": false} {
		if isMiss(s, keys[name]) != gone {
			t.Errorf("%s: gone=%v, want %v", name, !gone, gone)
		}
	}
	// A store after the purge is served again.
	k, ul := testKey(t, "/a", "q=1", "")
	s.Set(k, ul, sampleEntry(100, 2))
	if isMiss(s, k) {
		t.Fatal("entry stored after the purge is missing")
	}
}

func TestStorePurgeDuringFill(t *testing.T) {
	s := NewStore(Options{})
	defer s.Reset()
	k, ul := testKey(t, "/a", "", "")
	seq := s.Seq() // the fill starts
	s.PurgeURL(urlOf(t, "/a", ""), 100)
	e := sampleEntry(100, 1)
	e.Seq = seq
	s.Set(k, ul, e) // the origin's answer arrives after the purge
	if !isMiss(s, k) {
		t.Fatal("an answer fetched before a purge survived it")
	}
	e.Seq = s.Seq()
	s.Set(k, ul, e)
	if isMiss(s, k) {
		t.Fatal("an answer fetched after the purge was dropped")
	}
}

func TestStorePurgePrefix(t *testing.T) {
	s := NewStore(Options{})
	defer s.Reset()
	paths := []string{"/v1/users/1", "/v1/users/2", "/v1/orders", "/v2/users/1"}
	var ks [][]byte
	for _, p := range paths {
		k, ul := testKey(t, p, "x=1", "alice")
		s.Set(k, ul, sampleEntry(100, 1))
		ks = append(ks, k)
	}
	s.PurgePrefix(AppendPurgePrefix(nil, []byte("h"), []byte("prod"), []byte("/v1/users/")), 100)
	for i, gone := range []bool{true, true, false, false} {
		if isMiss(s, ks[i]) != gone {
			t.Errorf("%s: gone=%v, want %v", paths[i], !gone, gone)
		}
	}
	// More prefix rules than maxPrefixRules turn into a purge of everything.
	for i := 0; i < maxPrefixRules; i++ {
		s.PurgePrefix(AppendPurgePrefix(nil, []byte("h"), []byte("prod"), []byte("/none/"+strconv.Itoa(i))), 100)
	}
	if !isMiss(s, ks[2]) || !isMiss(s, ks[3]) {
		t.Fatal("prefix rule overflow did not purge everything")
	}
	if p := s.prefixes.Load(); p != nil {
		t.Fatalf("%d prefix rules left after the overflow", len(*p))
	}
}

func TestStorePurgeTag(t *testing.T) {
	s := NewStore(Options{})
	defer s.Reset()
	mk := func(path, tags string) []byte {
		k, ul := testKey(t, path, "", "")
		e := sampleEntry(100, 1)
		e.Tags = []byte(tags)
		s.Set(k, ul, e)
		return k
	}
	a := mk("/a", "product-1 catalog")
	b := mk("/b", " catalog\tproduct-2 ")
	c := mk("/c", "product-3")
	d := mk("/d", "")
	s.PurgeTag([]byte("catalog"), 100)
	if !isMiss(s, a) || !isMiss(s, b) || isMiss(s, c) || isMiss(s, d) {
		t.Fatal("tag purge removed the wrong entries")
	}
	s.PurgeTag([]byte("product"), 100) // a prefix of a tag is not the tag
	if isMiss(s, c) {
		t.Fatal("tag prefix purged an entry")
	}
}

func TestStorePurgeAll(t *testing.T) {
	s := NewStore(Options{})
	defer s.Reset()
	k, ul := testKey(t, "/a", "", "")
	seq := s.Seq()
	s.Set(k, ul, sampleEntry(100, 1))
	s.PurgeURL(urlOf(t, "/zzz", ""), 1)
	s.PurgeAll()
	if !isMiss(s, k) || s.nRecords.Load() != 0 {
		t.Fatal("PurgeAll left entries or records")
	}
	e := sampleEntry(100, 1)
	e.Seq = seq // a fill that began before PurgeAll
	s.Set(k, ul, e)
	if !isMiss(s, k) {
		t.Fatal("a fill begun before PurgeAll survived it")
	}
}

func TestStorePurgeRecordsBounded(t *testing.T) {
	s := NewStore(Options{MaxPurgeRecords: 8})
	defer s.Reset()
	old, oul := testKey(t, "/old", "", "")
	s.Set(old, oul, sampleEntry(10, 1))
	for i := 0; i < 100; i++ {
		s.PurgeURL(urlOf(t, "/p/"+strconv.Itoa(i), ""), 100)
		if n := len(s.urls); n > 8 {
			t.Fatalf("%d URL records, bound is 8", n)
		}
	}
	// Dropping records raised the floor: an entry stored before them is
	// gone (it might have been purged by a dropped record) ...
	if !isMiss(s, old) {
		t.Fatal("entry older than dropped purge records survived")
	}
	// ... and one stored now is served.
	nw, nul := testKey(t, "/new", "", "")
	s.Set(nw, nul, sampleEntry(10, 1))
	if isMiss(s, nw) {
		t.Fatal("new entry missing")
	}
	// Purges recorded after the floor still work.
	s.PurgeURL(urlOf(t, "/new", ""), 100)
	if !isMiss(s, nw) {
		t.Fatal("purge after the bound did not apply")
	}
}

func TestStoreSweep(t *testing.T) {
	s := NewStore(Options{PurgeRetention: 60})
	defer s.Reset()
	k1, u1 := testKey(t, "/1", "", "")
	s.Set(k1, u1, sampleEntry(10, 1))
	s.PurgeURL(urlOf(t, "/zzz", ""), 1000)
	s.PurgeTag([]byte("t"), 1000)
	s.PurgePrefix([]byte("zzz"), 1000)
	k2, u2 := testKey(t, "/2", "", "")
	s.Set(k2, u2, sampleEntry(10, 1))
	s.Sweep(1050) // nothing is old enough
	if s.nRecords.Load() != 2 || s.prefixes.Load() == nil || isMiss(s, k1) {
		t.Fatal("Sweep dropped records inside the retention")
	}
	s.Sweep(1061)
	if s.nRecords.Load() != 0 || s.prefixes.Load() != nil {
		t.Fatal("Sweep kept expired records")
	}
	if !isMiss(s, k1) {
		t.Fatal("entry older than the swept records survived")
	}
	if isMiss(s, k2) {
		t.Fatal("entry newer than the swept records dropped")
	}
}

func TestEntryDecodeRejectsGarbage(t *testing.T) {
	var e Entry
	for _, v := range [][]byte{nil, make([]byte, 99), bytes.Repeat([]byte{magic}, headerSize)} {
		if e.Decode(v) {
			t.Fatalf("decoded %d garbage bytes", len(v))
		}
	}
	s := NewStore(Options{})
	defer s.Reset()
	k, ul := testKey(t, "/a", "", "")
	s.Set(k, ul, sampleEntry(100, 1))
	v, _ := s.GetInto(nil, k)
	if e.Decode(v[:len(v)-1]) {
		t.Fatal("truncated value decoded")
	}
	// A foreign value under the key (not written by Set) is a miss.
	s.c.Set([]byte("foreign"), bytes.Repeat([]byte{1}, 200))
	if !isMiss(s, []byte("foreign")) {
		t.Fatal("foreign value served")
	}
}

func FuzzEntryDecode(f *testing.F) {
	s := NewStore(Options{})
	k, ul := testKey(f, "/a", "", "")
	e := sampleEntry(50, 1)
	e.Tags = []byte("x y")
	s.Set(k, ul, e)
	v, _ := s.GetInto(nil, k)
	s.Reset()
	f.Add(v)
	f.Fuzz(func(t *testing.T, v []byte) {
		var e Entry
		if !e.Decode(v) {
			return
		}
		if len(e.ETag)+len(e.Header)+len(e.Body)+len(e.tagHashes)+headerSize != len(v) {
			t.Fatal("decoded sections do not add up")
		}
	})
}

func TestStoreGauges(t *testing.T) {
	e0, b0, m0 := liveStats()
	s := NewStore(Options{MaxSize: 32 << 20})
	k, ul := testKey(t, "/g", "", "")
	s.Set(k, ul, sampleEntry(1000, 1))
	e1, b1, m1 := liveStats()
	if e1 != e0+1 || b1 <= b0 || m1 != m0+32<<20 {
		t.Fatalf("gauges did not count the new store: entries %d->%d bytes %d->%d max %d->%d", e0, e1, b0, b1, m0, m1)
	}
	s.Reset()
	if e2, _, m2 := liveStats(); e2 != e0 || m2 != m0 {
		t.Fatal("a reset store still counts")
	}
}

// TestStoreConcurrentPurges runs lookups, stores and every kind of purge at
// once (meant for -race), then checks that a purge issued after all fills
// leaves nothing of its URL behind.
func TestStoreConcurrentPurges(t *testing.T) {
	s := NewStore(Options{MaxPurgeRecords: 16, PurgeRetention: 5})
	defer s.Reset()
	const workers, rounds = 4, 2000
	done := make(chan struct{})
	for w := 0; w < workers; w++ {
		go func() {
			defer func() { done <- struct{}{} }()
			var buf []byte
			var e Entry
			for i := 0; i < rounds; i++ {
				path := "/c/" + strconv.Itoa(i%17)
				k, ul := testKey(t, path, "", "")
				en := sampleEntry(64+i%3000, byte(i))
				en.Tags = []byte("t" + strconv.Itoa(i%5))
				en.Seq = s.Seq()
				s.Set(k, ul, en)
				if v, ok := s.GetInto(buf[:0], k); ok && !e.Decode(v[len(buf[:0]):]) {
					t.Error("torn entry")
					return
				}
				switch i % 97 {
				case 1:
					s.PurgeURL(urlOf(t, path, ""), int64(i))
				case 2:
					s.PurgeTag([]byte("t1"), int64(i))
				case 3:
					s.PurgePrefix(AppendPurgePrefix(nil, []byte("h"), []byte("prod"), []byte("/c/1")), int64(i))
				case 4:
					s.Sweep(int64(i))
				case 5:
					if i%5 == 0 {
						s.PurgeAll()
					}
				}
			}
		}()
	}
	for w := 0; w < workers; w++ {
		<-done
	}
	for i := 0; i < 17; i++ {
		path := "/c/" + strconv.Itoa(i)
		s.PurgeURL(urlOf(t, path, ""), rounds)
		if k, _ := testKey(t, path, "", ""); !isMiss(s, k) {
			t.Fatalf("%s survived its purge", path)
		}
	}
}
