package cache

import (
	"testing"
)

func BenchmarkParseCacheControl(b *testing.B) {
	cc := []byte(`public, max-age=60, s-maxage=30, no-cache="Set-Cookie", stale-while-revalidate=5, stale-if-error=600`)
	b.ReportAllocs()
	b.SetBytes(int64(len(cc)))
	var d Directives
	for b.Loop() {
		d = Directives{}
		ParseCacheControl(&d, cc)
	}
	if d.MaxAge != 60 {
		b.Fatal(d)
	}
}

func BenchmarkParseHTTPDate(b *testing.B) {
	date := []byte("Sun, 06 Nov 1994 08:49:37 GMT")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := ParseHTTPDate(date, now2026); !ok {
			b.Fatal("no")
		}
	}
}
