package ipacl

import (
	"net/netip"
	"strings"
	"testing"
)

func FuzzParseAddr(f *testing.F) {
	for _, s := range parseCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := ParseAddr([]byte(s))
		want, err := netip.ParseAddr(s)
		if strings.IndexByte(s, '%') >= 0 {
			if ok {
				t.Fatalf("ParseAddr(%q) accepted a zone", s)
			}
			return
		}
		if ok != (err == nil) || (ok && got != want) {
			t.Fatalf("ParseAddr(%q) = %v, %v; netip %v, %v", s, got, ok, want, err)
		}
	})
}

// naiveClientIP is the documented XFF walk written with strings and netip:
// the fields are joined into one list, empty elements are skipped, and the
// first malformed or zoned hop stops the walk.
func naiveClientIP(peer netip.Addr, fields []string, trusted []netip.Prefix) netip.Addr {
	in := func(a netip.Addr) bool { return naiveIn(trusted, a) }
	peer = peer.Unmap().WithZone("")
	if !in(peer) {
		return peer
	}
	last := peer
	hops := strings.Split(strings.Join(fields, ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.Trim(hops[i], " \t")
		if h == "" {
			continue
		}
		a, err := netip.ParseAddr(h)
		if err != nil || a.Zone() != "" {
			return last
		}
		a = a.Unmap()
		if !in(a) {
			return a
		}
		last = a
	}
	return last
}

// FuzzClientIP checks ClientIP against the naive walk, over a compiled Set
// and over a Prefixes list, with the fuzzed value split at '\n' into
// several X-Forwarded-For fields. Whatever the input, the answer is never
// zoned and never IPv4-mapped (issue 10, defect 15).
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1", "1.1.1.1, 198.51.100.7, 10.2.2.2")
	f.Add("10.0.0.1", "")
	f.Add("::ffff:10.0.0.1", "2001:db8::1,\t::ffff:10.0.0.9 ,")
	f.Add("203.0.113.1", "10.0.0.1")
	f.Add("10.0.0.1", "garbage, 10.1.1.1")
	f.Add("10.0.0.1", "1.1.1.1\n10.1.1.1,\n\n 10.2.2.2")
	f.Add("10.0.0.1", "2001:db8::1%\"><script>")
	f.Add("10.0.0.1", "6.6.6.6, 2001:db8::1%eth0, 10.3.3.3")
	f.Add("fe80::1%eth0", "fe80::2%eth0")
	trustedList := []string{"10.0.0.0/8", "2001:db8:ffff::/48", "::ffff:192.0.2.0/120"}
	trusted, err := NewSet("trusted_proxies", trustedList)
	if err != nil {
		f.Fatal(err)
	}
	var naive []netip.Prefix
	for _, s := range trustedList {
		naive = append(naive, naivePrefix(s))
	}
	var plain Prefixes
	for _, s := range trustedList {
		plain = append(plain, netip.MustParsePrefix(s))
	}
	f.Fuzz(func(t *testing.T, peerS, xff string) {
		peer, err := netip.ParseAddr(peerS)
		if err != nil {
			return
		}
		fields := strings.Split(xff, "\n")
		raw := make([][]byte, len(fields))
		for i, s := range fields {
			raw[i] = []byte(s)
		}
		want := naiveClientIP(peer, fields, naive)
		for name, got := range map[string]netip.Addr{
			"Set":      ClientIP(peer, raw, trusted),
			"Prefixes": ClientIP(peer, raw, plain),
		} {
			if got != want {
				t.Fatalf("ClientIP over %s (%s, %q) = %s, oracle %s", name, peer, xff, got, want)
			}
			if got.Zone() != "" || got.Is4In6() {
				t.Fatalf("ClientIP over %s (%s, %q) = %s: zoned or mapped", name, peer, xff, got)
			}
		}
	})
}

// FuzzCompile feeds newline-separated allow and deny lists to Compile; a
// list Compile accepts must then agree with the linear oracle on every
// address the fuzzer supplies and on every list entry's edges.
func FuzzCompile(f *testing.F) {
	f.Add("10.0.0.0/8\n192.0.2.1", "10.1.0.0/16", "10.1.2.3")
	f.Add("::/0", "", "::ffff:1.2.3.4")
	f.Add("::ffff:10.0.0.0/104\n2001:db8::/32", "2001:db8::1", "2001:db8::1")
	f.Add("0.0.0.0/0", "10.0.0.1/8", "10.0.0.1")
	f.Add("fe80::1%eth0", "", "fe80::1")
	f.Fuzz(func(t *testing.T, allowS, denyS, probeS string) {
		var cfg Config
		if allowS != "" {
			cfg.Allow = strings.Split(allowS, "\n")
		}
		if denyS != "" {
			cfg.Deny = strings.Split(denyS, "\n")
		}
		acl, err := Compile(cfg)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "ipacl: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		oracle := newNaive(cfg)
		check := func(a netip.Addr) {
			if got, want := acl.Allowed(a), oracle.Allowed(a); got != want {
				t.Fatalf("Allowed(%s) = %v, oracle %v (cfg %q)", a, got, want, cfg)
			}
		}
		if a, err := netip.ParseAddr(probeS); err == nil {
			check(a)
		}
		for _, p := range append(append([]netip.Prefix(nil), oracle.allow...), oracle.deny...) {
			sp := prefixSpan(p)
			lo1 := sp.lo
			lo1.lo--
			if sp.lo.lo == 0 {
				lo1.hi--
			}
			hi1, _ := sp.hi.addOne()
			for _, k := range []u128{sp.lo, sp.hi, lo1, hi1} {
				check(fromU128(k, p.Addr().Is4()))
			}
		}
	})
}
