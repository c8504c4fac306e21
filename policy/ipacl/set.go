package ipacl

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// Set is a compiled list of CIDRs answering membership in constant-ish time
// (see table). It is immutable after NewSet and safe for concurrent use; a
// nil *Set is the empty set.
type Set struct {
	v4, v6 table
	n      int // entries in the source list, for Len
}

// NewSet compiles cidrs (CIDRs or bare addresses) into a Set. key names the
// config list in error messages, e.g. "trusted_proxies" gives
// `ipacl: trusted_proxies[2] "10.0.0.1/8": host bits set (did you mean "10.0.0.0/8"?)`.
func NewSet(key string, cidrs []string) (*Set, error) {
	var v4, v6 []span
	for i, s := range cidrs {
		p, err := parseEntry(s)
		if err != nil {
			return nil, fmt.Errorf("ipacl: %s[%d] %q: %s", key, i, s, err)
		}
		sp := prefixSpan(p)
		if p.Addr().Is4() {
			v4 = append(v4, sp)
		} else {
			v6 = append(v6, sp)
		}
	}
	return &Set{v4: buildTable(v4, 32), v6: buildTable(v6, 128), n: len(cidrs)}, nil
}

// Len is the number of entries the set was compiled from.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return s.n
}

// Contains reports whether ip is inside one of the set's CIDRs. IPv4-mapped
// IPv6 addresses are looked up as IPv4 and zones are ignored. The invalid
// zero Addr is in no set. Zero allocations.
func (s *Set) Contains(ip netip.Addr) bool {
	if s == nil || !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	if ip.Is4() {
		b := ip.As4()
		return s.v4.contains(u128{0, uint64(binary.BigEndian.Uint32(b[:]))})
	}
	b := ip.As16()
	return s.v6.contains(u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])})
}

// parseEntry parses one config entry strictly: no surrounding spaces, no
// zones, no host bits beyond the prefix length (a typo such as
// "10.0.0.1/8" for "10.0.0.1/32" would otherwise silently open a /8).
// An IPv4-mapped IPv6 prefix of length >= 96 becomes the IPv4 prefix it
// spells, so "::ffff:10.0.0.0/104" and "10.0.0.0/8" are the same entry.
// Shorter IPv6 prefixes that happen to cover ::ffff:0:0/96 (such as ::/0)
// stay IPv6-only: they never match an IPv4 client, which keeps "::/0"
// meaning "all of IPv6" as operators of nginx and HAProxy expect.
func parseEntry(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, fmt.Errorf("empty entry")
	}
	if strings.TrimSpace(s) != s {
		return netip.Prefix{}, fmt.Errorf("surrounding whitespace")
	}
	var p netip.Prefix
	if strings.IndexByte(s, '/') >= 0 {
		var err error
		p, err = netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("not a CIDR: %s", trimNetipErr(err))
		}
		if m := p.Masked(); m != p {
			return p, fmt.Errorf("host bits set (did you mean %q?)", m.String())
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return p, fmt.Errorf("not an IP address or CIDR")
		}
		if a.Zone() != "" {
			return p, fmt.Errorf("zones are not allowed")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p, nil
}

// trimNetipErr drops the quoted input netip repeats, since our message
// already names the value.
func trimNetipErr(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "): "); i >= 0 {
		return msg[i+3:]
	}
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

// prefixSpan turns a masked prefix into its closed address range.
func prefixSpan(p netip.Prefix) span {
	a := p.Addr()
	if a.Is4() {
		b := a.As4()
		lo := u128{0, uint64(binary.BigEndian.Uint32(b[:]))}
		return span{lo, lo.or(lowMask(uint(32 - p.Bits())))}
	}
	b := a.As16()
	lo := u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
	return span{lo, lo.or(lowMask(uint(128 - p.Bits())))}
}
