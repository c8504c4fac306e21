package casign

import (
	"net/http"
	"testing"
	"time"
)

func TestParseMillis(t *testing.T) {
	for in, want := range map[string]int64{
		"0":             0,
		"1525872629832": 1525872629832 * int64(time.Millisecond),
		"9223372036854": 9223372036854 * int64(time.Millisecond),
	} {
		if got, ok := parseMillis([]byte(in)); !ok || got != want {
			t.Errorf("parseMillis(%q) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "-1", "+1", " 1", "1 ", "1.5", "0x10", "9223372036855", "99999999999999", "1e3"} {
		if _, ok := parseMillis([]byte(in)); ok {
			t.Errorf("parseMillis(%q) accepted", in)
		}
	}
}

func TestParseHTTPDate(t *testing.T) {
	for _, in := range []string{
		"Sun, 06 Nov 1994 08:49:37 GMT",
		"Wed, 09 May 2018 13:30:29 GMT",
		"Thu, 29 Feb 2024 23:59:59 GMT",
		"Sat, 01 Jan 2000 00:00:00 GMT",
	} {
		want, err := time.Parse(http.TimeFormat, in)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := parseHTTPDate([]byte(in)); !ok || got != want.UnixNano() {
			t.Errorf("parseHTTPDate(%q) = %d, %v; want %d", in, got, ok, want.UnixNano())
		}
	}
	for _, in := range []string{
		"",
		"Sunday, 06-Nov-94 08:49:37 GMT", // RFC 850
		"Sun Nov  6 08:49:37 1994",       // asctime
		"Sun, 06 Nov 1994 08:49:37 UTC",
		"Sun, 6 Nov 1994 08:49:37 GMT",
		"Xyz, 06 Nov 1994 08:49:37 GMT",
		"Sun, 06 Foo 1994 08:49:37 GMT",
		"Sun, 31 Apr 1994 08:49:37 GMT",
		"Thu, 29 Feb 2023 08:49:37 GMT",
		"Sun, 00 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 24:00:00 GMT",
		"Sun, 06 Nov 1994 08:60:00 GMT",
		"Sun, 06 Nov 1994 08:49:60 GMT",
		"Sun, 06 Nov 19x4 08:49:37 GMT",
		"Sun,  06 Nov 1994 08:49:37 GMT",
		"Fri, 31 Dec 9999 23:59:59 GMT", // would wrap UnixNano
		"Wed, 31 Dec 1969 23:59:59 GMT",
	} {
		if _, ok := parseHTTPDate([]byte(in)); ok {
			t.Errorf("parseHTTPDate(%q) accepted", in)
		}
	}
}
