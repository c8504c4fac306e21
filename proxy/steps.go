package proxy

import (
	"errors"

	"github.com/sluicegw/sluice/policy"
	"github.com/sluicegw/sluice/policy/params"
	"github.com/valyala/fasthttp"
)

// Codes of the request steps.
const (
	CodeIPDenied         = "IpDenied"
	CodeInvalidParameter = "InvalidParameter"
)

// ipAccess is step 1: the group's and the API's lists, deny wins.
func (s *Server) ipAccess(ctx *fasthttp.RequestCtx, st *reqState) outcome {
	for _, acl := range st.api.ACLs {
		if !acl.Allowed(st.client) {
			s.finish(ctx, st, fasthttp.StatusForbidden, CodeIPDenied, "client address not allowed")
			return answered
		}
	}
	return proceed
}

// preflight is step 2: a CORS preflight is answered here with 204 and never
// reaches authentication or the backend.
func (s *Server) preflight(ctx *fasthttp.RequestCtx, st *reqState) outcome {
	p := st.api.CORS
	if p == nil || !p.IsPreflight(&ctx.Request) {
		return proceed
	}
	ctx.Response.Reset()
	p.Preflight(&ctx.Request, &ctx.Response)
	ctx.Response.SetStatusCode(fasthttp.StatusNoContent)
	st.preflighted = true
	return answered
}

// PathParam implements params.PathParams over the matched route.
func (st *reqState) PathParam(i int) []byte { return st.params.Value(i, st.path) }

// validate is step 5.
func (s *Server) validate(ctx *fasthttp.RequestCtx, st *reqState) outcome {
	v := st.api.Params
	if v == nil {
		return proceed
	}
	err := v.Validate(&ctx.Request, st)
	if err == nil {
		return proceed
	}
	var pe *params.Error
	if errors.As(err, &pe) {
		s.finish(ctx, st, pe.Status, pe.Code, pe.Error())
	} else {
		s.finish(ctx, st, fasthttp.StatusBadRequest, CodeInvalidParameter, err.Error())
	}
	if pe != nil && pe.Status == fasthttp.StatusRequestEntityTooLarge {
		ctx.SetConnectionClose()
	}
	return answered
}

// transformRequest is step 6.
func (s *Server) transformRequest(ctx *fasthttp.RequestCtx, st *reqState) outcome {
	t := st.api.Transform
	if t == nil {
		return proceed
	}
	h := &ctx.Request.Header
	if ops := &t.RequestHeaders; !ops.Empty() {
		st.seen = seenAll // operator-named headers: the census no longer covers them
		for _, n := range ops.Remove {
			h.DelBytes(n)
		}
		for _, op := range ops.Rename {
			if v := h.PeekBytes(op.Name); v != nil {
				st.tbuf = append(st.tbuf[:0], v...)
				h.DelBytes(op.Name)
				h.SetBytesKV(op.To, st.tbuf)
			}
		}
		for _, op := range ops.Set {
			h.SetBytesKV(op.Name, s.render(ctx, st, op.Value, true))
		}
		for _, op := range ops.Add {
			h.AddBytesKV(op.Name, s.render(ctx, st, op.Value, true))
		}
	}
	if ops := &t.Query; !ops.Empty() {
		args := ctx.URI().QueryArgs()
		for _, n := range ops.Remove {
			args.DelBytes(n)
		}
		for _, op := range ops.Rename {
			if v := args.PeekBytes(op.Name); v != nil {
				st.tbuf = append(st.tbuf[:0], v...)
				args.DelBytes(op.Name)
				args.SetBytesKV(op.To, st.tbuf)
			}
		}
		for _, op := range ops.Set {
			args.SetBytesKV(op.Name, s.render(ctx, st, op.Value, false))
		}
		for _, op := range ops.Add {
			args.AddBytesKV(op.Name, s.render(ctx, st, op.Value, false))
		}
		st.queryModified = true
	}
	if t.RequestBody != nil {
		s.transformRequestBody(ctx, t.RequestBody)
	}
	return proceed
}

// transformResponse runs first on the way back.
func (s *Server) transformResponse(ctx *fasthttp.RequestCtx, st *reqState) {
	t := st.api.Transform
	if t == nil {
		return
	}
	if t.ResponseBody != nil {
		s.transformResponseBody(ctx, t.ResponseBody)
	}
	if t.ResponseHeaders.Empty() {
		return
	}
	h := &ctx.Response.Header
	ops := &t.ResponseHeaders
	for _, n := range ops.Remove {
		h.DelBytes(n)
	}
	for _, op := range ops.Set {
		h.SetBytesKV(op.Name, s.render(ctx, st, op.Value, true))
	}
	for _, op := range ops.Add {
		h.AddBytesKV(op.Name, s.render(ctx, st, op.Value, true))
	}
}

// render expands a compiled template into st.rbuf. Header values have CR,
// LF and NUL replaced: a decoded query value must not split a header.
func (s *Server) render(ctx *fasthttp.RequestCtx, st *reqState, tpl policy.Template, header bool) []byte {
	b := st.rbuf[:0]
	for i := range tpl {
		p := &tpl[i]
		switch p.Kind {
		case policy.SrcLiteral:
			b = append(b, p.Lit...)
		case policy.SrcPath:
			b = append(b, st.params.Value(p.Index, st.path)...)
		case policy.SrcQuery:
			b = append(b, ctx.URI().QueryArgs().PeekBytes(p.Name)...)
		case policy.SrcHeader:
			b = append(b, ctx.Request.Header.PeekBytes(p.Name)...)
		case policy.SrcConsumer:
			b = append(b, st.consumerName...)
		case policy.SrcClaim:
			if st.verified != nil {
				b = append(b, st.verified.Claim(p.Index)...)
			}
		case policy.SrcClientIP:
			b = st.client.AppendTo(b)
		case policy.SrcRequestID:
			b = append(b, st.requestID()...)
		}
	}
	if header {
		b = sanitizeHeaderValue(b)
	}
	st.rbuf = b
	return b
}
