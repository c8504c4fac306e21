package policy

import (
	"errors"
	"strconv"
	"strings"

	"github.com/sluicegw/sluice/policy/radix"
)

// templateParams lists the parameter names of a path template in order, the
// order the router captures them in, so a name can be resolved to an index
// once at compile time. Braces inside a regex ({id:[0-9]{3}}) are balanced.
func templateParams(tpl string) ([]string, []bool, error) {
	var names []string
	var catchAll []bool
	for i := 0; i < len(tpl); i++ {
		if tpl[i] != '{' {
			continue
		}
		depth, j := 1, i+1
		for ; j < len(tpl) && depth > 0; j++ {
			switch tpl[j] {
			case '{':
				depth++
			case '}':
				depth--
			}
		}
		if depth != 0 {
			return nil, nil, errors.New("unbalanced '{' in path template " + quote(tpl))
		}
		inner := tpl[i+1 : j-1]
		name, rx, hasRx := strings.Cut(inner, ":")
		if name == "" {
			return nil, nil, errors.New("empty parameter name in path template " + quote(tpl))
		}
		names = append(names, name)
		catchAll = append(catchAll, hasRx && rx == "*")
		i = j - 1
	}
	return names, catchAll, nil
}

// substituteVars replaces every "${name}" with vars[name]. Missing names are
// reported all at once, so one error names every variable a stage lacks.
func substituteVars(s string, vars map[string]string) (string, []string) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	var missing []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			break
		}
		name := s[i+2 : i+j]
		b.WriteString(s[:i])
		if v, ok := vars[name]; ok {
			b.WriteString(v)
		} else {
			missing = append(missing, name)
		}
		s = s[i+j+1:]
	}
	return b.String(), missing
}

// pathPart is one piece of a compiled backend path: literal bytes or a path
// parameter by index.
type pathPart struct {
	lit      []byte
	param    int // -1 for a literal
	catchAll bool
	inQuery  bool
}

// PathTemplate is a compiled backend_path. Expanding it costs appends only.
type PathTemplate struct {
	parts    []pathPart
	hasQuery bool
	source   string
}

// String is the template as written (after stage variables).
func (t *PathTemplate) String() string { return t.source }

// compileBackendPath compiles tpl against the names the API's path captures.
func compileBackendPath(tpl string, params []string, catchAll []bool) (*PathTemplate, error) {
	if !strings.HasPrefix(tpl, "/") {
		return nil, errors.New("must start with '/'")
	}
	for i := 0; i < len(tpl); i++ {
		if c := tpl[i]; c <= ' ' || c == '#' || c >= 0x7f {
			return nil, errors.New("must not contain spaces, '#', control characters or non-ASCII bytes (percent-encode them)")
		}
	}
	t := &PathTemplate{source: tpl}
	inQuery := false
	lit := []byte(nil)
	flush := func() {
		if len(lit) > 0 {
			t.parts = append(t.parts, pathPart{lit: lit, param: -1, inQuery: inQuery})
			lit = nil
		}
	}
	for i := 0; i < len(tpl); i++ {
		c := tpl[i]
		if c == '?' && !inQuery {
			lit = append(lit, c)
			flush()
			inQuery = true
			t.hasQuery = true
			continue
		}
		if c == '}' {
			return nil, errors.New("unexpected '}' at offset " + strconv.Itoa(i))
		}
		if c != '{' {
			lit = append(lit, c)
			continue
		}
		j := strings.IndexByte(tpl[i:], '}')
		if j < 0 {
			return nil, errors.New("unbalanced '{'")
		}
		name := tpl[i+1 : i+j]
		idx := -1
		for k, n := range params {
			if n == name {
				idx = k
			}
		}
		if idx < 0 {
			return nil, errors.New("parameter {" + name + "} is not captured by the API's path")
		}
		flush()
		t.parts = append(t.parts, pathPart{param: idx, catchAll: catchAll[idx], inQuery: inQuery})
		i += j
	}
	flush()
	return t, nil
}

// AppendExpand appends the expanded upstream request URI: the template with
// parameters escaped for where they stand, then the client's raw query.
func (t *PathTemplate) AppendExpand(dst []byte, ps *radix.Params, path, clientQuery []byte) []byte {
	for i := range t.parts {
		p := &t.parts[i]
		switch {
		case p.param < 0:
			dst = append(dst, p.lit...)
		case p.inQuery:
			dst = appendQueryEscaped(dst, ps.Value(p.param, path))
		default:
			dst = appendPathEscaped(dst, ps.Value(p.param, path), p.catchAll)
		}
	}
	if len(clientQuery) > 0 {
		if t.hasQuery {
			if last := dst[len(dst)-1]; last != '?' && last != '&' {
				dst = append(dst, '&')
			}
		} else {
			dst = append(dst, '?')
		}
		dst = append(dst, clientQuery...)
	}
	return dst
}

const hexDigits = "0123456789ABCDEF"

// unreserved per RFC 3986, plus sub-delims and ':' '@' allowed in a path segment.
func pathSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@':
		return true
	}
	return false
}

func appendPathEscaped(dst, v []byte, keepSlash bool) []byte {
	for _, c := range v {
		if pathSafe(c) || (keepSlash && c == '/') {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return dst
}

func appendQueryEscaped(dst, v []byte) []byte {
	for _, c := range v {
		if pathSafe(c) && c != '&' && c != '=' && c != '+' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return dst
}
