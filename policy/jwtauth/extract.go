package jwtauth

import "github.com/valyala/fasthttp"

// SourceKind says where a request carries its token.
type SourceKind uint8

const (
	// SourceBearer reads "Authorization: Bearer <t>".
	SourceBearer SourceKind = iota
	// SourceHeader reads a named header, raw or with a "Bearer " prefix.
	SourceHeader
	// SourceCookie reads a named cookie.
	SourceCookie
)

// Source is a compiled token location. Immutable, safe for concurrent use.
type Source struct {
	Kind SourceKind
	// Name is the header or cookie name (unused for SourceBearer).
	Name string
}

// Extract returns the token carried by req, or nil when there is none (or the
// Authorization header uses another scheme). The result aliases req's
// buffers: valid until req is reset. Does not allocate in steady state.
func Extract(req *fasthttp.Request, src Source) []byte {
	switch src.Kind {
	case SourceBearer:
		v := req.Header.Peek(fasthttp.HeaderAuthorization)
		t, ok := cutBearer(v)
		if !ok {
			return nil
		}
		return t
	case SourceHeader:
		v := req.Header.Peek(src.Name)
		if t, ok := cutBearer(v); ok {
			return t
		}
		return nonEmpty(trimSpace(v))
	case SourceCookie:
		return nonEmpty(trimSpace(req.Header.Cookie(src.Name)))
	}
	panic("BUG: jwtauth: unknown source kind")
}

// cutBearer strips a case-insensitive "Bearer" scheme and the spaces after
// it (RFC 6750 §2.1, RFC 9110 §11.1: auth-scheme is case-insensitive).
func cutBearer(v []byte) ([]byte, bool) {
	const scheme = "bearer"
	if len(v) <= len(scheme) || v[len(scheme)] != ' ' {
		return nil, false
	}
	for i := 0; i < len(scheme); i++ {
		if v[i]|0x20 != scheme[i] {
			return nil, false
		}
	}
	return nonEmpty(trimSpace(v[len(scheme):])), true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
