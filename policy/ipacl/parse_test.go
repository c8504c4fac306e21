package ipacl

import (
	"net/netip"
	"strings"
	"testing"
)

var parseCases = []string{
	"0.0.0.0", "255.255.255.255", "1.2.3.4", "192.168.001.1", "1.2.3", "1.2.3.4.5", "256.1.1.1",
	"1..2.3", ".1.2.3", "1.2.3.", "01.2.3.4", "1.2.3.04", "0.0.0.00", "1.2.3.4 ", " 1.2.3.4", "1.2.3.a",
	"::", "::1", "1::", "1::2", "2001:db8::1", "2001:DB8::ABCD", "::ffff:1.2.3.4", "::1.2.3.4",
	"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7",
	"::1:2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4",
	"1::2::3", ":1::2", "1::2:", "12345::1", "0001:0002::", "1:2:3:4:5:6:7:8:", "fe80::1%eth0",
	"::ffff:1.2.3", "::ffff:01.2.3.4", "", ":", ":::", "1.2.3.4:80", "[::1]", "g::1", "::ffff:0.0.0.0",
	"1:2:3:4:5:6::1.2.3.4", "1:2:3:4:5::1.2.3.4", "unknown",
}

func TestParseAddrMatchesNetip(t *testing.T) {
	for _, s := range parseCases {
		got, ok := ParseAddr([]byte(s))
		want, err := netip.ParseAddr(s)
		if strings.Contains(s, "%") {
			if ok {
				t.Errorf("ParseAddr(%q) accepted a zone", s)
			}
			continue
		}
		if ok != (err == nil) || (ok && got != want) {
			t.Errorf("ParseAddr(%q) = %v, %v; netip %v, %v", s, got, ok, want, err)
		}
	}
}
