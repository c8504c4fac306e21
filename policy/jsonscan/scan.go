// Package jsonscan is the strict, allocation-free JSON scanner shared by the
// hot-path checks that read a few members out of a small document: JWT
// headers and claim sets (policy/jwtauth) and JSON body parameters
// (policy/params). It validates RFC 8259 grammar, UTF-8 and nesting depth
// and hands out members and elements as sub-slices of the input, so a
// caller decodes only what it compares or forwards. Everything else that
// reads or writes JSON (configs, JWKS documents, admin endpoints) uses a
// reflection library instead; this package exists only because those
// allocate per call.
//
// All functions are safe for concurrent use; the iterators are values owned
// by one goroutine.
package jsonscan

import (
	"errors"
	"unicode/utf8"
)

// Kind is the JSON type of a value found by the scanner.
type Kind uint8

// Kinds of JSON values. None means "not found" or "not valid".
const (
	None Kind = iota
	String
	Number
	Bool
	Null
	Object
	Array
)

var kindNames = [...]string{"none", "string", "number", "bool", "null", "object", "array"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid"
}

// MaxDepth is the deepest nesting any Rules may allow. The scanner keeps
// one bit per open container on the stack, so the bound also fixes its
// stack use (MaxDepth/8 bytes); encoding/json's own bound is 10000.
const MaxDepth = 1024

// Rules are the per-caller strictness settings. The zero value allows
// MaxDepth levels and decodes lone surrogate escapes to U+FFFD, as
// encoding/json does.
type Rules struct {
	// MaxDepth bounds container nesting, the outermost container counting
	// as one level; deeper documents are malformed. 0 or more than the
	// package's MaxDepth means MaxDepth.
	MaxDepth int
	// StrictSurrogates rejects \uD800-\uDFFF escapes that do not form a
	// pair (I-JSON, RFC 7493 §2.1): JOSE wants every string to be a
	// well-formed Unicode string, parameter checks follow encoding/json.
	StrictSurrogates bool
}

func (r Rules) depth() int {
	if r.MaxDepth <= 0 || r.MaxDepth > MaxDepth {
		return MaxDepth
	}
	return r.MaxDepth
}

// Scanner errors. Both are the client's errors (a 400 or 401 upstream of
// here), never a reason to close anything.
var (
	ErrMalformed = errors.New("malformed JSON")
	ErrNotObject = errors.New("not a JSON object")
)

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// SkipWS returns the index of the first non-whitespace byte at or after i.
func SkipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// ScanString validates the string whose opening quote is b[i] and returns
// the index after its closing quote and whether it holds escapes. Strings
// must be valid UTF-8 (RFC 8259 §8.1) without raw control characters;
// strict also refuses unpaired surrogate escapes.
func ScanString(b []byte, i int, strict bool) (end int, esc bool, ok bool) {
	i++
	for i < len(b) {
		// Most bytes of most strings are plain ASCII: one table lookup each.
		for i < len(b) && plainByte[b[i]] {
			i++
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			return i + 1, esc, true
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return 0, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := hex4(b, i+2)
				if !ok {
					return 0, false, false
				}
				i += 6
				if !strict || r < 0xD800 || r > 0xDFFF {
					continue
				}
				if r >= 0xDC00 { // low surrogate first
					return 0, false, false
				}
				if i+1 >= len(b) || b[i] != '\\' || b[i+1] != 'u' {
					return 0, false, false
				}
				r2, ok := hex4(b, i+2)
				if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
					return 0, false, false
				}
				i += 6
			default:
				return 0, false, false
			}
		case c < 0x20:
			return 0, false, false
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				return 0, false, false
			}
			i += n
		}
	}
	return 0, false, false
}

// plainByte marks the bytes that stand for themselves inside a string:
// printable ASCII other than the quote and the backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// hex4 decodes the four hex digits at b[i:].
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

func scanNumber(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = skipDigits(b, i)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return 0, false
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
			return 0, false
		}
		i = j
	}
	return i, true
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func scanLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// scanScalar validates a non-container value at b[i].
func scanScalar(b []byte, i int, strict bool) (end int, kind Kind, esc bool, ok bool) {
	if i >= len(b) {
		return 0, None, false, false
	}
	switch c := b[i]; {
	case c == '"':
		end, esc, ok = ScanString(b, i, strict)
		return end, String, esc, ok
	case c == '-' || c >= '0' && c <= '9':
		end, ok = scanNumber(b, i)
		return end, Number, false, ok
	case c == 't':
		end, ok = scanLiteral(b, i, "true")
		return end, Bool, false, ok
	case c == 'f':
		end, ok = scanLiteral(b, i, "false")
		return end, Bool, false, ok
	case c == 'n':
		end, ok = scanLiteral(b, i, "null")
		return end, Null, false, ok
	}
	return 0, None, false, false
}

// scanContainer validates the object or array opening at b[i] without
// recursion, so hostile nesting costs no goroutine stack. At most maxDepth
// levels may be open at once.
func scanContainer(b []byte, i, maxDepth int, strict bool) (int, bool) {
	end, ok, deep := scanLevels(b, i, maxDepth, strict, nil)
	if deep {
		return scanDeep(b, i, maxDepth, strict)
	}
	return end, ok
}

// scanDeep rescans a document that nests more than 64 levels, which only
// generated or hostile documents do, with room for MaxDepth levels.
func scanDeep(b []byte, i, maxDepth int, strict bool) (int, bool) {
	var high [MaxDepth/64 - 1]uint64
	end, ok, _ := scanLevels(b, i, maxDepth, strict, &high)
	return end, ok
}

// scanLevels is the scanner's loop. A bit stack records, per open level,
// whether it is an object; inObj and closer cache the innermost level. The
// first 64 levels live in a register and the rest in *high: with high nil
// it stops at level 65 and reports deep (an array in this frame would cost
// every call about 10 %, measured on JWT claim sets).
func scanLevels(b []byte, i, maxDepth int, strict bool, high *[MaxDepth/64 - 1]uint64) (end int, ok, deep bool) {
	var low uint64
	depth := 0
	inObj, closer := false, byte(']')
	for {
		// b[i] opens a level.
		if depth == maxDepth {
			return 0, false, false
		}
		inObj, closer = b[i] == '{', ']'
		if inObj {
			closer = '}'
		}
		if depth < 64 {
			low = low&^(1<<depth) | b2u(inObj)<<depth
		} else if high == nil {
			return 0, false, true
		} else {
			d := depth - 64
			high[d>>6] = high[d>>6]&^(1<<(d&63)) | b2u(inObj)<<(d&63)
		}
		depth++
		i = SkipWS(b, i+1)
		if i >= len(b) {
			return 0, false, false
		}
		atCloser := b[i] == closer
		if !atCloser && inObj {
			if i, ok = scanKey(b, i, strict); !ok {
				return 0, false, false
			}
		}
		for {
			if !atCloser {
				i = SkipWS(b, i)
				if i < len(b) && (b[i] == '{' || b[i] == '[') {
					break // the value opens a level
				}
				if i, _, _, ok = scanScalar(b, i, strict); !ok {
					return 0, false, false
				}
				i = SkipWS(b, i)
				if i >= len(b) {
					return 0, false, false
				}
				if b[i] == ',' {
					i = SkipWS(b, i+1)
					if inObj {
						if i, ok = scanKey(b, i, strict); !ok {
							return 0, false, false
						}
					}
					continue
				}
				if b[i] != closer {
					return 0, false, false
				}
			}
			// b[i] closes the innermost level, which was a value of its parent.
			i++
			depth--
			if depth == 0 {
				return i, true, false
			}
			if d := depth - 1; d < 64 {
				inObj = low&(1<<d) != 0
			} else {
				d -= 64
				inObj = high[d>>6]&(1<<(d&63)) != 0
			}
			closer = ']'
			if inObj {
				closer = '}'
			}
			i = SkipWS(b, i)
			if i >= len(b) {
				return 0, false, false
			}
			if b[i] == ',' {
				i = SkipWS(b, i+1)
				if inObj {
					if i, ok = scanKey(b, i, strict); !ok {
						return 0, false, false
					}
				}
				atCloser = false
				continue
			}
			if b[i] != closer {
				return 0, false, false
			}
			atCloser = true
		}
	}
}

func b2u(v bool) uint64 {
	if v {
		return 1
	}
	return 0
}

// scanKey scans `"key" :` at b[i] and returns the index after the colon.
func scanKey(b []byte, i int, strict bool) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	end, _, ok := ScanString(b, i, strict)
	if !ok {
		return 0, false
	}
	end = SkipWS(b, end)
	if end >= len(b) || b[end] != ':' {
		return 0, false
	}
	return end + 1, true
}

// ScanValue validates the value starting exactly at b[i] (no whitespace
// skipped) and returns the index after it, its kind and, for a string,
// whether it holds escapes. A container opening at b[i] counts as the
// first of r.MaxDepth levels.
func ScanValue(b []byte, i int, r Rules) (end int, kind Kind, esc bool, ok bool) {
	if i < len(b) && (b[i] == '{' || b[i] == '[') {
		kind = Object
		if b[i] == '[' {
			kind = Array
		}
		end, ok = scanContainer(b, i, r.depth(), r.StrictSurrogates)
		if !ok {
			return 0, None, false, false
		}
		return end, kind, false, true
	}
	return scanScalar(b, i, r.StrictSurrogates)
}

// Valid reports whether b is exactly one JSON value, optionally surrounded
// by whitespace.
func Valid(b []byte, r Rules) bool {
	i := SkipWS(b, 0)
	end, _, _, ok := ScanValue(b, i, r)
	return ok && SkipWS(b, end) == len(b)
}

// ValidObject reports whether b is exactly one JSON object, optionally
// surrounded by whitespace.
func ValidObject(b []byte, r Rules) bool {
	i := SkipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	end, _, _, ok := ScanValue(b, i, r)
	return ok && SkipWS(b, end) == len(b)
}
