package accesslog

import (
	"encoding/binary"
	"unicode/utf8"
	"unsafe"
)

const hexDigits = "0123456789abcdef"

// jsonSafe marks ASCII bytes that go into a JSON string unchanged.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendEscaped appends s as the inside of a JSON string (no quotes).
// Control characters are escaped, invalid UTF-8 bytes become U+FFFD (as
// encoding/json does), and U+2028/U+2029 are escaped so that a line stays
// one line for JavaScript consumers too. Valid UTF-8 round-trips exactly.
func appendEscaped(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		// Most bytes of a log record need no escaping: skip them eight at a
		// time, which more than halves the shipper's encoding time.
		if i+8 <= len(s) && !needsEscape8(binary.LittleEndian.Uint64(s[i:])) {
			i += 8
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// needsEscape8 reports whether any of the eight bytes in w is not jsonSafe:
// a control byte (< 0x20), '"', '\\' or a non-ASCII byte (>= 0x80). The
// tests are the exact "has a zero byte" / "has a byte less than n" word
// tricks, so a false answer is always right; a true one sends the bytes
// through the byte loop.
func needsEscape8(w uint64) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	ctl := (w - ones*0x20) & ^w & highs
	quote := w ^ (ones * '"')
	quote = (quote - ones) & ^quote & highs
	bslash := w ^ (ones * '\\')
	bslash = (bslash - ones) & ^bslash & highs
	return (ctl | quote | bslash | w&highs) != 0
}

// needsEscape reports whether appendEscaped would change any byte of s.
// U+2028 and U+2029 start with 0xe2, which is non-ASCII, so a false answer
// means s is printable ASCII without '"' or '\\'.
func needsEscape(s []byte) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if needsEscape8(binary.LittleEndian.Uint64(s[i:])) {
			return true
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || !jsonSafe[c] {
			return true
		}
	}
	return false
}

// appendEscapedString is appendEscaped for a string, without copying it.
func appendEscapedString(dst []byte, s string) []byte {
	return appendEscaped(dst, unsafe.Slice(unsafe.StringData(s), len(s)))
}

// appendTime appends Unix nanoseconds as RFC 3339 UTC with milliseconds,
// "2006-01-02T15:04:05.000Z". Hand-written because time.Time.AppendFormat
// interprets a layout on every call; the shipper formats one per record.
func appendTime(dst []byte, ns int64) []byte {
	sec := ns / 1e9
	rem := ns % 1e9
	if rem < 0 {
		sec--
		rem += 1e9
	}
	ms := rem / 1e6
	days := sec / 86400
	sod := sec % 86400
	if sod < 0 {
		days--
		sod += 86400
	}
	y, m, d := civil(days)
	dst = append4(dst, y)
	dst = append(dst, '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, 'T')
	dst = append2(dst, sod/3600)
	dst = append(dst, ':')
	dst = append2(dst, sod/60%60)
	dst = append(dst, ':')
	dst = append2(dst, sod%60)
	dst = append(dst, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
	return dst
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days-to-civil algorithm, eras of 400 years).
func civil(z int64) (y, m, d int64) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func append2(dst []byte, v int64) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

// append4 writes a year; int64 nanoseconds span 1677..2262, always 4 digits.
func append4(dst []byte, v int64) []byte {
	return append(dst, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}
