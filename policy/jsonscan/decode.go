package jsonscan

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// HasEscape reports whether a raw string body holds a backslash escape.
// A plain loop: member names are a few bytes, where calling the assembly
// IndexByte costs more than it saves.
func HasEscape(raw []byte) bool {
	for _, c := range raw {
		if c == '\\' {
			return true
		}
	}
	return false
}

// StringBody returns the body of a raw JSON string value (the bytes
// between the quotes), or false when v is not a string.
func StringBody(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' {
		return nil, false
	}
	return v[1 : len(v)-1], true
}

// unescapeAt decodes the escape at raw[i] == '\\' of a string body
// ScanString accepted and returns the rune and the bytes it spans. An
// unpaired surrogate becomes U+FFFD, as in encoding/json; the escape after
// an unpaired high surrogate is left for the next call.
func unescapeAt(raw []byte, i int) (rune, int) {
	switch raw[i+1] {
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		r, _ := hex4(raw, i+2)
		if !utf16.IsSurrogate(r) {
			return r, 6
		}
		if i+12 <= len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
			r2, _ := hex4(raw, i+8)
			if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
				return d, 12
			}
		}
		return utf8.RuneError, 6
	}
	return rune(raw[i+1]), 2 // '"', '\\', '/'
}

// AppendUnescaped appends the decoded content of a string body (the raw
// bytes between the quotes, already accepted by ScanString) to dst.
func AppendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			// copy the run up to the next escape in one go
			j := bytes.IndexByte(raw[i:], '\\')
			if j < 0 {
				return append(dst, raw[i:]...)
			}
			dst = append(dst, raw[i:i+j]...)
			i += j
			continue
		}
		r, n := unescapeAt(raw, i)
		dst = utf8.AppendRune(dst, r)
		i += n
	}
	return dst
}

// EqualUnescaped reports whether the decoded form of a string body equals
// s. It decodes as it compares, so it needs no buffer and never allocates,
// whatever the length; esc is HasEscape(raw) when the caller knows it.
func EqualUnescaped(raw []byte, esc bool, s string) bool {
	if !esc {
		return string(raw) == s
	}
	return equalEscaped(raw, s)
}

// equalEscaped is EqualUnescaped's slow path, kept apart so the common
// case inlines.
func equalEscaped(raw []byte, s string) bool {
	if len(raw) < len(s) { // decoding only ever shrinks
		return false
	}
	j := 0
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			if j >= len(s) || s[j] != c {
				return false
			}
			i++
			j++
			continue
		}
		r, n := unescapeAt(raw, i)
		i += n
		var enc [utf8.UTFMax]byte
		m := utf8.EncodeRune(enc[:], r)
		if len(s)-j < m || s[j:j+m] != string(enc[:m]) {
			return false
		}
		j += m
	}
	return j == len(s)
}

// StringEqual reports whether the raw JSON value v is a string whose
// decoded form equals s.
func StringEqual(v []byte, s string) bool {
	body, ok := StringBody(v)
	return ok && EqualUnescaped(body, HasEscape(body), s)
}

// Unquote returns a value for comparison: a string's decoded content (a
// sub-slice of val when it has no escapes, else appended to scratch, whose
// grown form is returned for reuse) and any other kind unchanged.
func Unquote(val []byte, kind Kind, esc bool, scratch []byte) (out, scratchOut []byte) {
	if kind != String {
		return val, scratch
	}
	raw := val[1 : len(val)-1]
	if !esc {
		return raw, scratch
	}
	start := len(scratch)
	scratch = AppendUnescaped(scratch, raw)
	return scratch[start:], scratch
}
