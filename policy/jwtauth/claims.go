package jwtauth

import (
	"math"
	"strconv"
)

// ruleKind is the comparison a compiled ClaimRule performs.
type ruleKind uint8

const (
	ruleContains ruleKind = iota + 1
	ruleOneOf
	ruleEquals
)

// rule is a compiled ClaimRule; idx points into Verifier.names.
type rule struct {
	idx    int
	kind   ruleKind
	values []string
}

// maxTime caps NumericDate values so arithmetic with leeway cannot overflow.
const maxTime = int64(1) << 50

// claimSet holds the raw claim values a Verifier looks at, by compiled index.
type claimSet struct {
	exp, nbf, iat, iss, aud []byte
	raw                     [][]byte // by Verifier.names index; nil when absent
}

// checkClaims interprets the verified payload: registered claims, rules, and
// the rendering of exposed claims. It returns the Verified (also for
// ErrClaimRequired) and the unix seconds [notBefore, notAfter) in which the
// token is valid, for the cache.
func (v *Verifier) checkClaims(now int64, payload []byte) (vd *Verified, notBefore, notAfter int64, err error) {
	if err := checkDuplicates(payload, maxClaimMembers); err != nil {
		return nil, 0, 0, err
	}
	cs := claimSet{raw: make([][]byte, len(v.names))}
	it := newObjIter(payload)
	for {
		k, val, ok := it.next()
		if !ok {
			break
		}
		switch {
		case keyIs(k, "exp"):
			cs.exp = val
		case keyIs(k, "nbf"):
			cs.nbf = val
		case keyIs(k, "iat"):
			cs.iat = val
		case keyIs(k, "iss"):
			cs.iss = val
		case keyIs(k, "aud"):
			cs.aud = val
		}
		for i, name := range v.names {
			if keyIs(k, name) {
				cs.raw[i] = val
			}
		}
	}

	notBefore, notAfter = -maxTime, maxTime
	if cs.exp == nil {
		if !v.allowNoExp {
			return nil, 0, 0, ErrClaimMissing
		}
	} else {
		exp, ok := numericDate(cs.exp)
		if !ok {
			return nil, 0, 0, ErrClaimInvalid
		}
		// Valid while now < exp + leeway; now is whole seconds, so the
		// first invalid second is the ceiling.
		notAfter = int64(math.Ceil(exp)) + v.leeway
		if now >= notAfter {
			return nil, 0, 0, ErrTokenExpired
		}
	}
	for _, raw := range [2][]byte{cs.nbf, cs.iat} {
		if raw == nil {
			continue
		}
		t, ok := numericDate(raw)
		if !ok {
			return nil, 0, 0, ErrClaimInvalid
		}
		if float64(now+v.leeway) < t {
			return nil, 0, 0, ErrTokenNotYetValid
		}
		// Valid from the first whole second s with s+leeway >= t.
		notBefore = max(notBefore, int64(math.Ceil(t))-v.leeway)
	}
	if v.issuer != "" && !stringEq(cs.iss, v.issuer) {
		return nil, 0, 0, ErrBadIssuer
	}
	if len(v.audiences) > 0 && !v.audienceOK(cs.aud) {
		return nil, 0, 0, ErrBadAudience
	}

	vd = &Verified{notAfter: notAfter, claims: make([][]byte, len(v.names))}
	var buf []byte
	offs := make([]int, len(v.names)+1)
	for i, raw := range cs.raw {
		offs[i] = len(buf)
		if raw != nil {
			buf = appendRendered(buf, raw)
		}
		offs[i+1] = len(buf)
	}
	for i, raw := range cs.raw {
		if raw != nil && offs[i+1] > offs[i] {
			vd.claims[i] = buf[offs[i]:offs[i+1]:offs[i+1]]
		}
	}
	for _, r := range v.rules {
		if !r.holds(cs.raw[r.idx]) {
			return vd, notBefore, notAfter, ErrClaimRequired
		}
	}
	return vd, notBefore, notAfter, nil
}

// numericDate parses an RFC 7519 NumericDate (JSON number of seconds),
// clamped to ±maxTime.
func numericDate(raw []byte) (float64, bool) {
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) {
		return 0, false
	}
	return math.Max(-float64(maxTime), math.Min(f, float64(maxTime))), true
}

func (v *Verifier) audienceOK(aud []byte) bool {
	if len(aud) == 0 {
		return false
	}
	if aud[0] == '"' {
		return v.audMatch(aud)
	}
	if aud[0] != '[' {
		return false
	}
	it := newArrIter(aud)
	for {
		e, ok := it.next()
		if !ok {
			return false
		}
		if e[0] == '"' && v.audMatch(e) {
			return true
		}
	}
}

func (v *Verifier) audMatch(s []byte) bool {
	for _, a := range v.audiences {
		if stringEq(s, a) {
			return true
		}
	}
	return false
}

// holds evaluates the rule on a raw claim value (nil when absent).
func (r *rule) holds(raw []byte) bool {
	if len(raw) == 0 {
		return false
	}
	var buf [256]byte
	switch r.kind {
	case ruleEquals:
		return isScalar(raw) && string(appendScalar(buf[:0], raw)) == r.values[0]
	case ruleOneOf:
		if raw[0] != '[' {
			return isScalar(raw) && contains(r.values, string(appendScalar(buf[:0], raw)))
		}
		it := newArrIter(raw)
		for {
			e, ok := it.next()
			if !ok {
				return false
			}
			if isScalar(e) && contains(r.values, string(appendScalar(buf[:0], e))) {
				return true
			}
		}
	case ruleContains:
		for _, want := range r.values {
			if !hasMember(raw, want) {
				return false
			}
		}
		return true
	}
	panic("BUG: jwtauth: unknown rule kind")
}

// hasMember reports whether want is one of the words of a space-separated
// string claim, or one of the strings of an array claim.
func hasMember(raw []byte, want string) bool {
	var buf [256]byte
	if raw[0] == '"' {
		s := appendScalar(buf[:0], raw)
		for i := 0; i < len(s); {
			for i < len(s) && s[i] == ' ' {
				i++
			}
			j := i
			for j < len(s) && s[j] != ' ' {
				j++
			}
			if j > i && string(s[i:j]) == want {
				return true
			}
			i = j
		}
		return false
	}
	if raw[0] != '[' {
		return false
	}
	it := newArrIter(raw)
	for {
		e, ok := it.next()
		if !ok {
			return false
		}
		if e[0] == '"' && stringEq(e, want) {
			return true
		}
	}
}

func isScalar(raw []byte) bool {
	c := raw[0]
	return c != '[' && c != '{' && c != 'n'
}

// appendScalar renders a string (unescaped), number (as written) or bool.
func appendScalar(dst, raw []byte) []byte {
	if body, ok := stringBody(raw); ok {
		return appendUnescaped(dst, body)
	}
	return append(dst, raw...)
}

// appendRendered renders a claim for forwarding: scalars as text, arrays of
// scalars comma-joined. Objects, null, and anything whose text contains a
// control character (header injection) render as nothing.
func appendRendered(dst, raw []byte) []byte {
	start := len(dst)
	switch {
	case isScalar(raw):
		dst = appendScalar(dst, raw)
	case raw[0] == '[':
		it := newArrIter(raw)
		first := true
		for {
			e, ok := it.next()
			if !ok {
				break
			}
			if !isScalar(e) {
				return dst[:start]
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendScalar(dst, e)
		}
	default:
		return dst[:start]
	}
	for _, c := range dst[start:] {
		if c < 0x20 || c == 0x7f {
			return dst[:start]
		}
	}
	return dst
}
