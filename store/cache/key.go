package cache

import (
	"sort"

	"github.com/sluicegw/sluice/policy/httpbytes"
)

// Cache keys. A key is built in two parts:
//
//	URL part:  host, stage, path, selected query parameters (sorted)
//	rest:      method class, selected request headers
//
// The URL part comes first so that "purge this URL" (all methods, consumers
// and variants) and "purge this prefix" work on key prefixes (see Store).
// Every part is escaped and terminated by 0x00 (0x00 -> 01 02, 01 -> 01 03),
// so no value can forge a boundary: "a/b" + "c" never equals "a" + "/bc".
//
// A variant key is a primary key plus a suffix: the consumer (when the answer
// is not public) and the normalized values of the request headers the
// answer's Vary names. The lookup step reads the primary key first; when it
// holds a variants record (MetaVariants) it builds the variant key with
// AppendVariantKey and reads again.

// HeaderSource gives request header values by name; *fasthttp.RequestHeader
// satisfies it. A missing header returns nil.
type HeaderSource interface {
	PeekBytes(name []byte) []byte
}

// KeySpec is an API's compiled key configuration. Build it once per snapshot
// with NewKeySpec; it is read-only afterwards and safe for concurrent use.
type KeySpec struct {
	queryAll bool
	query    [][]byte // sorted parameter names
	headers  [][]byte // header names, in configured order
}

// NewKeySpec compiles key_query (queryAll, or the listed names) and
// key_headers.
func NewKeySpec(queryAll bool, query, headers []string) *KeySpec {
	s := &KeySpec{queryAll: queryAll}
	for _, q := range query {
		s.query = append(s.query, []byte(q))
	}
	sort.Slice(s.query, func(i, j int) bool { return string(s.query[i]) < string(s.query[j]) })
	for _, h := range headers {
		s.headers = append(s.headers, []byte(h))
	}
	return s
}

// MaxKeyQueryParams is how many query parameters a key can hold; a request
// with more selected parameters is not cached (AppendKey returns ok=false),
// which keeps the sort on the stack.
const MaxKeyQueryParams = 64

// KeyInput is one request's key material.
type KeyInput struct {
	Method []byte
	Host   []byte // the group's host (not the client's Host header)
	Stage  []byte
	Path   []byte
	Query  []byte // raw query string without '?'
	Header HeaderSource
}

// AppendKey appends the primary key for in to dst and returns it with the
// length of its URL part (dst's prior bytes excluded), which PurgeURL and
// PurgePrefix work on. ok is false when the request has more than
// MaxKeyQueryParams selected parameters.
func (s *KeySpec) AppendKey(dst []byte, in *KeyInput) (key []byte, urlLen int, ok bool) {
	start := len(dst)
	dst = AppendURLKey(dst, in.Host, in.Stage, in.Path)
	var dok bool
	if dst, dok = s.appendQuery(dst, in.Query); !dok {
		return dst, 0, false
	}
	urlLen = len(dst) - start
	dst = appendPart(dst, methodClass(in.Method))
	for _, h := range s.headers {
		var v []byte
		if in.Header != nil {
			v = in.Header.PeekBytes(h)
		}
		dst = appendHeaderValue(dst, h, v)
	}
	return dst, urlLen, true
}

// AppendURLKey appends the URL part's host, stage and path (no query): the
// prefix PurgePrefix expects when the path is a path prefix.
func AppendURLKey(dst, host, stage, path []byte) []byte {
	dst = appendPart(dst, host)
	dst = appendPart(dst, stage)
	return appendEscaped(dst, path)
}

// AppendPurgePrefix appends the key prefix that matches every entry whose
// path starts with pathPrefix on host and stage.
func AppendPurgePrefix(dst, host, stage, pathPrefix []byte) []byte {
	return AppendURLKey(dst, host, stage, pathPrefix)
}

// AppendURL appends the URL part of a primary key for the purge of one URL:
// the same bytes AppendKey puts before the method class.
func (s *KeySpec) AppendURL(dst []byte, host, stage, path, query []byte) ([]byte, bool) {
	dst = AppendURLKey(dst, host, stage, path)
	return s.appendQuery(dst, query)
}

type span struct{ ns, ne, ve uint32 } // name [ns,ne), value [ne+1,ve) or none when ne==ve

// appendQuery ends the path part and appends the selected parameters sorted by
// name (a stable sort: repeated names keep their order, which origins may
// rely on), raw as the client sent them.
func (s *KeySpec) appendQuery(dst, q []byte) ([]byte, bool) {
	dst = append(dst, 0) // ends the path
	var spans [MaxKeyQueryParams]span
	n := 0
	i := 0
	for i < len(q) {
		j := i
		for j < len(q) && q[j] != '&' {
			j++
		}
		if j > i {
			e := i
			for e < j && q[e] != '=' {
				e++
			}
			if s.queryAll || s.selected(q[i:e]) {
				if n == MaxKeyQueryParams {
					return dst, false
				}
				spans[n] = span{uint32(i), uint32(e), uint32(j)}
				n++
			}
		}
		i = j + 1
	}
	// Insertion sort: stable, allocation-free, and n is small.
	for a := 1; a < n; a++ {
		for b := a; b > 0 && string(q[spans[b].ns:spans[b].ne]) < string(q[spans[b-1].ns:spans[b-1].ne]); b-- {
			spans[b], spans[b-1] = spans[b-1], spans[b]
		}
	}
	for k := 0; k < n; k++ {
		sp := spans[k]
		dst = appendEscaped(dst, q[sp.ns:sp.ne])
		if sp.ve > sp.ne {
			dst = append(dst, '=')
			dst = appendEscaped(dst, q[sp.ne+1:sp.ve])
		}
		dst = append(dst, '&')
	}
	return append(dst, 0), true
}

func (s *KeySpec) selected(name []byte) bool {
	// s.query is sorted: binary search without allocating.
	lo, hi := 0, len(s.query)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if string(s.query[m]) < string(name) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(s.query) && string(s.query[lo]) == string(name)
}

// methodClass puts GET and HEAD in one class: a HEAD is answered from the
// GET entry.
func methodClass(m []byte) []byte {
	if string(m) == "GET" || string(m) == "HEAD" {
		return getClass
	}
	return m
}

var getClass = []byte("GET")

// AppendVariantKey appends the variant suffix to a copy of primary in dst:
// the consumer (pass nil when the answer is public or the API does not
// authenticate) and, for each header named in vary, its normalized value.
// ok is false for Vary: * (such an answer is never stored).
func AppendVariantKey(dst, primary, vary, consumer []byte, h HeaderSource) ([]byte, bool) {
	dst = append(dst, primary...)
	dst = append(dst, 1) // marks the variant suffix
	dst = appendPart(dst, consumer)
	i := 0
	for i < len(vary) {
		j := i
		for j < len(vary) && vary[j] != ',' {
			j++
		}
		name := httpbytes.TrimOWS(vary[i:j])
		i = j + 1
		if len(name) == 0 {
			continue
		}
		if len(name) == 1 && name[0] == '*' {
			return dst, false
		}
		var v []byte
		if h != nil {
			v = h.PeekBytes(name)
		}
		dst = appendHeaderValue(dst, name, v)
	}
	return dst, true
}

// appendHeaderValue appends name (lower-cased) and the normalized value:
// OWS trimmed, whitespace runs collapsed to one space, lower-cased for the
// headers whose values are case-insensitive. A missing header and an empty
// one differ (0x02 vs 0x03 before the value).
func appendHeaderValue(dst, name, v []byte) []byte {
	for _, c := range name {
		dst = appendEscByte(dst, lower(c))
	}
	dst = append(dst, 0)
	if v == nil {
		return append(dst, 2, 0)
	}
	dst = append(dst, 3)
	fold := caseInsensitiveValue(name)
	v = httpbytes.TrimOWS(v)
	space := false
	for _, c := range v {
		if c == ' ' || c == '\t' {
			space = true
			continue
		}
		if space {
			dst = append(dst, ' ')
			space = false
		}
		if fold {
			c = lower(c)
		}
		dst = appendEscByte(dst, c)
	}
	return append(dst, 0)
}

// caseInsensitiveValue lists request headers whose values compare without
// case (content codings, charsets, language tags), so "GZIP" and "gzip"
// share a variant.
func caseInsensitiveValue(name []byte) bool {
	return eqFold(name, "accept-encoding") || eqFold(name, "accept-charset") || eqFold(name, "accept-language")
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func appendPart(dst, b []byte) []byte {
	return append(appendEscaped(dst, b), 0)
}

func appendEscaped(dst, b []byte) []byte {
	for _, c := range b {
		dst = appendEscByte(dst, c)
	}
	return dst
}

func appendEscByte(dst []byte, c byte) []byte {
	switch c {
	case 0:
		return append(dst, 1, 2)
	case 1:
		return append(dst, 1, 3)
	}
	return append(dst, c)
}
