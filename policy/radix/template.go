package radix

import (
	"fmt"
	"strings"
)

// MaxTemplateLen bounds a template so that a hostile or broken config cannot make Add do unbounded work.
const MaxTemplateLen = 4096

type segKind uint8

const (
	segStatic segKind = iota
	segParam
	segCatchAll
)

// segment is one '/'-separated piece of a parsed template.
type segment struct {
	kind    segKind
	text    string // static text; for parameters the raw "{...}" text, which is the edge identity
	name    string // parameter name
	pattern string // regex source of `{name:regex}`, "" for a plain parameter
	m       *segMatcher
}

// errTemplate builds the one error shape Add reports for malformed templates.
func errTemplate(tpl, why string) error {
	return fmt.Errorf("radix: malformed template %q: %s", tpl, why)
}

// parseTemplate splits tpl into segments and validates it. Parameters must span a whole segment:
// fasthttp/router also accepts `/a/x{id}` and `{a}-{b}`, but its handling of those is buggy and the
// gateway has no need for them.
// Compiled regexes are shared through cache (pattern -> matcher) when it is not nil: configs repeat the
// same few patterns across thousands of routes.
func parseTemplate(tpl string, cache map[string]*segMatcher) ([]segment, error) {
	if tpl == "" || tpl[0] != '/' {
		return nil, errTemplate(tpl, "must begin with '/'")
	}
	if len(tpl) > MaxTemplateLen {
		return nil, errTemplate(tpl[:32]+"...", fmt.Sprintf("longer than %d bytes", MaxTemplateLen))
	}
	var segs []segment
	nparams := 0
	i := 1
	for {
		var s segment
		if i < len(tpl) && tpl[i] == '{' {
			end, err := parseParam(tpl, i, &s, cache)
			if err != nil {
				return nil, err
			}
			if end < len(tpl) && tpl[end] != '/' {
				return nil, errTemplate(tpl, "parameter "+s.text+" must span a whole path segment")
			}
			if s.kind == segCatchAll && end != len(tpl) {
				return nil, errTemplate(tpl, "catch-all "+s.text+" must be the last segment")
			}
			for _, p := range segs {
				if p.kind != segStatic && p.name == s.name {
					return nil, errTemplate(tpl, "parameter name "+s.name+" used twice")
				}
			}
			nparams++
			if nparams > MaxParams {
				return nil, errTemplate(tpl, fmt.Sprintf("more than %d parameters", MaxParams))
			}
			i = end
		} else {
			start := i
			for i < len(tpl) && tpl[i] != '/' {
				switch c := tpl[i]; {
				case c == '{':
					return nil, errTemplate(tpl, "parameter must span a whole path segment (found '{' inside a segment)")
				case c == '}':
					return nil, errTemplate(tpl, "unbalanced '}'")
				case c == '?' || c == '#':
					return nil, errTemplate(tpl, fmt.Sprintf("%q cannot occur in a request path", c))
				case c <= ' ' || c == 0x7f:
					return nil, errTemplate(tpl, fmt.Sprintf("control or space byte 0x%02x", c))
				}
				i++
			}
			s = segment{kind: segStatic, text: tpl[start:i]}
		}
		segs = append(segs, s)
		if i == len(tpl) {
			return segs, nil
		}
		i++ // the '/'
	}
}

// parseParam parses the `{...}` that starts at tpl[i] into s and returns the index just after its '}'.
// Braces nest inside a regex (as in `{id:[0-9]{3}}`), mirroring fasthttp/router.
func parseParam(tpl string, i int, s *segment, cache map[string]*segMatcher) (int, error) {
	j := i + 1
	for j < len(tpl) && tpl[j] != ':' && tpl[j] != '}' {
		c := tpl[j]
		switch {
		case c == '?':
			return 0, errTemplate(tpl, "optional parameters ({name?}) are not supported: register both templates")
		case c == '{':
			return 0, errTemplate(tpl, "'{' in a parameter name")
		case !isNameByte(c):
			return 0, errTemplate(tpl, fmt.Sprintf("byte %q in a parameter name (allowed: letters, digits, '_', '-', '.')", c))
		}
		j++
	}
	if j == len(tpl) {
		return 0, errTemplate(tpl, "unclosed '{'")
	}
	s.name = tpl[i+1 : j]
	if s.name == "" {
		return 0, errTemplate(tpl, "parameter with an empty name")
	}
	if tpl[j] == '}' {
		s.kind, s.text = segParam, tpl[i:j+1]
		return j + 1, nil
	}
	// A regex or '*': find the '}' that closes the parameter.
	depth := 0
	k := j + 1
	for ; k < len(tpl); k++ {
		if tpl[k] == '{' {
			depth++
		} else if tpl[k] == '}' {
			if depth == 0 {
				break
			}
			depth--
		}
	}
	if k == len(tpl) {
		return 0, errTemplate(tpl, "unclosed '{'")
	}
	s.text = tpl[i : k+1]
	s.pattern = tpl[j+1 : k]
	switch {
	case s.pattern == "":
		return 0, errTemplate(tpl, "empty regex in "+s.text)
	case s.pattern == "*":
		s.kind, s.pattern = segCatchAll, ""
	default:
		m := cache[s.pattern]
		if m == nil {
			var err error
			if m, err = newSegMatcher(s.pattern); err != nil {
				return 0, fmt.Errorf("radix: template %q: bad regex in %s: %w", tpl, s.text, err)
			}
			if cache != nil {
				cache[s.pattern] = m
			}
		}
		s.kind, s.m = segParam, m
	}
	return k + 1, nil
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// shapeKey is the template with parameter names erased: two templates with the same key (and method)
// are the same route, whatever their parameters are called.
func shapeKey(segs []segment) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		switch s.kind {
		case segStatic:
			b.WriteString(s.text)
		case segParam:
			b.WriteString("{:")
			b.WriteString(s.pattern)
			b.WriteByte('}')
		case segCatchAll:
			b.WriteString("{:*}")
		}
	}
	return b.String()
}

// validMethod reports whether m is "*" or an HTTP token without lower-case letters (RFC 9110 tchar).
func validMethod(m string) bool {
	if m == "*" {
		return true
	}
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
