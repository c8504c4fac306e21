package accesslog

// maskQuery appends the raw query q to dst with the value of every parameter
// whose name is in masked replaced by "***".
//
// Matching is deliberately generous, because a leaked secret costs more
// than an over-masked value: names are compared after percent- and
// '+'-decoding and ASCII case folding (so "Tok%65n" matches "token"), and
// both '&' and ';' separate parameters. masked holds lower-case names.
// Bytes other than masked values are copied unchanged.
func maskQuery(dst, q []byte, masked [][]byte) []byte {
	for len(q) > 0 {
		end := 0
		for end < len(q) && q[end] != '&' && q[end] != ';' {
			end++
		}
		p := q[:end]
		eq := 0
		for eq < len(p) && p[eq] != '=' {
			eq++
		}
		if eq < len(p) && nameMasked(p[:eq], masked) {
			dst = append(dst, p[:eq+1]...)
			dst = append(dst, "***"...)
		} else {
			dst = append(dst, p...)
		}
		if end == len(q) {
			break
		}
		dst = append(dst, q[end])
		q = q[end+1:]
	}
	return dst
}

func nameMasked(raw []byte, masked [][]byte) bool {
	for _, m := range masked {
		if nameEqual(raw, m) {
			return true
		}
	}
	return false
}

// nameEqual reports whether the form-decoded, ASCII-lower-cased raw equals
// lower. Malformed escapes are compared literally, as lenient servers read
// them.
func nameEqual(raw, lower []byte) bool {
	// Decoding shrinks a name at most threefold ("%41" -> "A").
	if len(lower) > len(raw) || len(raw) > 3*len(lower) {
		return false
	}
	j := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '+':
			c = ' '
		case c == '%' && i+2 < len(raw) && isHex(raw[i+1]) && isHex(raw[i+2]):
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if j >= len(lower) || lower[j] != c {
			return false
		}
		j++
	}
	return j == len(lower)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
