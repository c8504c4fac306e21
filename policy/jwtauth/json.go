package jwtauth

import (
	"errors"
	"unicode/utf8"
)

// A strict, allocation-free JSON scanner for JOSE headers and claim sets.
// It validates a whole document first (RFC 8259 grammar, UTF-8, no lone
// surrogates, bounded depth) and then iterates top-level members as raw byte
// ranges, so claim values can be kept as sub-slices of the decoded payload.

var errJSON = errors.New("invalid JSON")

const maxJSONDepth = 32

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// validObject reports whether b is exactly one JSON object, optionally
// surrounded by whitespace.
func validObject(b []byte) bool {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	end, err := scanValue(b, i, 0)
	return err == nil && skipWS(b, end) == len(b)
}

// scanValue validates the value starting at b[i] and returns the index after it.
func scanValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, errJSON
	}
	switch c := b[i]; {
	case c == '"':
		return scanString(b, i)
	case c == '{':
		return scanComposite(b, i, depth, '}')
	case c == '[':
		return scanComposite(b, i, depth, ']')
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(b, i)
	}
	return 0, errJSON
}

func scanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, errJSON
	}
	return i + len(lit), nil
}

func scanComposite(b []byte, i, depth int, closer byte) (int, error) {
	if depth >= maxJSONDepth {
		return 0, errJSON
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == closer {
		return i + 1, nil
	}
	for {
		var err error
		if closer == '}' {
			if i >= len(b) || b[i] != '"' {
				return 0, errJSON
			}
			if i, err = scanString(b, i); err != nil {
				return 0, err
			}
			i = skipWS(b, i)
			if i >= len(b) || b[i] != ':' {
				return 0, errJSON
			}
			i = skipWS(b, i+1)
		}
		if i, err = scanValue(b, i, depth+1); err != nil {
			return 0, err
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return 0, errJSON
		}
		if b[i] == closer {
			return i + 1, nil
		}
		if b[i] != ',' {
			return 0, errJSON
		}
		i = skipWS(b, i+1)
	}
}

func scanNumber(b []byte, i int) (int, error) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = skipDigits(b, i)
	default:
		return 0, errJSON
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return 0, errJSON
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return 0, errJSON
		}
		i = j
	}
	return i, nil
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// scanString validates the string starting at the quote b[i].
func scanString(b []byte, i int) (int, error) {
	i++
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, nil
		case c < 0x20:
			return 0, errJSON
		case c == '\\':
			if i+1 >= len(b) {
				return 0, errJSON
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := hex4(b, i+2)
				if !ok {
					return 0, errJSON
				}
				i += 6
				if r >= 0xDC00 && r <= 0xDFFF {
					return 0, errJSON // lone low surrogate
				}
				if r >= 0xD800 && r <= 0xDBFF {
					if i+1 >= len(b) || b[i] != '\\' || b[i+1] != 'u' {
						return 0, errJSON
					}
					r2, ok := hex4(b, i+2)
					if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
						return 0, errJSON
					}
					i += 6
				}
			default:
				return 0, errJSON
			}
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				return 0, errJSON
			}
			i += n
		}
	}
	return 0, errJSON
}

func hex4(b []byte, i int) (rune, bool) {
	if len(b)-i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// appendUnescaped appends the decoded form of a validated string body (the
// bytes between the quotes).
func appendUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(s, i+2)
			i += 6
			if r >= 0xD800 && r <= 0xDBFF {
				r2, _ := hex4(s, i+2)
				r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst
}

func hasBackslash(s []byte) bool {
	for _, c := range s {
		if c == '\\' {
			return true
		}
	}
	return false
}

// objIter walks the top-level members of a document validObject accepted.
type objIter struct {
	b []byte
	i int
}

func newObjIter(b []byte) objIter { return objIter{b: b, i: skipWS(b, 0) + 1} }

// next returns the raw key body (between quotes, escapes intact) and the raw
// value of the next member.
func (it *objIter) next() (key, val []byte, ok bool) {
	b := it.b
	i := skipWS(b, it.i)
	if i >= len(b) || b[i] == '}' {
		return nil, nil, false
	}
	if b[i] == ',' {
		i = skipWS(b, i+1)
	}
	ke, err := scanString(b, i)
	if err != nil {
		panic("BUG: jwtauth: objIter on unvalidated JSON")
	}
	key = b[i+1 : ke-1]
	i = skipWS(b, ke) + 1 // ':'
	i = skipWS(b, i)
	ve, err := scanValue(b, i, 0)
	if err != nil {
		panic("BUG: jwtauth: objIter on unvalidated JSON")
	}
	it.i = ve
	return key, b[i:ve], true
}

// arrIter walks the elements of a validated JSON array value.
type arrIter struct {
	b []byte
	i int
}

func newArrIter(v []byte) arrIter { return arrIter{b: v, i: 1} }

func (it *arrIter) next() ([]byte, bool) {
	b := it.b
	i := skipWS(b, it.i)
	if i >= len(b) || b[i] == ']' {
		return nil, false
	}
	if b[i] == ',' {
		i = skipWS(b, i+1)
	}
	e, err := scanValue(b, i, 0)
	if err != nil {
		panic("BUG: jwtauth: arrIter on unvalidated JSON")
	}
	it.i = e
	return b[i:e], true
}

// stringBody returns the body of a raw JSON string value, or false.
func stringBody(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' {
		return nil, false
	}
	return v[1 : len(v)-1], true
}

// keyIs compares a raw key body with a plain name, decoding escapes so that
// "j\u006bu" is recognized as "jku".
func keyIs(raw []byte, name string) bool {
	if !hasBackslash(raw) {
		return string(raw) == name
	}
	var buf [64]byte
	return string(appendUnescaped(buf[:0], raw)) == name
}

// stringEq compares a raw JSON string value with s after unescaping.
func stringEq(v []byte, s string) bool {
	body, ok := stringBody(v)
	if !ok {
		return false
	}
	if !hasBackslash(body) {
		return string(body) == s
	}
	var buf [128]byte
	return string(appendUnescaped(buf[:0], body)) == s
}
