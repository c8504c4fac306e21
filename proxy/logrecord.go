package proxy

import (
	"bytes"
	"time"

	"github.com/sluicegw/sluice/proxy/accesslog"
	"github.com/valyala/fasthttp"
)

// logRecord writes the request's access-log record into the ring. It never
// blocks: a full ring drops the record and counts it.
func (s *Server) logRecord(ctx *fasthttp.RequestCtx, st *reqState, status int, total time.Duration) {
	r := s.accessLog.Reserve(status)
	if r == nil {
		return
	}
	r.Time = st.start
	r.Total = total
	r.Backend = st.backend
	if cl := ctx.Request.Header.ContentLength(); cl > 0 {
		r.BytesIn = int64(cl)
	} else if !ctx.Request.IsBodyStream() {
		r.BytesIn = int64(len(ctx.Request.Body()))
	}
	if !ctx.Response.IsBodyStream() {
		r.BytesOut = int64(len(ctx.Response.Body()))
	} else if cl := ctx.Response.Header.ContentLength(); cl >= 0 {
		r.BytesOut = int64(cl) // a chunked stream's size is not known here
	}
	if api := st.api; api != nil {
		r.Group, r.API, r.Stage = api.Group.Name, api.Name, st.stage.String()
		if t := st.x.Target; t >= 0 && t < len(api.Backend.Targets) {
			r.SetString(accesslog.FieldUpstream, api.Backend.Targets[t].URL)
		}
		r.Attempts = st.x.Attempts
	}
	r.Cache = cacheLogStatus[st.c.out]
	switch st.throttleOutcome {
	case "":
	case "allowed":
		r.Throttle = accesslog.ThrottlePass
	default:
		r.Throttle = accesslog.ThrottleLimited
	}
	switch st.authOutcome {
	case authKey, authHMAC, authJWT:
		r.Auth = accesslog.AuthOK
	case authAnonymous:
		if st.api != nil && st.api.Auth != nil {
			r.Auth = accesslog.AuthAnonymous
		}
	case authFailed:
		r.Auth = accesslog.AuthFailed
	case authForbidden:
		r.Auth = accesslog.AuthForbidden
	}
	r.Set(accesslog.FieldRequestID, st.requestID())
	r.Set(accesslog.FieldTraceID, st.traceID[:])
	r.Set(accesslog.FieldConsumer, st.consumerName)
	client := st.client
	if !client.IsValid() {
		client = peerAddr(ctx)
	}
	r.SetClientAddr(client)
	r.Set(accesslog.FieldMethod, ctx.Method())
	if st.path != nil {
		r.Set(accesslog.FieldHost, st.host)
		r.Set(accesslog.FieldPath, st.path)
	} else {
		r.Set(accesslog.FieldHost, ctx.Host())
		r.Set(accesslog.FieldPath, ctx.Path())
	}
	r.SetString(accesslog.FieldErrorCode, st.errCode)
	if s.accessLog.KeepsQuery() {
		if st.path != nil {
			r.Set(accesslog.FieldQuery, st.query)
		} else { // rejected before routing: the URI is as the client sent it
			r.Set(accesslog.FieldQuery, rawQuery(ctx.Request.Header.RequestURI()))
		}
	}
	r.Set(accesslog.FieldUserAgent, ctx.Request.Header.UserAgent())
	s.accessLog.Commit(r)
}

// rawQuery returns the query string of a request target as the client sent
// it, without the '?' and any fragment (not the upstream's query, which a
// backend_path template may have changed). It slices the request line instead of calling
// ctx.URI(), which would parse (and normalize) the whole URI only for the
// log: that parse was half of the access log's cost on the request path.
func rawQuery(requestURI []byte) []byte {
	if h := bytes.IndexByte(requestURI, '#'); h >= 0 {
		requestURI = requestURI[:h]
	}
	q := bytes.IndexByte(requestURI, '?')
	if q < 0 {
		return nil
	}
	return requestURI[q+1:]
}
