package proxy

import (
	"time"

	"github.com/sluicegw/sluice/policy"
	"github.com/sluicegw/sluice/policy/casign"
	"github.com/sluicegw/sluice/policy/jwtauth"
	"github.com/valyala/fasthttp"
)

// Authentication error codes not owned by casign or jwtauth.
const (
	CodeMissingCredentials   = "MissingCredentials"
	CodeInvalidAPIKey        = "InvalidApiKey"
	CodeConsumerNotAllowed   = "ConsumerNotAllowed"
	CodeConsumerIPNotAllowed = "ConsumerIpNotAllowed"
)

// Auth outcomes for the access log.
const (
	authNone      = ""
	authAnonymous = "anonymous"
	authKey       = "key"
	authHMAC      = "hmac"
	authJWT       = "jwt"
	authFailed    = "failed"
	authForbidden = "forbidden"
)

// hmacChallenge is the WWW-Authenticate of HMAC 401s. RFC 9110 requires a
// challenge on every 401; Alibaba's gateway sends none, so the scheme name is ours.
const hmacChallenge = `CaSignature realm="sluice", headers="X-Ca-Key X-Ca-Signature X-Ca-Timestamp X-Ca-Nonce"`

// signatureHeaders are the HMAC protocol headers, removed before forwarding
// unless the API forwards credentials.
var signatureHeaders = [...]string{"X-Ca-Key", "X-Ca-Signature", "X-Ca-Signature-Headers",
	"X-Ca-Signature-Method", "X-Ca-Timestamp", "X-Ca-Nonce"}

// authenticate runs the API's modes in order: a mode whose credential is
// absent passes to the next, one whose credential is present decides. It
// answers the request itself on failure and returns false.
func (s *Server) authenticate(ctx *fasthttp.RequestCtx, st *reqState) outcome {
	req := &ctx.Request
	// Identity headers come only from the gateway, never from the client:
	// X-Consumer-Name and every header a consumer's headers table sets.
	if st.seen.has(seenConsumerName) {
		req.Header.Del("X-Consumer-Name")
	}
	for _, name := range st.snap.ConsumerHeaderNames {
		req.Header.DelBytes(name)
	}
	a := st.api.Auth
	if a == nil {
		st.authOutcome = authAnonymous
		return proceed
	}
	for _, m := range a.Modes {
		switch m {
		case policy.ModeAnonymous:
			st.authOutcome = authAnonymous
			return proceed
		case policy.ModeKey:
			key := req.Header.Peek(a.KeyHeader)
			fromQuery := false
			if len(key) == 0 && a.KeyQuery != "" {
				key, fromQuery = ctx.QueryArgs().Peek(a.KeyQuery), true
			}
			if len(key) == 0 {
				continue
			}
			c := st.snap.LookupAPIKey(key)
			if c == nil {
				return s.authFail(ctx, st, fasthttp.StatusUnauthorized, CodeInvalidAPIKey, "the API key is not valid", "ApiKey")
			}
			if !a.ForwardCredentials {
				req.Header.Del(a.KeyHeader)
				if fromQuery {
					// Write the query back as a string: later steps (parameter
					// defaults) start from the raw query, which must no longer
					// hold the key.
					args := ctx.QueryArgs()
					args.Del(a.KeyQuery)
					ctx.URI().SetQueryStringBytes(args.QueryString())
				}
			}
			st.consumer, st.consumerName, st.authOutcome = c, st.setName(c.Name), authKey
			return s.authorize(ctx, st)
		case policy.ModeHMAC:
			if len(req.Header.Peek("X-Ca-Key")) == 0 {
				continue
			}
			r := casign.AcquireRequest()
			cred, err := a.HMAC.VerifyFastHTTP(r, req, s.clock.Nanotime())
			if err != nil {
				// A type assertion, not errors.As: As moves its target to
				// the heap, one allocation per rejected request.
				ce, ok := err.(*casign.Error)
				if !ok {
					casign.ReleaseRequest(r)
					return s.authFail(ctx, st, fasthttp.StatusUnauthorized, "InvalidSignature", err.Error(), hmacChallenge)
				}
				s.authFail(ctx, st, ce.Status(), ce.Code(), ce.Reason(), hmacChallenge)
				if a.DebugSignature && err == casign.ErrBadSignature {
					b := append(st.tbuf[:0], casign.ErrorMessagePrefix...)
					b = append(b, '`')
					b = casign.AppendDebugStringToSign(b, &r.Input)
					b = append(b, '`')
					st.tbuf = b
					ctx.Response.Header.SetBytesV("X-Ca-Error-Message", b)
				}
				casign.ReleaseRequest(r)
				return answered
			}
			casign.ReleaseRequest(r)
			c, _ := cred.Owner.(*policy.Consumer)
			if c == nil {
				panic("BUG: HMAC credential without a compiled consumer")
			}
			if !a.ForwardCredentials {
				for _, h := range signatureHeaders {
					req.Header.Del(h)
				}
			}
			st.consumer, st.consumerName, st.authOutcome = c, st.setName(c.Name), authHMAC
			return s.authorize(ctx, st)
		case policy.ModeJWT:
			src := a.JWT.Source()
			tok := jwtauth.Extract(req, src)
			if len(tok) == 0 {
				continue
			}
			vd, err := a.JWT.Verify(s.clock.Nanotime()/int64(time.Second), tok)
			if err != nil {
				je, ok := err.(*jwtauth.Error)
				if !ok {
					return s.authFail(ctx, st, fasthttp.StatusUnauthorized, "InvalidToken", err.Error(), "")
				}
				s.authFail(ctx, st, je.Status(), je.Code(), je.Reason(), "")
				if je.Status() == fasthttp.StatusUnauthorized || je.Status() == fasthttp.StatusForbidden {
					st.tbuf = a.JWT.AppendWWWAuthenticate(st.tbuf[:0], err)
					ctx.Response.Header.SetBytesV(fasthttp.HeaderWWWAuthenticate, st.tbuf)
				}
				return answered
			}
			st.verified = vd
			if a.JWTConsumerClaim >= 0 {
				st.consumerName = st.setNameBytes(vd.Claim(a.JWTConsumerClaim))
			}
			a.JWT.ApplyForwards(&req.Header, vd)
			if !a.ForwardCredentials {
				switch src.Kind {
				case jwtauth.SourceBearer:
					req.Header.Del(fasthttp.HeaderAuthorization)
				case jwtauth.SourceHeader:
					req.Header.Del(src.Name)
				case jwtauth.SourceCookie:
					req.Header.DelCookie(src.Name)
				}
			}
			st.authOutcome = authJWT
			return s.authorize(ctx, st)
		case policy.ModeMTLS:
			if o, ok := s.authMTLS(ctx, st); ok { // proxy/tls.go
				return o
			}
		}
	}
	// No mode found its credential.
	challenge := ""
	switch a.Modes[0] {
	case policy.ModeJWT:
		st.tbuf = a.JWT.AppendWWWAuthenticate(st.tbuf[:0], jwtauth.ErrTokenMissing)
		challenge = b2s(st.tbuf)
	case policy.ModeKey:
		challenge = "ApiKey"
	case policy.ModeHMAC:
		challenge = hmacChallenge
	}
	return s.authFail(ctx, st, fasthttp.StatusUnauthorized, CodeMissingCredentials, "credentials are required", challenge)
}

// authorize applies the consumer's CIDRs and the API's allowed consumers
// (403), then sends the consumer's identity headers upstream.
func (s *Server) authorize(ctx *fasthttp.RequestCtx, st *reqState) outcome {
	a := st.api.Auth
	if c := st.consumer; c != nil && c.CIDRs != nil && !c.CIDRs.Contains(st.client) {
		st.authOutcome = authForbidden
		st.api.Stats.AuthFailure(CodeConsumerIPNotAllowed)
		s.finish(ctx, st, fasthttp.StatusForbidden, CodeConsumerIPNotAllowed, "this consumer may not call from this address")
		return answered
	}
	if !a.Allows(st.consumerName) {
		st.authOutcome = authForbidden
		st.api.Stats.AuthFailure(CodeConsumerNotAllowed)
		s.finish(ctx, st, fasthttp.StatusForbidden, CodeConsumerNotAllowed, "this consumer may not call this API")
		return answered
	}
	h := &ctx.Request.Header
	if c := st.consumer; c != nil {
		if len(c.Headers) > 0 {
			st.seen = seenAll // operator-named headers: the census no longer covers them
		}
		for _, kv := range c.Headers {
			h.SetBytesKV(kv[0], kv[1])
		}
	} else if len(st.consumerName) > 0 {
		h.SetBytesV("X-Consumer-Name", sanitizeHeaderValue(st.consumerName))
	}
	return proceed
}

func (s *Server) authFail(ctx *fasthttp.RequestCtx, st *reqState, status int, code, msg, challenge string) outcome {
	st.authOutcome = authFailed
	st.api.Stats.AuthFailure(code)
	s.finish(ctx, st, status, code, msg)
	if challenge != "" && status == fasthttp.StatusUnauthorized {
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, challenge)
	}
	return answered
}

// sanitizeHeaderValue replaces bytes a header value must not carry, in place.
func sanitizeHeaderValue(b []byte) []byte {
	for i, c := range b {
		if c == '\r' || c == '\n' || c == 0 {
			b[i] = ' '
		}
	}
	return b
}
