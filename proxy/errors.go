package proxy

import (
	"unicode/utf8"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
)

// Error codes clients see in {"error":{"code":...}}. Stable: clients and
// dashboards match on them.
const (
	CodeMalformedRequest   = "MalformedRequest"
	CodeUnknownStage       = "UnknownStage"
	CodeNotFound           = "NotFound"
	CodeMethodNotAllowed   = "MethodNotAllowed"
	CodePayloadTooLarge    = "PayloadTooLarge"
	CodeHeaderTooLarge     = "HeaderTooLarge"
	CodeRequestTimeout     = "RequestTimeout"
	CodeBadGateway         = "BadGateway"
	CodeNoTargetAvailable  = "NoTargetAvailable"
	CodeOverloaded         = "Overloaded"
	CodeGatewayTimeout     = "GatewayTimeout"
	CodeInternal           = "InternalError"
	CodeUpstreamBodyFailed = "UpstreamBodyFailed"
)

// writeError answers with the one JSON error shape of DESIGN.md:
// {"error":{"code":"...","message":"...","request_id":"..."}}. The body is
// built by appends into the response's own buffer: errors are frequent under
// attack and must stay as cheap as successes.
func writeError(ctx *fasthttp.RequestCtx, status int, code, msg string, requestID []byte) {
	resp := &ctx.Response
	resp.Reset()
	resp.SetStatusCode(status)
	resp.Header.SetContentType("application/json")
	bb := bytebufferpool.Get()
	b := bb.B[:0]
	b = append(b, `{"error":{"code":"`...)
	b = append(b, code...)
	b = append(b, `","message":`...)
	b = appendJSONString(b, msg)
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, b2s(requestID))
	b = append(b, "}}\n"...)
	resp.SetBody(b)
	bb.B = b
	bytebufferpool.Put(bb)
	if len(requestID) > 0 {
		resp.Header.SetBytesV(headerRequestID, requestID)
	}
}

// appendJSONString appends s as a JSON string; control characters, quotes,
// backslashes and invalid bytes are escaped so the body is always valid JSON.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20 || c == 0x7f:
			dst = append(dst, '\\', 'u', '0', '0', hexLower[c>>4], hexLower[c&15])
		case c >= 0x80:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, `\ufffd`...)
				continue
			}
			dst = append(dst, s[i:i+size]...)
			i += size - 1
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

const hexLower = "0123456789abcdef"
