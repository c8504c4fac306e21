package ipacl

import (
	"net/netip"

	"github.com/sluicegw/sluice/policy/httpbytes"
)

// Trusted is the set of proxies whose X-Forwarded-For hops ClientIP
// believes: a compiled *Set, or a Prefixes list. ClientIP is generic over it
// so neither is boxed into an interface on the request path.
type Trusted interface {
	Contains(ip netip.Addr) bool
}

// Prefixes is a plain CIDR list usable as Trusted, for callers that hold
// []netip.Prefix (the snapshot's server.trusted_proxies). Lookups are
// linear, which is what a list of a few proxy ranges wants. Read-only after
// construction; safe for concurrent use.
type Prefixes []netip.Prefix

// Contains reports whether ip is in one of the prefixes, with the same
// rules as Set.Contains: zones are ignored, IPv4-mapped addresses are
// looked up as IPv4, and an IPv4-mapped prefix of length >= 96 means the
// IPv4 prefix it spells. Zero allocations.
func (ps Prefixes) Contains(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range ps {
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ClientIP returns the address the ACL, rate limits, templates and logs
// treat as the client. It is the only client-address resolver of the
// gateway (the data plane calls it for every request).
//
// When the socket peer is not trusted the peer is the client and xff is
// ignored: anyone can write X-Forwarded-For. When the peer is a trusted
// proxy, the hops are walked from right to left (the right-most hop was
// appended by the proxy closest to us, so it is the only one we can vouch
// for) and the first hop that is not itself a trusted proxy is the client.
// If every hop is trusted, the left-most one is returned.
//
// xff holds the X-Forwarded-For field values in arrival order; several
// fields are one comma-separated list (RFC 9110 §5.3). Hops may carry
// spaces or tabs around them, and empty list elements are skipped (RFC 9110
// §5.6.1). A hop is exactly one IP address: ports, brackets, zones and
// "unknown" are malformed. Walking stops at the first malformed hop, and the
// last good address seen so far (the previous, trusted hop, or the peer
// itself) is returned: a client cannot hide behind garbage, and garbage
// cannot make us pick a left-hand hop an attacker wrote.
//
// The result is never IPv4-mapped and never carries an IPv6 zone: a zone is
// free text ("2001:db8::1%\"><script>") that would otherwise reach
// templates, upstream headers and logs (issue 10, defect 15). Zero
// allocations.
func ClientIP[T Trusted](peer netip.Addr, xff [][]byte, trusted T) netip.Addr {
	peer = peer.Unmap().WithZone("")
	if !trusted.Contains(peer) {
		return peer
	}
	last := peer
	for fi := len(xff) - 1; fi >= 0; fi-- {
		v := xff[fi]
		end := len(v)
		for end >= 0 {
			start := end
			for start > 0 && v[start-1] != ',' {
				start--
			}
			hop := httpbytes.TrimOWS(v[start:end])
			end = start - 1 // skip the comma; -1 at the left edge ends this field
			if len(hop) == 0 {
				continue
			}
			ip, ok := ParseAddr(hop)
			if !ok {
				return last
			}
			ip = ip.Unmap()
			if !trusted.Contains(ip) {
				return ip
			}
			last = ip
		}
	}
	return last
}
