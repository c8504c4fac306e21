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
		{"trailing empty element is skipped", "10.0.0.1", "1.1.1.1, ", "1.1.1.1"},
		{"empty elements between hops are skipped", "10.0.0.1", "1.1.1.1,, ,10.6.6.6", "1.1.1.1"},
		{"tabs and spaces", "10.0.0.1", " \t198.51.100.7\t ", "198.51.100.7"},
		{"port is malformed", "10.0.0.1", "198.51.100.7:4444", "10.0.0.1"},
		{"brackets are malformed", "10.0.0.1", "[2001:db8::1]", "10.0.0.1"},
		{"v6 hop", "10.0.0.1", "2001:db8::1", "2001:db8::1"},
		{"v6 trusted proxy", "2001:db8:ffff::1", "2001:db8:ffff::2, 2001:db8::5", "2001:db8::5"},
		{"mapped peer is trusted", "::ffff:10.0.0.1", "198.51.100.7", "198.51.100.7"},
		{"mapped hop is unmapped", "10.0.0.1", "::ffff:198.51.100.7", "198.51.100.7"},
		{"mapped trusted hop", "10.0.0.1", "198.51.100.7, ::ffff:10.1.1.1", "198.51.100.7"},
		{"only commas", "10.0.0.1", ",,,", "10.0.0.1"},
		{"unknown is malformed", "10.0.0.1", "1.1.1.1, unknown", "10.0.0.1"},
		{"leading comma after good hop", "10.0.0.1", ",10.5.5.5", "10.5.5.5"},
		{"zoned trusted peer", "fe80::1%eth0", "198.51.100.7", "198.51.100.7"},
		{"zone stripped from untrusted peer", "fe80::2%eth0", "", "fe80::2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ClientIP(netip.MustParseAddr(c.peer), [][]byte{[]byte(c.xff)}, trusted)
			if got != netip.MustParseAddr(c.want) {
				t.Fatalf("ClientIP(%s, %q) = %s, want %s", c.peer, c.xff, got, c.want)
			}
		})
	}
}

func TestClientIPNilTrusted(t *testing.T) {
	peer := netip.MustParseAddr("::ffff:10.0.0.1")
	if got := ClientIP(peer, [][]byte{[]byte("1.1.1.1")}, (*Set)(nil)); got != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("got %s", got)
	}
	if got := ClientIP(peer, [][]byte{[]byte("1.1.1.1")}, Prefixes(nil)); got != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("got %s", got)
	}
}

// TestClientIPSeveralFields: several X-Forwarded-For fields are one list in
// arrival order, the last field holding the right-most hops.
func TestClientIPSeveralFields(t *testing.T) {
	trusted := Prefixes{netip.MustParsePrefix("10.0.0.0/8")}
	peer := netip.MustParseAddr("10.0.0.1")
	cases := []struct {
		fields []string
		want   string
	}{
		{[]string{"6.6.6.6", "198.51.100.7, 10.1.1.1"}, "198.51.100.7"},
		{[]string{"198.51.100.7", "10.1.1.1", "10.2.2.2"}, "198.51.100.7"},
		{[]string{"198.51.100.7", "", "10.2.2.2"}, "198.51.100.7"},
		{[]string{"6.6.6.6", "garbage", "10.2.2.2"}, "10.2.2.2"},
		{nil, "10.0.0.1"},
	}
	for _, c := range cases {
		var raw [][]byte
		for _, f := range c.fields {
			raw = append(raw, []byte(f))
		}
		if got := ClientIP(peer, raw, trusted); got != netip.MustParseAddr(c.want) {
			t.Errorf("ClientIP(%q) = %s, want %s", c.fields, got, c.want)
		}
	}
}

// TestDefect15ZonedHopNeverReturned: an IPv6 zone is free text a client can
// fill with markup; a zoned hop is malformed, so the walk stops before it
// and the zone never reaches templates or logs (issue 10, defect 15).
func TestDefect15ZonedHopNeverReturned(t *testing.T) {
	for _, trusted := range []Trusted{
		Prefixes{netip.MustParsePrefix("10.0.0.0/8")},
		mustSet(t, "10.0.0.0/8"),
	} {
		for _, xff := range []string{
			`2001:db8::1%"><script>`,
			`2001:db8::1%eth0`,
			`6.6.6.6, 2001:db8::1%25x, 10.9.9.9`,
		} {
			var got netip.Addr
			switch tr := trusted.(type) {
			case Prefixes:
				got = ClientIP(netip.MustParseAddr("10.0.0.1"), [][]byte{[]byte(xff)}, tr)
			case *Set:
				got = ClientIP(netip.MustParseAddr("10.0.0.1"), [][]byte{[]byte(xff)}, tr)
			}
			if got.Zone() != "" {
				t.Fatalf("%T: ClientIP(%q) = %s kept a zone", trusted, xff, got)
			}
			if want := "10.0.0.1"; xff[0] == '6' {
				if got != netip.MustParseAddr("10.9.9.9") {
					t.Fatalf("%T: ClientIP(%q) = %s, want 10.9.9.9 (the last good hop)", trusted, xff, got)
				}
			} else if got != netip.MustParseAddr(want) {
				t.Fatalf("%T: ClientIP(%q) = %s, want the peer %s", trusted, xff, got, want)
			}
		}
	}
}

// TestPrefixesContains: the plain list answers like a compiled Set.
func TestPrefixesContains(t *testing.T) {
	list := []string{"10.0.0.0/8", "2001:db8::/32", "::ffff:192.0.2.0/120", "fe80::1/128"}
	ps := make(Prefixes, 0, len(list))
	for _, s := range list {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	set := mustSet(t, list...)
	for _, s := range []string{"10.1.2.3", "::ffff:10.1.2.3", "11.0.0.1", "2001:db8::9", "2001:db9::1",
		"192.0.2.7", "::ffff:192.0.2.7", "192.0.3.1", "fe80::1%eth0", "fe80::2"} {
		a := netip.MustParseAddr(s)
		if got, want := ps.Contains(a), set.Contains(a); got != want {
			t.Errorf("Prefixes.Contains(%s) = %v, Set says %v", s, got, want)
		}
	}
	if ps.Contains(netip.Addr{}) {
		t.Error("the zero Addr is in no list")
	}
}

func mustSet(t *testing.T, cidrs ...string) *Set {
	t.Helper()
	s, err := NewSet("trusted_proxies", cidrs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
