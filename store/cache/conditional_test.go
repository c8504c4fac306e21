package cache

import "testing"

func TestNotModified(t *testing.T) {
	lm := int64(1_000_000)
	e := &Entry{Status: 200, ETag: []byte(`"abc"`)}
	e.LastModified, e.Date = lm, lm+50
	at := func(ts int64) []byte { return AppendHTTPDate(nil, ts) }
	cases := []struct {
		name     string
		e        *Entry
		inm, ims []byte
		want     bool
	}{
		{"no conditionals", e, nil, nil, false},
		{"etag match", e, []byte(`"abc"`), nil, true},
		{"etag in a list", e, []byte(`"x", "abc"`), nil, true},
		{"weak request tag matches (weak comparison)", e, []byte(`W/"abc"`), nil, true},
		{"no match", e, []byte(`"abd"`), nil, false},
		{"star", e, []byte(`*`), nil, true},
		{"unquoted garbage", e, []byte(`abc`), nil, false},
		{"garbage then match", e, []byte(`abc, "abc"`), nil, true},
		{"unterminated", e, []byte(`"abc`), nil, false},
		{"If-None-Match wins over a matching If-Modified-Since", e, []byte(`"zzz"`), at(lm + 10), false},
		{"not modified since", e, nil, at(lm), true},
		{"modified since", e, nil, at(lm - 1), false},
		{"invalid date ignored", e, nil, []byte("yesterday"), false},
		{"Date stands in for Last-Modified", &Entry{Status: 200, Meta: Meta{Date: lm}}, nil, at(lm), true},
		{"only a 200 becomes 304", &Entry{Status: 404, ETag: []byte(`"abc"`)}, []byte(`"abc"`), nil, false},
		{"stored weak etag", &Entry{Status: 200, ETag: []byte(`W/"abc"`)}, []byte(`"abc"`), nil, true},
		{"no stored etag", &Entry{Status: 200}, []byte(`"abc"`), nil, false},
	}
	for _, c := range cases {
		if got := NotModified(c.e, c.inm, c.ims, now2026); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestInvalidatesOnUnsafe(t *testing.T) {
	cases := []struct {
		m    string
		st   int
		want bool
	}{
		{"POST", 200, true}, {"PUT", 204, true}, {"DELETE", 301, true}, {"PATCH", 201, true},
		{"POST", 404, false}, {"POST", 500, false}, {"POST", 100, false},
		{"GET", 200, false}, {"HEAD", 200, false}, {"OPTIONS", 200, false}, {"TRACE", 200, false},
	}
	for _, c := range cases {
		if got := InvalidatesOnUnsafe([]byte(c.m), c.st); got != c.want {
			t.Errorf("%s %d: got %v", c.m, c.st, got)
		}
	}
}

func FuzzIfNoneMatch(f *testing.F) {
	f.Add(`"a", W/"b"`, `"b"`)
	f.Fuzz(func(t *testing.T, list, etag string) {
		e := &Entry{Status: 200, ETag: []byte(etag)}
		got := NotModified(e, []byte(list), nil, 0)
		// A valid stored tag always matches itself, weak or strong.
		if _, ok := opaqueTag([]byte(etag)); ok && !NotModified(e, []byte(etag), nil, 0) {
			t.Fatalf("%q does not match itself", etag)
		}
		_ = got
	})
}
