package cors

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/policy/httpbytes"
)

var (
	hOrigin       = []byte("Origin")
	hReqMethod    = []byte("Access-Control-Request-Method")
	hReqHeaders   = []byte("Access-Control-Request-Headers")
	hAllowOrigin  = []byte("Access-Control-Allow-Origin")
	hAllowCreds   = []byte("Access-Control-Allow-Credentials")
	hAllowMethods = []byte("Access-Control-Allow-Methods")
	hAllowHeaders = []byte("Access-Control-Allow-Headers")
	hExpose       = []byte("Access-Control-Expose-Headers")
	hMaxAge       = []byte("Access-Control-Max-Age")
	hVary         = []byte("Vary")

	vStar          = []byte("*")
	vTrue          = []byte("true")
	vOrigin        = []byte("Origin")
	vPreflightVary = []byte("Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	mOptions       = []byte("OPTIONS")
)

// Policy is a compiled Config. It is immutable and safe for concurrent use;
// every header value it writes was built by Compile.
//
// Preflight answers are always 204, also for an origin, method or header
// the policy does not allow: such an answer simply carries no
// Access-Control-Allow-* headers, and the browser fails the preflight. This
// is what Kong's cors plugin does (it answers every preflight itself and
// leaves Access-Control-Allow-Origin out for unknown origins); Envoy hands
// a preflight from an unknown origin on to the upstream, which our fixed
// pipeline does not allow (a preflight never reaches auth or the backend).
// A 403 would add no protection, since CORS is enforced by the browser and
// non-browser clients ignore it, and it would make every misconfigured
// origin look like an authorization failure in logs and dashboards. The
// pipeline can still tell the two apart by Preflight's result.
type Policy struct {
	origins      matcher
	credentials  bool
	anyMethod    bool
	anyHeader    bool
	methods      [][]byte // for matching, as configured
	headers      [][]byte // lowercase, for matching
	allowMethods []byte   // precomputed Access-Control-Allow-Methods
	allowHeaders []byte   // precomputed Access-Control-Allow-Headers (nil: omit)
	expose       []byte   // precomputed Access-Control-Expose-Headers (nil: omit)
	maxAge       []byte   // precomputed Access-Control-Max-Age (nil: omit)
	warnings     []string
}

// DefaultMethods is used when allow_methods is empty.
var DefaultMethods = []string{"GET", "HEAD", "POST"}

// Compile validates cfg and precomputes every header value. Errors name the
// key, the index and the offending value. Risky but valid settings (such as
// "*" origins with credentials) compile and are reported by Warnings.
func Compile(cfg Config) (*Policy, error) {
	p := &Policy{credentials: cfg.AllowCredentials}
	var err error
	p.origins, p.warnings, err = compileOrigins(cfg.AllowOrigins, cfg.AllowCredentials)
	if err != nil {
		return nil, err
	}

	methods := cfg.AllowMethods
	if len(methods) == 0 {
		methods = DefaultMethods
	}
	for i, m := range methods {
		if m == "*" {
			p.anyMethod = true
			continue
		}
		if !httpbytes.IsToken(m) {
			return nil, fmt.Errorf("cors: allow_methods[%d] %q: not an HTTP method token", i, m)
		}
		p.methods = append(p.methods, []byte(m))
	}
	if p.anyMethod {
		p.allowMethods = vStar
	} else {
		p.allowMethods = []byte(strings.Join(methods, ", "))
	}

	var names []string
	for i, h := range cfg.AllowHeaders {
		if h == "*" {
			p.anyHeader = true
			continue
		}
		if !httpbytes.IsToken(h) {
			return nil, fmt.Errorf("cors: allow_headers[%d] %q: not a header name", i, h)
		}
		p.headers = append(p.headers, []byte(strings.ToLower(h)))
		names = append(names, h)
	}
	switch {
	case p.anyHeader:
		p.allowHeaders = vStar
	case len(names) > 0:
		p.allowHeaders = []byte(strings.Join(names, ", "))
	}

	for i, h := range cfg.ExposeHeaders {
		if h == "*" {
			if cfg.AllowCredentials {
				return nil, fmt.Errorf(`cors: expose_headers[%d] "*": with allow_credentials = true browsers read "*" as a header named "*"; list the headers to expose`, i)
			}
			continue
		}
		if !httpbytes.IsToken(h) {
			return nil, fmt.Errorf("cors: expose_headers[%d] %q: not a header name", i, h)
		}
	}
	if len(cfg.ExposeHeaders) > 0 {
		p.expose = []byte(strings.Join(cfg.ExposeHeaders, ", "))
	}

	age := time.Duration(cfg.MaxAge)
	switch {
	case age < 0:
		return nil, fmt.Errorf("cors: max_age %q: must not be negative", age.String())
	case age%time.Second != 0:
		return nil, fmt.Errorf("cors: max_age %q: must be whole seconds", age.String())
	case age > 24*time.Hour:
		p.warnings = append(p.warnings, fmt.Sprintf("cors: max_age %q: browsers cap preflight caching at 24h (Chromium at 2h)", age.String()))
	}
	if age > 0 {
		p.maxAge = strconv.AppendInt(nil, int64(age/time.Second), 10)
	}
	return p, nil
}

// Warnings lists valid-but-risky settings found by Compile, for the loader
// to log once.
func (p *Policy) Warnings() []string { return p.warnings }

// IsPreflight reports whether req is a CORS preflight: OPTIONS with both an
// Origin and an Access-Control-Request-Method header. A plain OPTIONS is an
// ordinary request for the backend.
func (p *Policy) IsPreflight(req *fasthttp.Request) bool {
	return string(req.Header.Method()) == string(mOptions) &&
		len(req.Header.PeekBytes(hOrigin)) > 0 &&
		len(req.Header.PeekBytes(hReqMethod)) > 0
}

// OriginAllowed reports whether an Origin header value is allowed.
func (p *Policy) OriginAllowed(origin []byte) bool { return p.origins.match(origin) }

// Preflight writes the gateway's answer to a preflight into resp: status
// 204, no body, Vary on the three request headers the answer depends on,
// and, when the origin, the requested method and every requested header are
// allowed, the Access-Control-Allow-* headers. It reports whether the
// preflight was allowed; see Policy for why a refusal is still a 204.
// resp is expected to be the gateway's own fresh response (a preflight
// never reaches the backend), so no stale CORS headers are removed.
// Zero allocations once resp's header buffers are warm.
func (p *Policy) Preflight(req *fasthttp.Request, resp *fasthttp.Response) (allowed bool) {
	resp.SetStatusCode(fasthttp.StatusNoContent)
	resp.ResetBody()
	h := &resp.Header
	h.SetCanonical(hVary, vPreflightVary)

	origin := req.Header.PeekBytes(hOrigin)
	if !p.origins.match(origin) {
		return false
	}
	method := req.Header.PeekBytes(hReqMethod)
	if !p.methodAllowed(method) {
		return false
	}
	reqHeaders := req.Header.PeekBytes(hReqHeaders)
	if !p.headersAllowed(reqHeaders) {
		return false
	}

	p.setAllowOrigin(h, origin)
	switch {
	case p.anyMethod && p.credentials:
		h.SetCanonical(hAllowMethods, method)
	default:
		h.SetCanonical(hAllowMethods, p.allowMethods)
	}
	switch {
	case p.anyHeader && p.credentials:
		if len(reqHeaders) > 0 {
			h.SetCanonical(hAllowHeaders, reqHeaders)
		}
	case p.allowHeaders != nil:
		h.SetCanonical(hAllowHeaders, p.allowHeaders)
	}
	if p.maxAge != nil {
		h.SetCanonical(hMaxAge, p.maxAge)
	}
	return true
}

// Decorate adds the CORS headers of an actual (non-preflight) response.
// The gateway owns these headers for an API with a CORS policy: whatever
// Access-Control-Allow-Origin, -Allow-Credentials or -Expose-Headers the
// upstream sent is replaced or removed. "Vary: Origin" is added to every
// response, allowed or not, so the response cache and downstream caches
// never serve one origin's answer to another. Zero allocations once resp's
// header buffers are warm.
func (p *Policy) Decorate(req *fasthttp.Request, resp *fasthttp.Response) {
	h := &resp.Header
	h.AddBytesKV(hVary, vOrigin)
	origin := req.Header.PeekBytes(hOrigin)
	if !p.origins.match(origin) {
		h.DelBytes(hAllowOrigin)
		h.DelBytes(hAllowCreds)
		h.DelBytes(hExpose)
		return
	}
	p.setAllowOrigin(h, origin)
	if p.expose != nil {
		h.SetCanonical(hExpose, p.expose)
	} else {
		h.DelBytes(hExpose)
	}
}

// setAllowOrigin writes Access-Control-Allow-Origin (and -Credentials):
// "*" only for a wildcard policy without credentials, otherwise the
// request's origin, never "*" together with credentials.
func (p *Policy) setAllowOrigin(h *fasthttp.ResponseHeader, origin []byte) {
	if p.origins.any && !p.credentials {
		h.SetCanonical(hAllowOrigin, vStar)
	} else {
		h.SetCanonical(hAllowOrigin, origin)
	}
	if p.credentials {
		h.SetCanonical(hAllowCreds, vTrue)
	} else {
		h.DelBytes(hAllowCreds)
	}
}

func (p *Policy) methodAllowed(m []byte) bool {
	if !httpbytes.IsTokenBytes(m) {
		return false
	}
	if p.anyMethod {
		return true
	}
	for _, a := range p.methods {
		if httpbytes.EqualFold(m, a) {
			return true
		}
	}
	return false
}

// headersAllowed checks a comma-separated Access-Control-Request-Headers
// value; empty elements and surrounding spaces are tolerated as in any
// HTTP list.
func (p *Policy) headersAllowed(list []byte) bool {
	for len(list) > 0 {
		var item []byte
		if i := bytes.IndexByte(list, ','); i >= 0 {
			item, list = list[:i], list[i+1:]
		} else {
			item, list = list, nil
		}
		item = httpbytes.TrimOWS(item)
		if len(item) == 0 {
			continue
		}
		if !httpbytes.IsTokenBytes(item) {
			return false
		}
		if p.anyHeader {
			continue
		}
		ok := false
		for _, a := range p.headers {
			if httpbytes.EqualFold(item, a) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
