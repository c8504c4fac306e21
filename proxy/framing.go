package proxy

// checkFraming inspects the request's header block exactly as received and
// reports a reason when the message framing is ambiguous. fasthttp parses
// framing leniently (it picks one of Content-Length and Transfer-Encoding and
// folds duplicates), and a gateway that disagrees with its upstream about
// where a request ends is open to request smuggling, so anything that two
// HTTP parsers could read differently is refused here (RFC 9112 §6.3):
//
//   - Content-Length together with Transfer-Encoding;
//   - more than one Content-Length, or a list, or a value that is not digits;
//   - Transfer-Encoding other than exactly one "chunked";
//   - obsolete line folding, and whitespace between a field name and its colon.
//
// It returns "" when the framing is unambiguous. It does not allocate.
func checkFraming(raw []byte) string {
	var nCL, nTE int
	for len(raw) > 0 {
		end := indexByte(raw, '\n')
		line := raw
		if end >= 0 {
			line, raw = raw[:end], raw[end+1:]
		} else {
			raw = nil
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			return "obsolete header line folding"
		}
		colon := indexByte(line, ':')
		if colon <= 0 {
			return "header line without a name"
		}
		name := line[:colon]
		for _, c := range name {
			if c == ' ' || c == '\t' {
				return "whitespace in a header name"
			}
		}
		value := trimOWS(line[colon+1:])
		switch {
		case equalFoldASCII(name, "content-length"):
			nCL++
			if nCL > 1 {
				return "more than one Content-Length"
			}
			if len(value) == 0 || len(value) > 18 {
				return "invalid Content-Length"
			}
			for _, c := range value {
				if c < '0' || c > '9' {
					return "invalid Content-Length"
				}
			}
		case equalFoldASCII(name, "transfer-encoding"):
			nTE++
			if nTE > 1 {
				return "more than one Transfer-Encoding"
			}
			if !equalFoldASCII(value, "chunked") {
				return "unsupported Transfer-Encoding (only chunked)"
			}
		}
	}
	if nCL > 0 && nTE > 0 {
		return "both Content-Length and Transfer-Encoding"
	}
	return ""
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
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

// equalFoldASCII compares b with a lower-case ASCII literal, ignoring case.
func equalFoldASCII(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
