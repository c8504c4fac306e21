package proxy

import (
	"bytes"
	"github.com/sluicegw/sluice/policy/jsonscan"
	"io"

	"github.com/VictoriaMetrics/metrics"
	json "github.com/goccy/go-json"
	"github.com/sluicegw/sluice/policy"
	"github.com/valyala/fasthttp"
)

// JSON body transforms (issue 14, build 5): rename, remove and set fields of
// a JSON request or response body. The body is decoded into Go values,
// edited and encoded again: an API opts into that cost per direction, the
// other APIs pay nothing. Bodies the transform cannot or must not edit pass
// untouched and are counted; the gateway never answers an error for them.

// bodyCounters are one direction's outcomes.
type bodyCounters struct {
	applied, tooLarge, invalid, notJSON *metrics.Counter
}

func newBodyCounters(dir string) bodyCounters {
	n := func(outcome string) *metrics.Counter {
		return metrics.NewCounter(`sluice_body_transforms_total{direction="` + dir + `",outcome="` + outcome + `"}`)
	}
	return bodyCounters{applied: n("applied"), tooLarge: n("too_large"), invalid: n("invalid_json"), notJSON: n("not_json")}
}

var (
	bodyReqCounters  = newBodyCounters("request")
	bodyRespCounters = newBodyCounters("response")
)

// transformRequestBody edits the buffered request body (an API with
// request_body reads its body in bufferBody).
func (s *Server) transformRequestBody(ctx *fasthttp.RequestCtx, bt *policy.BodyTransform) {
	req := &ctx.Request
	if req.Header.ContentLength() == 0 {
		return // nothing to edit: a bodyless request is not counted
	}
	if !jsonContent(req.Header.ContentType(), req.Header.ContentEncoding()) {
		bodyReqCounters.notJSON.Inc()
		return
	}
	if req.Header.ContentLength() > bt.MaxSize {
		bodyReqCounters.tooLarge.Inc()
		return
	}
	body := req.Body() // in memory: bufferBody read it (API.ReadsBody)
	if len(body) == 0 {
		return // nothing to edit: a bodyless request is not counted
	}
	if len(body) > bt.MaxSize {
		bodyReqCounters.tooLarge.Inc()
		return
	}
	out, ok := editJSON(body, bt)
	if !ok {
		bodyReqCounters.invalid.Inc()
		return
	}
	bodyReqCounters.applied.Inc()
	req.SetBodyRaw(out)
}

// transformResponseBody edits the answer's body. A streamed answer of known
// length over the bound is not read; one of unknown length is read up to the
// bound and, when longer, passed on whole: what was read, then the rest.
func (s *Server) transformResponseBody(ctx *fasthttp.RequestCtx, bt *policy.BodyTransform) {
	resp := &ctx.Response
	if !jsonContent(resp.Header.ContentType(), resp.Header.ContentEncoding()) {
		bodyRespCounters.notJSON.Inc()
		return
	}
	var body []byte
	if resp.IsBodyStream() {
		if cl := resp.Header.ContentLength(); cl > bt.MaxSize || cl == -2 {
			// over the bound, or ended by the connection's close: untouched
			bodyRespCounters.tooLarge.Inc()
			return
		}
		bs, ok := resp.BodyStream().(*bodyStream)
		if !ok || bs.src == nil {
			bodyRespCounters.tooLarge.Inc() // a stream of unknown length that is not the pool's: never read here
			return
		}
		head, err := io.ReadAll(io.LimitReader(bs, int64(bt.MaxSize)+1))
		if err != nil || len(head) > bt.MaxSize {
			// Pass on what was read, then the rest. The pool's stream stays
			// in place (its Close returns or discards the upstream
			// connection); the bytes read go out before its source.
			if err != nil {
				bodyRespCounters.tooLarge.Inc()
				return // the stream failed: fasthttp cuts the answer
			}
			bs.done = false
			bs.pre = head
			bodyRespCounters.tooLarge.Inc()
			return
		}
		_ = resp.CloseBodyStream()
		body = head
		resp.SetBodyRaw(head) // from here on the body is in memory
	} else {
		body = resp.Body()
	}
	if len(body) == 0 {
		return
	}
	if len(body) > bt.MaxSize {
		bodyRespCounters.tooLarge.Inc()
		return
	}
	out, ok := editJSON(body, bt)
	if !ok {
		bodyRespCounters.invalid.Inc()
		return
	}
	bodyRespCounters.applied.Inc()
	resp.SetBodyRaw(out)
}

// jsonContent reports a body the transform may edit: JSON or no declared
// type, and no content coding.
func jsonContent(ct, ce []byte) bool {
	if len(ce) > 0 && !bytes.EqualFold(ce, []byte("identity")) {
		return false
	}
	if len(ct) == 0 {
		return true
	}
	return bytes.Contains(bytes.ToLower(ct), []byte("json"))
}

// editJSON applies bt to a JSON object; false when body is not one.
func editJSON(body []byte, bt *policy.BodyTransform) ([]byte, bool) {
	if !jsonscan.Valid(body, jsonscan.Rules{}) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // numbers pass as written: no float64 rounding of ids
	var root map[string]any
	if err := dec.Decode(&root); err != nil || root == nil {
		return nil, false
	}
	for _, p := range bt.Remove {
		if parent := walk(root, p[:len(p)-1], false); parent != nil {
			delete(parent, p[len(p)-1])
		}
	}
	for _, r := range bt.Rename {
		parent := walk(root, r.From[:len(r.From)-1], false)
		if parent == nil {
			continue
		}
		v, ok := parent[r.From[len(r.From)-1]]
		if !ok {
			continue
		}
		delete(parent, r.From[len(r.From)-1])
		if dst := walk(root, r.To[:len(r.To)-1], true); dst != nil {
			dst[r.To[len(r.To)-1]] = v
		}
	}
	for _, sv := range bt.Set {
		if dst := walk(root, sv.Path[:len(sv.Path)-1], true); dst != nil {
			dst[sv.Path[len(sv.Path)-1]] = json.RawMessage(sv.Value)
		}
	}
	out, err := json.MarshalWithOption(root, json.DisableHTMLEscape())
	if err != nil {
		return nil, false
	}
	return out, true
}

// walk follows path through nested objects. With create, missing objects
// are made on the way; a field on the way that is not an object stops the
// walk (nil): an edit never replaces a value it was not aimed at.
func walk(m map[string]any, path []string, create bool) map[string]any {
	for _, name := range path {
		v, ok := m[name]
		if !ok {
			if !create {
				return nil
			}
			next := map[string]any{}
			m[name] = next
			m = next
			continue
		}
		next, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		m = next
	}
	return m
}
