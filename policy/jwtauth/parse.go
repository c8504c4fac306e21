package jwtauth

import "encoding/base64"

var b64 = base64.RawURLEncoding.Strict()

const (
	maxHeaderMembers = 32
	maxClaimMembers  = 256
)

// token is one parsed compact JWS. Its slices point into buf or into the
// token bytes given to parseToken; reset() keeps the capacity for reuse.
type token struct {
	signingInput []byte // "<header>.<payload>" as received
	header       []byte // decoded
	payload      []byte // decoded
	sig          []byte // decoded
	alg          algID
	kid          []byte // unescaped; nil when absent
	hasKid       bool
	buf          []byte
	kidBuf       [64]byte
}

func (t *token) reset() {
	buf := t.buf[:0]
	*t = token{buf: buf}
}

// parseToken splits and decodes a compact JWS and checks its header. It
// validates the payload as a JSON object but does not interpret claims: that
// happens only after the signature is verified. Never panics.
func parseToken(t *token, src []byte) error {
	dot1, dot2, dots := -1, -1, 0
	for i, c := range src {
		switch {
		case c == '.':
			dots++
			if dots == 1 {
				dot1 = i
			} else {
				dot2 = i
			}
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			// Also keeps '\r' and '\n' out: encoding/base64 would skip them.
			return ErrTokenMalformed
		}
	}
	if dots != 2 || dot1 == 0 || dot2 == dot1+1 || dot2 == len(src)-1 {
		return ErrTokenMalformed
	}
	h, p, s := src[:dot1], src[dot1+1:dot2], src[dot2+1:]
	need := b64.DecodedLen(len(h)) + b64.DecodedLen(len(p)) + b64.DecodedLen(len(s))
	if cap(t.buf) < need {
		t.buf = make([]byte, 0, need)
	}
	buf := t.buf[:need]
	var err error
	if t.header, buf, err = decodeSeg(buf, h); err != nil {
		return err
	}
	if t.payload, buf, err = decodeSeg(buf, p); err != nil {
		return err
	}
	if t.sig, _, err = decodeSeg(buf, s); err != nil {
		return err
	}
	t.signingInput = src[:dot2]
	if err := t.parseHeader(); err != nil {
		return err
	}
	if !validObject(t.payload) {
		return ErrTokenMalformed
	}
	return nil
}

func decodeSeg(buf, seg []byte) (out, rest []byte, err error) {
	n, err := b64.Decode(buf, seg)
	if err != nil {
		return nil, nil, ErrTokenMalformed
	}
	return buf[:n:n], buf[n:], nil
}

func (t *token) parseHeader() error {
	if !validObject(t.header) {
		return ErrTokenMalformed
	}
	if err := checkDuplicates(t.header, maxHeaderMembers); err != nil {
		return err
	}
	var algRaw []byte
	it := newObjIter(t.header)
	for {
		k, v, ok := it.next()
		if !ok {
			break
		}
		switch {
		case keyIs(k, "alg"):
			body, ok := stringBody(v)
			if !ok {
				return ErrTokenMalformed
			}
			algRaw = body
		case keyIs(k, "kid"):
			body, ok := stringBody(v)
			if !ok {
				return ErrTokenMalformed
			}
			t.kid = appendUnescaped(t.kidBuf[:0], body)
			t.hasKid = true
		// Keys or key locations chosen by the token's author, extensions
		// we would have to understand (crit, b64) and JWE/compression
		// parameters: never honoured, so the token is refused outright.
		case keyIs(k, "jku"), keyIs(k, "x5u"), keyIs(k, "x5c"), keyIs(k, "jwk"),
			keyIs(k, "crit"), keyIs(k, "b64"), keyIs(k, "zip"), keyIs(k, "enc"):
			return ErrForbiddenHeader
		case keyIs(k, "cty"):
			// A nested JWT (cty "JWT") would need a second verification
			// this package does not do.
			if stringEq(v, "JWT") || stringEq(v, "jwt") {
				return ErrTokenMalformed
			}
		}
	}
	if algRaw == nil {
		return ErrTokenMalformed
	}
	var ab [16]byte
	if hasBackslash(algRaw) && len(algRaw) <= 96 {
		algRaw = appendUnescaped(ab[:0], algRaw)
	}
	if t.alg = algByName(algRaw); t.alg == algInvalid {
		return ErrAlgNotAllowed
	}
	return nil
}

// checkDuplicates rejects objects with repeated member names (RFC 7515 §4,
// RFC 7519 §4) or with more than max members.
func checkDuplicates(obj []byte, max int) error {
	it := newObjIter(obj)
	n := 0
	for {
		k, _, ok := it.next()
		if !ok {
			return nil
		}
		n++
		if n > max {
			return ErrTokenMalformed
		}
		jt := newObjIter(obj)
		for j := 1; j < n; j++ {
			k2, _, _ := jt.next()
			if keysEqual(k, k2) {
				return ErrTokenMalformed
			}
		}
	}
}

func keysEqual(a, b []byte) bool {
	if !hasBackslash(a) && !hasBackslash(b) {
		return string(a) == string(b)
	}
	var ba, bb [64]byte
	return string(appendUnescaped(ba[:0], a)) == string(appendUnescaped(bb[:0], b))
}
