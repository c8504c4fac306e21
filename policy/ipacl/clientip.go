package ipacl

import "net/netip"

// ClientIP returns the address the ACL, rate limits and logs should treat as
// the client.
//
// When the socket peer is not in trusted (or trusted is nil/empty) the peer
// is the client and xff is ignored: anyone can write X-Forwarded-For.
// When the peer is a trusted proxy, xff is walked from right to left (the
// right-most hop was appended by the proxy closest to us, so it is the only
// one we can vouch for) and the first hop that is not itself a trusted proxy
// is the client. If every hop is trusted, the left-most one is returned.
//
// xff is the X-Forwarded-For value; when a request carries several
// X-Forwarded-For fields the caller joins them with "," in arrival order
// (RFC 9110 5.3 makes that the same list). Hops are separated by commas and
// may carry spaces or tabs around them. A hop is exactly one IP address:
// ports, brackets, zones, "unknown" and empty elements are malformed.
// Walking stops at the first malformed hop, and the last good address seen
// so far (the previous, trusted hop, or the peer itself) is returned: a
// client cannot hide behind garbage, and garbage cannot make us pick a
// left-hand hop an attacker wrote.
//
// The result is never IPv4-mapped (it is Unmapped) and never carries an
// IPv6 zone, so it can key rate limits and logs directly. Zero allocations.
func ClientIP(peer netip.Addr, xff []byte, trusted *Set) netip.Addr {
	peer = peer.Unmap().WithZone("")
	if !trusted.Contains(peer) {
		return peer
	}
	last := peer
	end := len(xff)
	for end > 0 {
		start := end
		for start > 0 && xff[start-1] != ',' {
			start--
		}
		hop := trimOWS(xff[start:end])
		ip, ok := ParseAddr(hop)
		if !ok {
			return last
		}
		ip = ip.Unmap()
		if !trusted.Contains(ip) {
			return ip
		}
		last = ip
		end = start - 1 // skip the comma; -1 at the left edge ends the walk
	}
	return last
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
