package ipacl

import (
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted, err := NewSet("trusted_proxies", []string{"10.0.0.0/8", "2001:db8:ffff::/48", "fe80::1"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, peer, xff, want string
	}{
		{"untrusted peer ignores xff", "203.0.113.5", "1.1.1.1", "203.0.113.5"},
		{"trusted peer no xff", "10.0.0.1", "", "10.0.0.1"},
		{"trusted peer one hop", "10.0.0.1", "198.51.100.7", "198.51.100.7"},
		{"right-most untrusted wins", "10.0.0.1", "1.1.1.1, 198.51.100.7", "198.51.100.7"},
		{"skip trusted hops", "10.0.0.1", "1.1.1.1, 198.51.100.7, 10.2.2.2, 10.3.3.3", "198.51.100.7"},
		{"all trusted gives left-most", "10.0.0.1", "10.9.9.9,10.8.8.8", "10.9.9.9"},
		{"malformed right-most gives peer", "10.0.0.1", "1.1.1.1, garbage", "10.0.0.1"},
		{"malformed after trusted gives trusted", "10.0.0.1", "1.1.1.1, bad, 10.4.4.4", "10.4.4.4"},
		{"spoofed left part ignored", "10.0.0.1", "6.6.6.6, 198.51.100.7", "198.51.100.7"},
		{"empty element is malformed", "10.0.0.1", "1.1.1.1, ", "10.0.0.1"},
		{"tabs and spaces", "10.0.0.1", " \t198.51.100.7\t ", "198.51.100.7"},
		{"port is malformed", "10.0.0.1", "198.51.100.7:4444", "10.0.0.1"},
		{"brackets are malformed", "10.0.0.1", "[2001:db8::1]", "10.0.0.1"},
		{"v6 hop", "10.0.0.1", "2001:db8::1", "2001:db8::1"},
		{"v6 trusted proxy", "2001:db8:ffff::1", "2001:db8:ffff::2, 2001:db8::5", "2001:db8::5"},
		{"mapped peer is trusted", "::ffff:10.0.0.1", "198.51.100.7", "198.51.100.7"},
		{"mapped hop is unmapped", "10.0.0.1", "::ffff:198.51.100.7", "198.51.100.7"},
		{"mapped trusted hop", "10.0.0.1", "198.51.100.7, ::ffff:10.1.1.1", "198.51.100.7"},
		{"only commas", "10.0.0.1", ",,,", "10.0.0.1"},
		{"leading comma after good hop", "10.0.0.1", ",10.5.5.5", "10.5.5.5"},
		{"zoned trusted peer", "fe80::1%eth0", "198.51.100.7", "198.51.100.7"},
		{"zone stripped from untrusted peer", "fe80::2%eth0", "", "fe80::2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ClientIP(netip.MustParseAddr(c.peer), []byte(c.xff), trusted)
			if got != netip.MustParseAddr(c.want) {
				t.Fatalf("ClientIP(%s, %q) = %s, want %s", c.peer, c.xff, got, c.want)
			}
		})
	}
}

func TestClientIPNilTrusted(t *testing.T) {
	peer := netip.MustParseAddr("::ffff:10.0.0.1")
	if got := ClientIP(peer, []byte("1.1.1.1"), nil); got != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("got %s", got)
	}
}
