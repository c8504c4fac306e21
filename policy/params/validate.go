package params

import (
	"sync"
	"unicode/utf8"

	"github.com/sluicegw/sluice/policy/jsonscan"
	"github.com/valyala/fasthttp"
)

// PathParams gives access to the route's path parameter values by the
// index Compile's pathIndex resolved. Values are validated as returned.
type PathParams interface {
	PathParam(i int) []byte
}

// slot is what one request found for one parameter.
type slot struct {
	val   []byte
	count int
	kind  Kind
	esc   bool
}

// scratch is per-request working memory, pooled.
type scratch struct {
	slots []slot
	buf   []byte        // unescaped JSON strings
	args  fasthttp.Args // the query, parsed apart from the request's URI
	qs    []byte        // query string with defaults appended
}

var scratchPool = sync.Pool{New: func() any { return &scratch{} }}

func acquireScratch(n int) *scratch {
	s := scratchPool.Get().(*scratch)
	if cap(s.slots) < n {
		s.slots = make([]slot, n)
	}
	s.slots = s.slots[:n]
	clear(s.slots)
	return s
}

func releaseScratch(s *scratch) {
	clear(s.slots) // drop references into the request
	s.buf = s.buf[:0]
	s.args.Reset()
	s.qs = s.qs[:0]
	if cap(s.buf) > 64<<10 {
		s.buf = nil // one huge body must not pin memory in the pool
	}
	scratchPool.Put(s)
}

// Validate checks req against the compiled rules: the body size first,
// then path, query, header, form and JSON parameters. It returns nil or a
// *Error (see Error.Status for 400 or 413). Defaults of absent query and
// header parameters are set on req. path may be nil when the API has no
// path parameters. Zero allocations, on success and on failure, once the
// request's own buffers are warm.
//
// Repeated query or form keys that carry a validated parameter are
// refused ("must not be repeated"), because the backend may read another
// copy than the one validated. Bodies are validated as sent: a
// Content-Encoding'd body fails JSON and form parsing. When the API has
// "json" parameters, a non-empty body must be a JSON object whatever its
// Content-Type (an empty body means every JSON parameter is absent); "form"
// parameters are read only from application/x-www-form-urlencoded bodies.
// Header values, path values and query/form values (percent-decoded by
// fasthttp) are validated byte for byte; path values as PathParams returns
// them. Implement PathParams on a pointer type: boxing a slice or struct
// value into the interface would allocate per request.
func (v *Validator) Validate(req *fasthttp.Request, path PathParams) error {
	if v.maxBody > 0 {
		if req.Header.ContentLength() > v.maxBody || len(req.Body()) > v.maxBody {
			return v.errTooLarge
		}
	}
	if len(v.path) > 0 {
		if path == nil {
			panic("BUG: params: Validate without PathParams for an API with path parameters")
		}
		for i := range v.path {
			p := &v.path[i]
			if e := p.checkText(path.PathParam(p.pathIdx)); e != nil {
				return e
			}
		}
	}
	if v.slots == 0 && len(v.header) == 0 {
		return nil
	}
	s := acquireScratch(v.slots)
	defer releaseScratch(s)
	if len(v.query) > 0 {
		if e := v.checkQuery(req.URI(), s); e != nil {
			return e
		}
	}
	for i := range v.header {
		p := &v.header[i]
		val := req.Header.PeekBytes(p.nameB)
		if len(val) == 0 {
			if p.def != nil {
				req.Header.SetBytesKV(p.nameB, p.def)
			} else if p.required {
				return p.errRequired
			}
			continue
		}
		if e := p.checkText(val); e != nil {
			return e
		}
	}
	if len(v.form) > 0 {
		if e := checkArgs(v.form, req.PostArgs(), s); e != nil {
			return e
		}
	}
	if len(v.json) > 0 {
		if e := v.checkJSON(req.Body(), s); e != nil {
			return e
		}
	}
	return nil
}

// checkQuery validates the query parameters and appends the defaults of
// absent ones to the query string. The query is parsed into scratch rather
// than through uri.QueryArgs(): once a URI's args are parsed, fasthttp
// re-encodes the query from them when the request is written, and merely
// validating must not change what the backend receives.
func (v *Validator) checkQuery(uri *fasthttp.URI, s *scratch) error {
	raw := uri.QueryString()
	s.args.ParseBytes(raw)
	if e := checkArgs(v.query, &s.args, s); e != nil {
		return e
	}
	for i := range v.query {
		p := &v.query[i]
		if s.slots[i].count != 0 || p.def == nil {
			continue
		}
		if len(s.qs) == 0 {
			s.qs = append(s.qs, raw...)
		}
		if len(s.qs) > 0 && s.qs[len(s.qs)-1] != '&' {
			s.qs = append(s.qs, '&')
		}
		s.qs = append(s.qs, p.defQuery...)
	}
	if len(s.qs) > 0 {
		uri.SetQueryStringBytes(s.qs)
	}
	return nil
}

// checkArgs validates query or form parameters in one pass over args;
// s.slots[i].count tells the caller which were absent.
func checkArgs(ps []param, args *fasthttp.Args, s *scratch) error {
	slots := s.slots[:len(ps)]
	clear(slots)
	for k, val := range args.All() {
		for i := range ps {
			if string(k) == ps[i].name {
				slots[i].count++
				slots[i].val = val
				if slots[i].count > 1 {
					return ps[i].errRepeated
				}
				break
			}
		}
	}
	for i := range ps {
		p := &ps[i]
		if slots[i].count == 0 {
			if p.required && p.def == nil {
				return p.errRequired
			}
			continue
		}
		if e := p.checkText(slots[i].val); e != nil {
			return e
		}
	}
	return nil
}

// checkJSON validates the top-level JSON members in one pass over body.
func (v *Validator) checkJSON(body []byte, s *scratch) error {
	slots := s.slots[:len(v.json)]
	clear(slots)
	if jsonscan.SkipWS(body, 0) < len(body) {
		var it jsonscan.ObjectIter
		if err := it.Start(body, bodyJSON); err != nil {
			if err == ErrNotObject {
				return v.errNotObject
			}
			return v.errMalformed
		}
		for {
			m, ok, err := it.Next()
			if err != nil {
				return v.errMalformed
			}
			if !ok {
				break
			}
			for i := range v.json {
				if jsonscan.EqualUnescaped(m.Key, m.KeyEsc, v.json[i].name) {
					slots[i] = slot{val: m.Val, kind: m.Kind, esc: m.ValEsc, count: 1} // last wins
					break
				}
			}
		}
	}
	for i := range v.json {
		p, sl := &v.json[i], &slots[i]
		if sl.kind == KindNone || sl.kind == KindNull {
			if p.required {
				return p.errRequired
			}
			continue
		}
		var val []byte
		val, s.buf = jsonscan.Unquote(sl.val, sl.kind, sl.esc, s.buf)
		if e := p.checkJSON(val, sl.kind); e != nil {
			return e
		}
	}
	return nil
}

// checkText validates a value taken from text (path, query, header, form).
func (p *param) checkText(val []byte) *Error {
	switch p.typ {
	case tString:
		return p.checkString(val)
	case tInt:
		n, ok := ParseInt(val)
		if !ok {
			return p.errType
		}
		return p.checkInt(n)
	case tNumber:
		f, ok := ParseNumber(val)
		if !ok {
			return p.errType
		}
		return p.checkFloat(f)
	case tBool:
		if _, ok := ParseBool(val); !ok {
			return p.errType
		}
	case tEnum:
		if _, ok := p.enum[string(val)]; !ok {
			return p.errEnum
		}
	}
	return nil
}

// checkJSON validates a JSON member; strings arrive unquoted.
func (p *param) checkJSON(val []byte, kind Kind) *Error {
	switch p.typ {
	case tString, tEnum:
		if kind != KindString {
			return p.errType
		}
		return p.checkText(val)
	case tInt, tNumber:
		if kind != KindNumber {
			return p.errType
		}
		return p.checkText(val)
	case tBool:
		if kind != KindBool {
			return p.errType
		}
	}
	return nil
}

func (p *param) checkString(val []byte) *Error {
	if p.minLen > 0 || p.maxLen > 0 {
		n := utf8.RuneCount(val)
		if n < p.minLen {
			return p.errMinLen
		}
		if p.maxLen > 0 && n > p.maxLen {
			return p.errMaxLen
		}
	}
	if p.re != nil && !p.re.Match(val) {
		return p.errRegex
	}
	return nil
}

func (p *param) checkInt(n int64) *Error {
	if n < p.imin {
		return p.errMin
	}
	if n > p.imax {
		return p.errMax
	}
	return nil
}

func (p *param) checkFloat(f float64) *Error {
	if p.hasMin && f < p.min {
		return p.errMin
	}
	if p.hasMax && f > p.max {
		return p.errMax
	}
	return nil
}
