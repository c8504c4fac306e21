//go:build !race

package ipacl

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestAllocsAllowed(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	var cfg Config
	for range 2000 {
		cfg.Allow = append(cfg.Allow, randPrefix(r, false))
		cfg.Deny = append(cfg.Deny, randPrefix(r, false))
	}
	acl := mustCompile(t, cfg)
	ips := []netip.Addr{netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::ffff:10.1.2.3")}
	var sink bool
	if n := testing.AllocsPerRun(1000, func() {
		for _, ip := range ips {
			sink = acl.Allowed(ip) != sink
		}
	}); n != 0 {
		t.Fatalf("Allowed allocs = %v", n)
	}
}

func TestAllocsParseAndClientIP(t *testing.T) {
	trusted, err := NewSet("trusted_proxies", []string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	xff := [][]byte{[]byte("203.0.113.1, 2001:db8::7"), []byte("10.1.1.1, 10.2.2.2")}
	plain := Prefixes{netip.MustParsePrefix("10.0.0.0/8")}
	peer := netip.MustParseAddr("10.0.0.1")
	v6 := []byte("2001:db8:0:0:1:2:3.4.5.6")
	var sink netip.Addr
	if n := testing.AllocsPerRun(1000, func() {
		sink = ClientIP(peer, xff, plain)
		sink = ClientIP(peer, xff, trusted)
		a, _ := ParseAddr(v6)
		if a.IsValid() {
			sink = a
		}
	}); n != 0 {
		t.Fatalf("allocs = %v", n)
	}
	if sink != netip.MustParseAddr("2001:db8::1:2:304:506") {
		t.Fatalf("sink = %s", sink)
	}
}
