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
