// Package httpbytes holds the small byte-level HTTP helpers that the
// proxy and several policy packages each used to carry a copy of: optional
// whitespace trimming, ASCII case folding and RFC 9110 token checks. They
// work on []byte without allocating and know nothing about Unicode, which
// is right for header names, methods and media types (RFC 9110 §5.1, §5.6.2).
//
// Every function is pure and safe for concurrent use.
package httpbytes

import "bytes"

// TrimOWS drops leading and trailing optional whitespace (SP and HTAB,
// RFC 9110 §5.6.3) and returns a sub-slice of b.
func TrimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// Lower returns c lower-cased if it is an ASCII capital letter.
func Lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// AppendLower appends s lower-cased (ASCII only) to dst.
func AppendLower(dst, s []byte) []byte {
	for _, c := range s {
		dst = append(dst, Lower(c))
	}
	return dst
}

// EqualFold reports whether a and b are equal ignoring ASCII case. Unlike
// bytes.EqualFold it does not fold Unicode (the Kelvin sign is not "k"), so
// a header name can never match a name it does not spell.
func EqualFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if Lower(a[i]) != Lower(b[i]) {
			return false
		}
	}
	return true
}

// EqualFoldString is EqualFold with a string on the right, for names held
// as strings (no []byte conversion, whatever the length).
func EqualFoldString(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i, c := range b {
		if Lower(c) != Lower(s[i]) {
			return false
		}
	}
	return true
}

// EqualFoldASCII reports whether b equals lower ignoring ASCII case; lower
// must already be lower case (a literal such as "chunked"), so only b is
// folded.
func EqualFoldASCII(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if Lower(c) != lower[i] {
			return false
		}
	}
	return true
}

// IndexByte returns the index of the first c in b, or -1.
func IndexByte(b []byte, c byte) int { return bytes.IndexByte(b, c) }

// tcharTable marks the RFC 9110 §5.6.2 token characters.
var tcharTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		t[c] = true
	}
	return t
}()

// IsTchar reports whether c is an RFC 9110 token character.
func IsTchar(c byte) bool { return tcharTable[c] }

// IsTokenBytes reports whether b is a non-empty RFC 9110 token (a header
// name, a method).
func IsTokenBytes(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tcharTable[c] {
			return false
		}
	}
	return true
}

// IsToken is IsTokenBytes for a string (config values, checked once).
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tcharTable[s[i]] {
			return false
		}
	}
	return true
}
