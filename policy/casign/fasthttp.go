package casign

import (
	"bytes"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/policy/httpbytes"
)

// Protocol header names.
const (
	HeaderKey              = "X-Ca-Key"
	HeaderSignature        = "X-Ca-Signature"
	HeaderSignatureHeaders = "X-Ca-Signature-Headers"
	HeaderSignatureMethod  = "X-Ca-Signature-Method"
	HeaderTimestamp        = "X-Ca-Timestamp"
	HeaderNonce            = "X-Ca-Nonce"
	HeaderErrorMessage     = "X-Ca-Error-Message"

	headerContentMD5 = "Content-MD5"
)

// LoadFastHTTP fills r with views into req, which must stay unmodified while
// r is used. Query parameters come from the request URI and form fields from
// an application/x-www-form-urlencoded body (media type matched
// case-insensitively), both URL-decoded by fasthttp's argument parser ('+'
// is a space; a malformed %-escape stays literal). The path is the raw path
// of the request line. Signed header names come from X-Ca-Signature-Headers,
// split at commas (or colons) and trimmed of spaces and tabs; a listed header the request
// lacks signs as an empty value.
//
// Loading stops adding names or parameters beyond limits that Verify then
// rejects (Config.MaxSignedHeaders, Config.MaxParams), so a hostile request
// cannot grow r without bound. No allocation once r's scratch has grown.
func (v *Verifier) LoadFastHTTP(r *Request, req *fasthttp.Request) {
	h := &req.Header
	r.Method = h.Method()
	r.Accept = h.Peek(fasthttp.HeaderAccept)
	r.ContentMD5 = h.Peek(headerContentMD5)
	r.ContentType = h.ContentType()
	r.Date = h.Peek(fasthttp.HeaderDate)
	r.AppKey = h.Peek(HeaderKey)
	r.Signature = h.Peek(HeaderSignature)
	r.SignatureMethod = h.Peek(HeaderSignatureMethod)
	r.Timestamp = h.Peek(HeaderTimestamp)
	r.Nonce = h.Peek(HeaderNonce)
	r.Body = req.Body()

	list := h.Peek(HeaderSignatureHeaders)
	for len(list) > 0 && len(r.Headers) <= v.cfg.MaxSignedHeaders {
		var name []byte
		// Commas per the SDKs; colons too, as one Alibaba page shows them and
		// no header name can hold one.
		if i := bytes.IndexAny(list, ",:"); i >= 0 {
			name, list = list[:i], list[i+1:]
		} else {
			name, list = list, nil
		}
		name = httpbytes.TrimOWS(name)
		if len(name) == 0 {
			continue
		}
		r.Headers = append(r.Headers, Header{Name: name, Value: h.PeekBytes(name)})
	}

	u := req.URI()
	r.Path = u.PathOriginal()
	for k, val := range u.QueryArgs().All() {
		if len(r.Query) > v.cfg.MaxParams {
			break
		}
		r.Query = append(r.Query, Param{Key: k, Value: val})
	}
	if isFormContentType(r.ContentType) {
		r.form.ParseBytes(r.Body)
		for k, val := range r.form.All() {
			if len(r.Query)+len(r.Form) > v.cfg.MaxParams {
				break
			}
			r.Form = append(r.Form, Param{Key: k, Value: val})
		}
	}
}

// VerifyFastHTTP is LoadFastHTTP followed by Verify. r is the caller's so it
// can render AppendDebugStringToSign(dst, &r.Input) after ErrBadSignature.
func (v *Verifier) VerifyFastHTTP(r *Request, req *fasthttp.Request, now int64) (*Credential, error) {
	v.LoadFastHTTP(r, req)
	return v.Verify(r, now)
}

// isFormContentType reports whether ct's media type is
// application/x-www-form-urlencoded, ignoring case and parameters.
func isFormContentType(ct []byte) bool {
	const form = "application/x-www-form-urlencoded"
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return httpbytes.EqualFoldASCII(httpbytes.TrimOWS(ct), form)
}
