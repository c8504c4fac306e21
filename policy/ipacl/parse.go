package ipacl

import "net/netip"

// ParseAddr parses an IPv4 or IPv6 address from b without allocating
// (netip.ParseAddr takes a string, and converting a []byte header value to
// one costs an allocation per request). It accepts exactly what
// netip.ParseAddr accepts except zones ("fe80::1%eth0"), which never belong
// in a forwarded-for hop: dotted-quad IPv4 without leading zeros, and RFC
// 4291 IPv6 text with at most one "::" and an optional trailing dotted quad.
// IPv4-mapped IPv6 addresses are returned as written (Is4In6); callers that
// compare with IPv4 lists Unmap them (Set.Contains does).
func ParseAddr(b []byte) (netip.Addr, bool) {
	for _, c := range b {
		switch c {
		case '.':
			v4, ok := parse4(b)
			if !ok {
				return netip.Addr{}, false
			}
			return netip.AddrFrom4(v4), true
		case ':':
			return parse6(b)
		}
	}
	return netip.Addr{}, false
}

// parse4 parses exactly four decimal fields 0-255 separated by dots.
func parse4(b []byte) (ip [4]byte, ok bool) {
	field, digits, val := 0, 0, 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			if digits == 1 && val == 0 {
				return ip, false // leading zero: "01" is octal to some parsers
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return ip, false
			}
		case c == '.':
			if digits == 0 || field == 3 {
				return ip, false
			}
			ip[field] = byte(val)
			field++
			digits, val = 0, 0
		default:
			return ip, false
		}
	}
	if field != 3 || digits == 0 {
		return ip, false
	}
	ip[3] = byte(val)
	return ip, true
}

func hexVal(c byte) (uint32, bool) {
	switch {
	case c >= '0' && c <= '9':
		return uint32(c - '0'), true
	case c >= 'a' && c <= 'f':
		return uint32(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return uint32(c-'A') + 10, true
	}
	return 0, false
}

// parse6 mirrors the grammar of netip's IPv6 parser, without zones.
func parse6(s []byte) (netip.Addr, bool) {
	var ip [16]byte
	ellipsis := -1 // byte offset in ip where "::" stands
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis = 0
		s = s[2:]
		if len(s) == 0 {
			return netip.IPv6Unspecified(), true
		}
	}
	i := 0
	for i < 16 {
		off := 0
		var acc uint32
		for ; off < len(s); off++ {
			d, ok := hexVal(s[off])
			if !ok {
				break
			}
			if off > 3 {
				return netip.Addr{}, false
			}
			acc = acc<<4 | d
		}
		if off == 0 {
			return netip.Addr{}, false
		}
		if off < len(s) && s[off] == '.' {
			if (ellipsis < 0 && i != 12) || i+4 > 16 {
				return netip.Addr{}, false
			}
			v4, ok := parse4(s)
			if !ok {
				return netip.Addr{}, false
			}
			copy(ip[i:], v4[:])
			i += 4
			s = nil
			break
		}
		ip[i], ip[i+1] = byte(acc>>8), byte(acc)
		i += 2
		s = s[off:]
		if len(s) == 0 {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return netip.Addr{}, false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false
			}
			ellipsis = i
			s = s[1:]
			if len(s) == 0 {
				break
			}
		}
	}
	if len(s) != 0 {
		return netip.Addr{}, false
	}
	if i < 16 {
		if ellipsis < 0 {
			return netip.Addr{}, false
		}
		n := 16 - i
		copy(ip[ellipsis+n:], ip[ellipsis:i])
		clear(ip[ellipsis : ellipsis+n])
	} else if ellipsis >= 0 {
		return netip.Addr{}, false // "::" must stand for at least one group
	}
	return netip.AddrFrom16(ip), true
}
