package radix

import (
	"regexp"
	"regexp/syntax"
	"unicode/utf8"
)

// segMatcher decides whether one path segment matches a `{name:regex}` parameter, i.e. ^(?:regex)$.
// Most parameter regexes in practice are one ASCII character class repeated ([0-9]+, [a-f0-9]{8},
// \w{2,16}); those are decided by a byte set and a length range without running the regexp at all.
// Other regexes get a cheap pre-filter (minimum length, literal prefix, byte set when the regex can only
// match ASCII) before regexp.Match, which does not allocate.
// Immutable after construction, safe for concurrent use.
type segMatcher struct {
	re      *regexp.Regexp // ^(?:pattern)$
	exact   bool           // set, min and max decide the match; re is not consulted
	hasSet  bool           // every byte of a match is in set
	set     [4]uint64      // 256-bit byte set
	min     int            // a match has at least min bytes
	max     int            // exact only: at most max bytes, -1 = unbounded
	prefix  string         // a match starts with prefix
	pattern string
}

// newSegMatcher compiles pattern. The pattern is compiled on its own first so that text such as ")("
// cannot escape the anchoring group.
func newSegMatcher(pattern string) (*segMatcher, error) {
	plain, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return nil, err
	}
	m := &segMatcher{re: re, pattern: pattern, max: -1}
	m.prefix, _ = plain.LiteralPrefix()
	tree, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, err
	}
	if set, lo, hi, ok := repeatedClass(tree); ok {
		m.exact, m.hasSet, m.set, m.min, m.max = true, true, set, lo, hi
		return m, nil
	}
	m.min = minRunes(tree)
	m.hasSet = asciiSet(tree, &m.set)
	return m, nil
}

// match reports whether seg matches the whole regex. seg never contains '/'.
func (m *segMatcher) match(seg []byte) bool {
	if len(seg) < m.min {
		return false
	}
	if m.exact {
		if m.max >= 0 && len(seg) > m.max {
			return false
		}
		return m.allIn(seg)
	}
	if m.hasSet && !m.allIn(seg) {
		return false
	}
	if len(seg) < len(m.prefix) || string(seg[:len(m.prefix)]) != m.prefix {
		return false
	}
	return m.re.Match(seg)
}

func (m *segMatcher) allIn(seg []byte) bool {
	for _, c := range seg {
		if m.set[c>>6]&(1<<(c&63)) == 0 {
			return false
		}
	}
	return true
}

// repeatedClass recognises `unit`, `unit*`, `unit+`, `unit?` and `unit{a,b}` where unit is a single
// ASCII character, an ASCII-only class, or such a thing in a capture group. Counting bytes equals
// counting runes there because a non-ASCII byte can never match.
func repeatedClass(re *syntax.Regexp) (set [4]uint64, lo, hi int, ok bool) {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	sub := re
	switch re.Op {
	case syntax.OpStar:
		lo, hi, sub = 0, -1, re.Sub[0]
	case syntax.OpPlus:
		lo, hi, sub = 1, -1, re.Sub[0]
	case syntax.OpQuest:
		lo, hi, sub = 0, 1, re.Sub[0]
	case syntax.OpRepeat:
		lo, hi, sub = re.Min, re.Max, re.Sub[0]
	default:
		lo, hi = 1, 1
	}
	for sub.Op == syntax.OpCapture {
		sub = sub.Sub[0]
	}
	if !unitSet(sub, &set) {
		return set, 0, 0, false
	}
	return set, lo, hi, true
}

// unitSet adds the bytes of a one-character ASCII-only regex to set.
func unitSet(re *syntax.Regexp, set *[4]uint64) bool {
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) != 1 || re.Flags&syntax.FoldCase != 0 || re.Rune[0] >= utf8.RuneSelf {
			return false
		}
		addRange(set, re.Rune[0], re.Rune[0])
		return true
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i+1] >= utf8.RuneSelf {
				return false
			}
		}
		for i := 0; i+1 < len(re.Rune); i += 2 {
			addRange(set, re.Rune[i], re.Rune[i+1])
		}
		return true
	}
	return false
}

func addRange(set *[4]uint64, lo, hi rune) {
	for r := lo; r <= hi; r++ {
		set[r>>6] |= 1 << (r & 63)
	}
}

// asciiSet collects every byte the regex can consume when it can only consume ASCII; false otherwise.
func asciiSet(re *syntax.Regexp, set *[4]uint64) bool {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return false
		}
		for _, r := range re.Rune {
			if r >= utf8.RuneSelf {
				return false
			}
			addRange(set, r, r)
		}
		return true
	case syntax.OpCharClass:
		return unitSet(re, set)
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return false
	}
	for _, s := range re.Sub {
		if !asciiSet(s, set) {
			return false
		}
	}
	return true
}

// minRunes is a lower bound on the runes (hence bytes) of any match.
func minRunes(re *syntax.Regexp) int {
	const limit = 1 << 20
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minRunes(re.Sub[0])
	case syntax.OpRepeat:
		return min(re.Min*minRunes(re.Sub[0]), limit)
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n = min(n+minRunes(s), limit)
		}
		return n
	case syntax.OpAlternate:
		n := limit
		for _, s := range re.Sub {
			n = min(n, minRunes(s))
		}
		return n
	}
	return 0 // star, quest, empty-width, empty match, no match
}
