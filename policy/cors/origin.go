package cors

import (
	"fmt"
	"strconv"
	"strings"
)

// maxOriginLen bounds what we lowercase on the stack. A serialized origin
// is scheme + "://" + a host of at most 253 bytes + ":" + port.
const maxOriginLen = 320

// wildcard is a compiled "scheme://*.domain[:port]" pattern.
type wildcard struct {
	prefix string // "https://"
	suffix string // ".example.com" or ".example.com:8443"
}

// matcher decides whether an Origin header value is allowed. Immutable
// after compileOrigins, safe for concurrent use.
type matcher struct {
	any   bool
	exact map[string]struct{} // lowercase origins
	wild  []wildcard
}

func compileOrigins(list []string, credentials bool) (matcher, []string, error) {
	m := matcher{exact: map[string]struct{}{}}
	var warnings []string
	if len(list) == 0 {
		return m, nil, fmt.Errorf("cors: allow_origins: at least one origin is required")
	}
	for i, raw := range list {
		if raw == "*" {
			m.any = true
			if credentials {
				warnings = append(warnings, `cors: allow_origins "*" with allow_credentials = true: every requesting origin is echoed back, so any web site can make credentialed requests; list the trusted origins instead`)
			}
			continue
		}
		o := strings.ToLower(raw)
		scheme, host, port, err := splitOrigin(o)
		if err != nil {
			return m, nil, fmt.Errorf("cors: allow_origins[%d] %q: %s", i, raw, err)
		}
		if strings.HasPrefix(host, "*.") {
			dom := host[2:]
			if strings.Count(dom, ".") < 1 {
				return m, nil, fmt.Errorf("cors: allow_origins[%d] %q: wildcard must be followed by at least two labels (\"*.example.com\"), not a bare top-level domain", i, raw)
			}
			suffix := host[1:]
			if port != "" {
				suffix += ":" + port
			}
			m.wild = append(m.wild, wildcard{prefix: scheme + "://", suffix: suffix})
			continue
		}
		m.exact[o] = struct{}{}
	}
	return m, warnings, nil
}

// splitOrigin validates a lowercase configured origin and splits it.
func splitOrigin(o string) (scheme, host, port string, err error) {
	if o == "null" {
		return "", "", "", fmt.Errorf(`the "null" origin is sent by sandboxed documents and file: pages and cannot be trusted`)
	}
	i := strings.Index(o, "://")
	if i <= 0 {
		return "", "", "", fmt.Errorf("want scheme://host[:port]")
	}
	scheme, rest := o[:i], o[i+3:]
	for j := 0; j < len(scheme); j++ {
		c := scheme[j]
		if !(c >= 'a' && c <= 'z' || j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", "", "", fmt.Errorf("invalid scheme %q", scheme)
		}
	}
	if strings.ContainsAny(rest, "/?#@") {
		return "", "", "", fmt.Errorf("an origin has no path, query, fragment or user info (want scheme://host[:port], without a trailing slash)")
	}
	host = rest
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", "", "", fmt.Errorf("unterminated IPv6 literal")
		}
		host, rest = rest[:end+1], rest[end+1:]
		for _, c := range host[1 : len(host)-1] {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == ':' || c == '.') {
				return "", "", "", fmt.Errorf("invalid IPv6 literal %q", host)
			}
		}
		if rest != "" && rest[0] != ':' {
			return "", "", "", fmt.Errorf("unexpected %q after IPv6 literal", rest)
		}
		if rest != "" {
			port = rest[1:]
			if err := checkPort(port); err != nil {
				return "", "", "", err
			}
		}
		return scheme, host, port, nil
	}
	if j := strings.LastIndexByte(rest, ':'); j >= 0 {
		host, port = rest[:j], rest[j+1:]
		if err := checkPort(port); err != nil {
			return "", "", "", err
		}
	}
	h := host
	if strings.HasPrefix(h, "*.") {
		h = h[2:]
	}
	if h == "" {
		return "", "", "", fmt.Errorf("empty host")
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" {
			return "", "", "", fmt.Errorf("empty label in host %q", host)
		}
		for _, c := range label {
			if c == '*' {
				return "", "", "", fmt.Errorf(`"*" is only supported as the whole first label ("https://*.example.com")`)
			}
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", "", "", fmt.Errorf("invalid character %q in host %q", c, host)
			}
		}
	}
	return scheme, host, port, nil
}

func checkPort(p string) error {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 || p[0] == '0' {
		return fmt.Errorf("invalid port %q", p)
	}
	return nil
}

// match reports whether origin is allowed. Zero allocations.
func (m *matcher) match(origin []byte) bool {
	if len(origin) == 0 || len(origin) > maxOriginLen {
		return false
	}
	if m.any {
		// "null" is not a real origin (sandboxed iframes, file: pages);
		// "*" does not cover it.
		return string(origin) != "null"
	}
	var buf [maxOriginLen]byte
	o := buf[:len(origin)]
	for i, c := range origin {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		o[i] = c
	}
	if _, ok := m.exact[string(o)]; ok {
		return true
	}
	for i := range m.wild {
		if m.wild[i].match(o) {
			return true
		}
	}
	return false
}

// match checks a lowercase origin: prefix, then one or more non-empty
// labels of [a-z0-9-_], then the suffix (which starts with ".").
func (w *wildcard) match(o []byte) bool {
	if len(o) <= len(w.prefix)+len(w.suffix) ||
		string(o[:len(w.prefix)]) != w.prefix ||
		string(o[len(o)-len(w.suffix):]) != w.suffix {
		return false
	}
	mid := o[len(w.prefix) : len(o)-len(w.suffix)]
	if mid[0] == '.' || mid[len(mid)-1] == '.' {
		return false
	}
	prevDot := false
	for _, c := range mid {
		switch {
		case c == '.':
			if prevDot {
				return false
			}
			prevDot = true
			continue
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
		prevDot = false
	}
	return true
}
