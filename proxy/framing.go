package proxy

import (
	"bytes"
	"github.com/sluicegw/sluice/policy/httpbytes"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluicegw/sluice/policy/ipacl"
	"github.com/valyala/fasthttp"
)

// checkFraming inspects the request's header block exactly as received and
// reports a reason when the message framing is ambiguous. fasthttp parses
// framing leniently (it picks one of Content-Length and Transfer-Encoding and
// folds duplicates), and a gateway that disagrees with its upstream about
// where a request ends is open to request smuggling, so anything that two
// HTTP parsers could read differently is refused here (RFC 9112 §6.3):
//
//   - Content-Length together with Transfer-Encoding;
//   - more than one Content-Length, or a list, or a value that is not digits;
//   - Transfer-Encoding other than exactly one "chunked";
//   - obsolete line folding, and whitespace between a field name and its colon.
//
// It returns "" when the framing is unambiguous. It does not allocate.
func checkFraming(raw []byte) string {
	var nCL, nTE int
	for len(raw) > 0 {
		end := httpbytes.IndexByte(raw, '\n')
		line := raw
		if end >= 0 {
			line, raw = raw[:end], raw[end+1:]
		} else {
			raw = nil
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			return "obsolete header line folding"
		}
		colon := httpbytes.IndexByte(line, ':')
		if colon <= 0 {
			return "header line without a name"
		}
		name := line[:colon]
		for _, c := range name {
			if c == ' ' || c == '\t' {
				return "whitespace in a header name"
			}
		}
		value := httpbytes.TrimOWS(line[colon+1:])
		switch {
		case httpbytes.EqualFoldASCII(name, "content-length"):
			nCL++
			if nCL > 1 {
				return "more than one Content-Length"
			}
			if len(value) == 0 || len(value) > 18 {
				return "invalid Content-Length"
			}
			for _, c := range value {
				if c < '0' || c > '9' {
					return "invalid Content-Length"
				}
			}
		case httpbytes.EqualFoldASCII(name, "transfer-encoding"):
			nTE++
			if nTE > 1 {
				return "more than one Transfer-Encoding"
			}
			if !httpbytes.EqualFoldASCII(value, "chunked") {
				return "unsupported Transfer-Encoding (only chunked)"
			}
		}
	}
	if nCL > 0 && nTE > 0 {
		return "both Content-Length and Transfer-Encoding"
	}
	return ""
}

// Error codes of checkRequest's answers (issue 10, defects 9 and 12); the
// others are in errors.go.
const (
	CodeHTTPVersionNotSupported = "HTTPVersionNotSupported"
	CodeLoopDetected            = "LoopDetected"
)

var (
	rejectedVersion = metrics.NewCounter(`sluice_requests_rejected_total{reason="http_version"}`)
	rejectedHost    = metrics.NewCounter(`sluice_requests_rejected_total{reason="host"}`)
	rejectedLoop    = metrics.NewCounter(`sluice_requests_rejected_total{reason="loop"}`)
)

// checkRequest vets the request line, Host and Via before anything routes
// on them. It returns 0 when the request is fine, otherwise the status,
// error code and message to answer with; the caller closes the connection.
//
//   - 505 for any version but HTTP/1.0 and HTTP/1.1: fasthttp parses any
//     "HTTP/d.d", and the version used to be forwarded as received
//     (defect 9). What the upstream gets is HTTP/1.1 (appendVia).
//   - 400 for a Host that is not exactly one reg-name, IPv4 or [IPv6] with
//     an optional port, for a missing Host in HTTP/1.1, for more than one
//     Host field (RFC 9112 §3.2), and for the same faults in an
//     absolute-form target's authority, which takes Host's place. fasthttp
//     drops a userinfo part ("good.test@evil.test" routes as evil.test,
//     defect 10), so the raw field is checked, not ctx.Host().
//   - 508 when Via already names this process: the request came back to
//     the gateway that forwarded it (defect 12).
//
// No allocations.
func checkRequest(ctx *fasthttp.RequestCtx) (status int, code, msg string) {
	h := &ctx.Request.Header
	if p := h.Protocol(); string(p) != "HTTP/1.1" && string(p) != "HTTP/1.0" {
		rejectedVersion.Inc()
		return fasthttp.StatusHTTPVersionNotSupported, CodeHTTPVersionNotSupported,
			"HTTP version not supported: only HTTP/1.0 and HTTP/1.1"
	}
	reason, loop := scanHostVia(h)
	if reason != "" {
		rejectedHost.Inc()
		return fasthttp.StatusBadRequest, CodeMalformedRequest, reason
	}
	if loop {
		rejectedLoop.Inc()
		return fasthttp.StatusLoopDetected, CodeLoopDetected,
			"request loop: this gateway already forwarded this request (a backend points back at the gateway)"
	}
	return 0, "", ""
}

// scanHostVia walks the header block once, as received, and returns why
// its Host (or an absolute-form target's authority) is refused, or "", and
// whether a Via field names this process. One pass over the raw block
// instead of keyed lookups: fasthttp normalises the key of every Peek.
func scanHostVia(h *fasthttp.RequestHeader) (reason string, loop bool) {
	raw := h.RawHeaders()
	hosts := 0
	if len(raw) == 0 {
		// A request built in code rather than parsed: check the fields
		// fasthttp holds.
		if !validHost(h.Host()) {
			return "invalid Host header", false
		}
		hosts = 1
		loop = viaLoops(h)
	}
	for len(raw) > 0 {
		line := raw
		if end := bytes.IndexByte(raw, '\n'); end >= 0 {
			line, raw = raw[:end], raw[end+1:]
		} else {
			raw = nil
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		switch {
		case len(line) >= 5 && line[4] == ':' && httpbytes.EqualFoldASCII(line[:4], "host"):
			hosts++
			if hosts > 1 {
				return "more than one Host header", false
			}
			if !validHost(httpbytes.TrimOWS(line[5:])) {
				return "invalid Host header: want a host name, IPv4 address or [IPv6] address, with an optional port", false
			}
		case len(line) > 4 && line[3] == ':' && httpbytes.EqualFoldASCII(line[:3], "via"):
			loop = loop || viaNamesUs(line[4:])
		}
	}
	if hosts == 0 && h.IsHTTP11() {
		return "missing Host header", false
	}
	if auth, ok := absoluteAuthority(h.RequestURI()); ok && !validHost(auth) {
		return "invalid authority in the request target", false
	}
	return "", loop
}

// absoluteAuthority returns the authority of an absolute-form request
// target ("http://host:port/path"), which fasthttp routes on instead of
// Host. It mirrors fasthttp's own test: a target that is not origin-form
// and contains "://".
func absoluteAuthority(uri []byte) ([]byte, bool) {
	if len(uri) > 1 && uri[0] == '/' && uri[1] != '/' {
		return nil, false
	}
	i := bytes.Index(uri, []byte("://"))
	if i < 0 {
		return nil, false
	}
	auth := uri[i+3:]
	for j, c := range auth {
		if c == '/' || c == '?' || c == '#' {
			return auth[:j], true
		}
	}
	return auth, true
}

// validHost accepts uri-host [":" port] (RFC 9110 §7.2, RFC 3986 §3.2.2),
// strictly: a host name of letters, digits, '-', '.', '_' and '~' (the
// unreserved characters; percent-encoding and sub-delimiters are legal in
// a reg-name but no real host needs them, and they would carry quoting
// characters into X-Forwarded-Host, templates and logs), which covers
// dotted IPv4; or an IPv6 literal in brackets without a zone. The port, when
// present, is 1 to 65535. An empty Host is allowed, as RFC 9112 §3.2 allows
// it for targets without an authority.
func validHost(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	var rest []byte
	if b[0] == '[' {
		end := httpbytes.IndexByte(b, ']')
		if end < 0 {
			return false
		}
		a, ok := ipacl.ParseAddr(b[1:end]) // refuses zones
		if !ok || !a.Is6() {
			return false
		}
		rest = b[end+1:]
	} else {
		n := 0
		for n < len(b) && b[n] != ':' {
			c := b[n]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
				c == '-' || c == '.' || c == '_' || c == '~') {
				return false
			}
			n++
		}
		if n == 0 || n > 253 {
			return false
		}
		rest = b[n:]
	}
	if len(rest) == 0 {
		return true
	}
	if rest[0] != ':' {
		return false
	}
	return validPort(rest[1:])
}

func validPort(p []byte) bool {
	if len(p) == 0 || len(p) > 5 {
		return false
	}
	v := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		v = v*10 + int(c-'0')
	}
	return v >= 1 && v <= 65535
}
