package jwtauth

import "github.com/sluicegw/sluice/policy/jsonscan"

// JOSE headers and claim sets are read with the shared allocation-free
// scanner (policy/jsonscan): a whole document is validated first, then its
// top-level members are walked as raw byte ranges, so claim values can be
// kept as sub-slices of the decoded payload. The helpers below only fix the
// JOSE rules and turn "cannot happen on a validated document" into panics.

// joseJSON are the rules for every JOSE document: I-JSON strings (no lone
// surrogates, RFC 7493 via RFC 7515 §4) and a shallow depth bound, since a
// header or claim set has no business nesting.
var joseJSON = jsonscan.Rules{MaxDepth: maxJSONDepth, StrictSurrogates: true}

// maxJSONDepth counts the top-level object as one level.
const maxJSONDepth = 32

// validObject reports whether b is exactly one JSON object, optionally
// surrounded by whitespace.
func validObject(b []byte) bool { return jsonscan.ValidObject(b, joseJSON) }

// objIter walks the top-level members of a document validObject accepted.
type objIter struct{ it jsonscan.ObjectIter }

func newObjIter(b []byte) objIter {
	var it objIter
	if err := it.it.Start(b, joseJSON); err != nil {
		panic("BUG: jwtauth: objIter on unvalidated JSON")
	}
	return it
}

// next returns the raw key body (between quotes, escapes intact) and the raw
// value of the next member.
func (it *objIter) next() (key, val []byte, ok bool) {
	m, ok, err := it.it.Next()
	if err != nil {
		panic("BUG: jwtauth: objIter on unvalidated JSON")
	}
	return m.Key, m.Val, ok
}

// arrIter walks the elements of a validated JSON array value.
type arrIter struct{ it jsonscan.ArrayIter }

func newArrIter(v []byte) arrIter {
	var it arrIter
	if err := it.it.Start(v, joseJSON); err != nil {
		panic("BUG: jwtauth: arrIter on unvalidated JSON")
	}
	return it
}

func (it *arrIter) next() ([]byte, bool) {
	v, _, _, ok, err := it.it.Next()
	if err != nil {
		panic("BUG: jwtauth: arrIter on unvalidated JSON")
	}
	return v, ok
}

func appendUnescaped(dst, s []byte) []byte { return jsonscan.AppendUnescaped(dst, s) }

func hasBackslash(s []byte) bool { return jsonscan.HasEscape(s) }

func stringBody(v []byte) ([]byte, bool) { return jsonscan.StringBody(v) }

// keyIs compares a raw key body with a plain name, decoding escapes so that
// "j\u006bu" is recognized as "jku".
func keyIs(raw []byte, name string) bool {
	return jsonscan.EqualUnescaped(raw, hasBackslash(raw), name)
}

// stringEq compares a raw JSON string value with s after unescaping.
func stringEq(v []byte, s string) bool { return jsonscan.StringEqual(v, s) }
