package ipacl

import (
	"net/netip"
	"strings"
	"testing"
)

func mustCompile(t testing.TB, cfg Config) *ACL {
	t.Helper()
	a, err := Compile(cfg)
	if err != nil {
		t.Fatalf("Compile(%+v): %v", cfg, err)
	}
	return a
}

func TestAllowedEdgeCases(t *testing.T) {
	cases := []struct {
		name        string
		allow, deny []string
		ip          string
		want        bool
	}{
		{"empty config allows v4", nil, nil, "192.0.2.1", true},
		{"empty config allows v6", nil, nil, "2001:db8::1", true},
		{"allow hit", []string{"10.0.0.0/8"}, nil, "10.200.1.1", true},
		{"allow miss", []string{"10.0.0.0/8"}, nil, "11.0.0.0", false},
		{"allow first address", []string{"10.0.0.0/8"}, nil, "10.0.0.0", true},
		{"allow last address", []string{"10.0.0.0/8"}, nil, "10.255.255.255", true},
		{"allow one below", []string{"10.0.0.0/8"}, nil, "9.255.255.255", false},
		{"bare v4 is /32", []string{"192.0.2.7"}, nil, "192.0.2.7", true},
		{"bare v4 is /32 neighbour", []string{"192.0.2.7"}, nil, "192.0.2.8", false},
		{"bare v6 is /128", []string{"2001:db8::7"}, nil, "2001:db8::7", true},
		{"bare v6 is /128 neighbour", []string{"2001:db8::7"}, nil, "2001:db8::8", false},
		{"deny wins over allow", []string{"10.0.0.0/8"}, []string{"10.1.0.0/16"}, "10.1.2.3", false},
		{"deny elsewhere", []string{"10.0.0.0/8"}, []string{"10.1.0.0/16"}, "10.2.2.3", true},
		{"deny only", nil, []string{"203.0.113.0/24"}, "203.0.113.9", false},
		{"deny only miss", nil, []string{"203.0.113.0/24"}, "203.0.114.9", true},
		{"v4 /0 matches all v4", []string{"0.0.0.0/0"}, nil, "255.255.255.255", true},
		{"v4 /0 does not match v6", []string{"0.0.0.0/0"}, nil, "2001:db8::1", false},
		{"v6 /0 matches all v6", []string{"::/0"}, nil, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
		{"v6 /0 does not match v4", []string{"::/0"}, nil, "1.2.3.4", false},
		{"v6 /0 does not match mapped v4", []string{"::/0"}, nil, "::ffff:1.2.3.4", false},
		{"deny v6 /0 leaves v4", nil, []string{"::/0"}, "1.2.3.4", true},
		{"mapped client vs v4 list", []string{"10.0.0.0/8"}, nil, "::ffff:10.9.9.9", true},
		{"mapped client vs v4 deny", nil, []string{"10.0.0.0/8"}, "::ffff:10.9.9.9", false},
		{"mapped list entry vs v4 client", []string{"::ffff:10.0.0.0/104"}, nil, "10.3.3.3", true},
		{"mapped list entry miss", []string{"::ffff:10.0.0.0/104"}, nil, "11.3.3.3", false},
		{"mapped bare entry", []string{"::ffff:192.0.2.1"}, nil, "192.0.2.1", true},
		{"mapped /96 is v4 /0", []string{"::ffff:0.0.0.0/96"}, nil, "8.8.8.8", true},
		{"overlapping nested", []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.1.0/24"}, nil, "10.1.1.1", true},
		{"overlapping adjacent merge", []string{"10.0.0.0/9", "10.128.0.0/9"}, nil, "10.127.255.255", true},
		{"overlapping adjacent merge hi", []string{"10.0.0.0/9", "10.128.0.0/9"}, nil, "10.128.0.0", true},
		{"max v6 address", []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120"}, nil, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
		{"zone ignored on client", []string{"fe80::/10"}, nil, "fe80::1%eth0", true},
		{"v6 allow miss", []string{"2001:db8::/32"}, nil, "2001:db9::1", false},
		{"v6 allow hit", []string{"2001:db8::/32"}, nil, "2001:db8:ffff::1", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := mustCompile(t, Config{Allow: c.allow, Deny: c.deny})
			if got := a.Allowed(netip.MustParseAddr(c.ip)); got != c.want {
				t.Fatalf("Allowed(%s) = %v, want %v", c.ip, got, c.want)
			}
		})
	}
}

func TestAllowedInvalidAddrFailsClosed(t *testing.T) {
	a := mustCompile(t, Config{})
	if a.Allowed(netip.Addr{}) {
		t.Fatal("zero Addr allowed")
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{Allow: []string{"10.0.0.0/8", "10.0.0.1/8"}}, `ipacl: allow[1] "10.0.0.1/8": host bits set (did you mean "10.0.0.0/8"?)`},
		{Config{Deny: []string{"10.0.0.0/33"}}, `ipacl: deny[0] "10.0.0.0/33": not a CIDR`},
		{Config{Deny: []string{"bogus"}}, `ipacl: deny[0] "bogus": not an IP address or CIDR`},
		{Config{Allow: []string{""}}, `ipacl: allow[0] "": empty entry`},
		{Config{Allow: []string{" 10.0.0.1"}}, `ipacl: allow[0] " 10.0.0.1": surrounding whitespace`},
		{Config{Allow: []string{"fe80::1%eth0"}}, `ipacl: allow[0] "fe80::1%eth0": zones are not allowed`},
		{Config{Allow: []string{"2001:db8::1/32"}}, `host bits set (did you mean "2001:db8::/32"?)`},
		{Config{Allow: []string{"010.0.0.1"}}, `"010.0.0.1": not an IP address`},
	}
	for _, c := range cases {
		_, err := Compile(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%+v) error = %v, want containing %q", c.cfg, err, c.want)
		}
	}
}

func TestNewSetKeyInError(t *testing.T) {
	_, err := NewSet("trusted_proxies", []string{"1.2.3.4", "x"})
	if err == nil || !strings.HasPrefix(err.Error(), `ipacl: trusted_proxies[1] "x"`) {
		t.Fatalf("error = %v", err)
	}
}

func TestNilAndEmptySet(t *testing.T) {
	var s *Set
	if s.Contains(netip.MustParseAddr("1.1.1.1")) || s.Len() != 0 {
		t.Fatal("nil set not empty")
	}
	e, err := NewSet("x", nil)
	if err != nil || e.Contains(netip.MustParseAddr("::1")) || e.Contains(netip.MustParseAddr("0.0.0.0")) {
		t.Fatal("empty set not empty")
	}
}

func TestTableMergesAndIndexes(t *testing.T) {
	// 300 adjacent /24s merge into ranges; the index must still be right.
	var cidrs []string
	for i := range 300 {
		cidrs = append(cidrs, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i / 256), byte(i % 256), 0}), 24).String())
	}
	// and 100 scattered host routes so the table is large enough to index
	for i := range 100 {
		cidrs = append(cidrs, netip.AddrFrom4([4]byte{172, 16, byte(i), 1}).String())
	}
	s, err := NewSet("t", cidrs)
	if err != nil {
		t.Fatal(err)
	}
	if s.v4.idx == nil {
		t.Fatal("expected an indexed table")
	}
	if got := len(s.v4.r); got != 101 {
		t.Fatalf("merged ranges = %d, want 101", got)
	}
	for _, c := range []struct {
		ip   string
		want bool
	}{{"10.1.43.255", true}, {"10.1.44.0", false}, {"172.16.99.1", true}, {"172.16.99.2", false}, {"172.16.100.1", false}} {
		if got := s.Contains(netip.MustParseAddr(c.ip)); got != c.want {
			t.Errorf("Contains(%s) = %v", c.ip, got)
		}
	}
}
