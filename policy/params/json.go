package params

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// Kind is the JSON type of a value found by the scanner.
type Kind uint8

// Kinds of JSON values. KindNone means "not found".
const (
	KindNone Kind = iota
	KindString
	KindNumber
	KindBool
	KindNull
	KindObject
	KindArray
)

var kindNames = [...]string{"none", "string", "number", "bool", "null", "object", "array"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid"
}

// MaxJSONDepth bounds container nesting, the top-level object counting as
// one level; deeper documents are rejected as malformed rather than walked
// (encoding/json's own bound is 10000).
const MaxJSONDepth = 1024

// Scanner errors. Both are client errors (400).
var (
	ErrMalformedJSON = errors.New("malformed JSON")
	ErrNotObject     = errors.New("not a JSON object")
)

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// scanString validates the string starting at b[i] == '"' and returns the
// index after its closing quote and whether it holds escapes. Strings must
// be valid UTF-8 (RFC 8259 8.1) and hold no raw control characters.
func scanString(b []byte, i int) (end int, esc bool, ok bool) {
	i++
	for i < len(b) {
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
				if i+6 > len(b) {
					return 0, false, false
				}
				for _, h := range b[i+2 : i+6] {
					if _, ok := hexDigit(h); !ok {
						return 0, false, false
					}
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
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, false, false
			}
			i += size
		}
	}
	return 0, false, false
}

func hexDigit(c byte) (rune, bool) {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0'), true
	case c >= 'a' && c <= 'f':
		return rune(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return rune(c-'A') + 10, true
	}
	return 0, false
}

// scanNumber validates an RFC 8259 number starting at b[i].
func scanNumber(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == s {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == s {
			return 0, false
		}
	}
	return i, true
}

func scanLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// scanScalar validates a non-container value at b[i].
func scanScalar(b []byte, i int) (end int, kind Kind, esc bool, ok bool) {
	if i >= len(b) {
		return 0, KindNone, false, false
	}
	switch c := b[i]; {
	case c == '"':
		end, esc, ok = scanString(b, i)
		return end, KindString, esc, ok
	case c == '-' || c >= '0' && c <= '9':
		end, ok = scanNumber(b, i)
		return end, KindNumber, false, ok
	case c == 't':
		end, ok = scanLiteral(b, i, "true")
		return end, KindBool, false, ok
	case c == 'f':
		end, ok = scanLiteral(b, i, "false")
		return end, KindBool, false, ok
	case c == 'n':
		end, ok = scanLiteral(b, i, "null")
		return end, KindNull, false, ok
	}
	return 0, KindNone, false, false
}

// skipContainer validates the object or array opening at b[i] without
// recursion: a bit stack records, per open level, whether it is an object.
// It is only used below the top level, hence MaxJSONDepth-1 levels.
func skipContainer(b []byte, i int) (int, bool) {
	var stack [MaxJSONDepth / 64]uint64
	depth := 0
	push := func(obj bool) bool {
		if depth == MaxJSONDepth-1 {
			return false
		}
		if obj {
			stack[depth/64] |= 1 << (depth % 64)
		} else {
			stack[depth/64] &^= 1 << (depth % 64)
		}
		depth++
		return true
	}
	inObject := func() bool { return stack[(depth-1)/64]&(1<<((depth-1)%64)) != 0 }
	// key scans `"key" :` and returns the index after the colon.
	key := func(i int) (int, bool) {
		if i >= len(b) || b[i] != '"' {
			return 0, false
		}
		end, _, ok := scanString(b, i)
		if !ok {
			return 0, false
		}
		end = skipWS(b, end)
		if end >= len(b) || b[end] != ':' {
			return 0, false
		}
		return end + 1, true
	}

	for {
		// b[i] is an opening bracket.
		if !push(b[i] == '{') {
			return 0, false
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return 0, false
		}
		if (b[i] == '}' && inObject()) || (b[i] == ']' && !inObject()) {
			depth--
			i++
			goto afterValue
		}
		if inObject() {
			var ok bool
			if i, ok = key(i); !ok {
				return 0, false
			}
		}
	value:
		i = skipWS(b, i)
		if i < len(b) && (b[i] == '{' || b[i] == '[') {
			continue
		}
		{
			end, _, _, ok := scanScalar(b, i)
			if !ok {
				return 0, false
			}
			i = end
		}
	afterValue:
		for {
			if depth == 0 {
				return i, true
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return 0, false
			}
			switch {
			case b[i] == ',':
				i = skipWS(b, i+1)
				if inObject() {
					var ok bool
					if i, ok = key(i); !ok {
						return 0, false
					}
				}
				goto value
			case b[i] == '}' && inObject(), b[i] == ']' && !inObject():
				depth--
				i++
			default:
				return 0, false
			}
		}
	}
}

// skipValue validates any value at b[i] (after whitespace).
func skipValue(b []byte, i int) (end int, kind Kind, esc bool, ok bool) {
	i = skipWS(b, i)
	if i < len(b) && (b[i] == '{' || b[i] == '[') {
		kind = KindObject
		if b[i] == '[' {
			kind = KindArray
		}
		end, ok = skipContainer(b, i)
		return end, kind, false, ok
	}
	return scanScalar(b, i)
}

// objectIter walks the members of a top-level JSON object, validating the
// whole document as it goes. It never allocates.
type objectIter struct {
	b    []byte
	i    int
	done bool
}

// start checks that b is an object and positions after "{".
func (it *objectIter) start(b []byte) error {
	it.b, it.done = b, false
	i := skipWS(b, 0)
	if i >= len(b) {
		return ErrMalformedJSON
	}
	if b[i] != '{' {
		// distinguish "valid JSON, wrong shape" from garbage
		if end, _, _, ok := skipValue(b, i); ok && skipWS(b, end) == len(b) {
			return ErrNotObject
		}
		return ErrMalformedJSON
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		it.done = true
		if skipWS(b, i+1) != len(b) {
			return ErrMalformedJSON
		}
	}
	it.i = i
	return nil
}

// member is one key/value pair of the top-level object. key and val point
// into the document; key is the raw content between the quotes, val the
// raw value (for strings, including the quotes).
type member struct {
	key, val       []byte
	keyEsc, valEsc bool
	kind           Kind
}

// next returns the next member; ok is false at the end of the object.
func (it *objectIter) next() (m member, ok bool, err error) {
	if it.done {
		return m, false, nil
	}
	b, i := it.b, it.i
	if i >= len(b) || b[i] != '"' {
		return m, false, ErrMalformedJSON
	}
	kend, kesc, good := scanString(b, i)
	if !good {
		return m, false, ErrMalformedJSON
	}
	m.key, m.keyEsc = b[i+1:kend-1], kesc
	i = skipWS(b, kend)
	if i >= len(b) || b[i] != ':' {
		return m, false, ErrMalformedJSON
	}
	i = skipWS(b, i+1)
	vend, kind, vesc, good := skipValue(b, i)
	if !good {
		return m, false, ErrMalformedJSON
	}
	m.val, m.kind, m.valEsc = b[i:vend], kind, vesc
	i = skipWS(b, vend)
	switch {
	case i < len(b) && b[i] == ',':
		it.i = skipWS(b, i+1)
	case i < len(b) && b[i] == '}':
		it.done = true
		if skipWS(b, i+1) != len(b) {
			return m, false, ErrMalformedJSON
		}
	default:
		return m, false, ErrMalformedJSON
	}
	return m, true, nil
}

// appendUnescaped appends the decoded content of a JSON string (raw bytes
// between the quotes, already validated by scanString) to dst. Invalid
// surrogate escapes become U+FFFD, as encoding/json does.
func appendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
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
			r := hex4(raw[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if d := utf16.DecodeRune(r, hex4(raw[i+2:i+6])); d != utf8.RuneError {
						r2 = d
						i += 6
					}
				}
				r = r2
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst
}

func hex4(h []byte) rune {
	var r rune
	for _, c := range h {
		d, _ := hexDigit(c)
		r = r<<4 | d
	}
	return r
}

// keyEqual compares a raw JSON key (between quotes) with a plain name,
// decoding escapes only when the key has them, into a stack buffer.
func keyEqual(raw []byte, esc bool, name string) bool {
	if !esc {
		return string(raw) == name
	}
	if len(raw) > 6*len(name)+6 { // every byte of name costs at most one \uXXXX
		return false
	}
	var buf [256]byte
	if len(raw) > len(buf) {
		return string(appendUnescaped(nil, raw)) == name // rare: long escaped keys
	}
	return string(appendUnescaped(buf[:0], raw)) == name
}

// LookupJSON finds the top-level member key in the JSON object body and
// returns its value and kind; kind is KindNone when the key is absent. The
// whole document is validated (strict RFC 8259, UTF-8, nesting at most
// MaxJSONDepth); a malformed one returns ErrMalformedJSON and a valid
// non-object ErrNotObject. When the key occurs more than once the last one
// wins, as in encoding/json. A string value is returned unquoted: a slice
// of body when it has no escapes, otherwise decoded into scratch (appended;
// the grown scratch is returned for reuse). Numbers, booleans and null come
// back as their raw literal, objects and arrays as raw JSON.
func LookupJSON(body []byte, key string, scratch []byte) (val []byte, kind Kind, scratchOut []byte, err error) {
	var it objectIter
	if err := it.start(body); err != nil {
		return nil, KindNone, scratch, err
	}
	var found member
	for {
		m, ok, err := it.next()
		if err != nil {
			return nil, KindNone, scratch, err
		}
		if !ok {
			break
		}
		if keyEqual(m.key, m.keyEsc, key) {
			found = m
		}
	}
	if found.kind == KindNone {
		return nil, KindNone, scratch, nil
	}
	val, scratch = stringValue(found, scratch)
	return val, found.kind, scratch, nil
}

// stringValue unquotes a string member (into scratch when escaped) and
// returns any other kind unchanged.
func stringValue(m member, scratch []byte) ([]byte, []byte) {
	if m.kind != KindString {
		return m.val, scratch
	}
	raw := m.val[1 : len(m.val)-1]
	if !m.valEsc {
		return raw, scratch
	}
	start := len(scratch)
	scratch = appendUnescaped(scratch, raw)
	return scratch[start:], scratch
}
