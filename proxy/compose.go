package proxy

import (
	"errors"
	"github.com/sluicegw/sluice/policy/jsonscan"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	json "github.com/goccy/go-json"
	"github.com/sluicegw/sluice/policy"
	"github.com/valyala/fasthttp"
)

// Composite APIs (issue 14, build 4): a backend whose terminal is a list of
// calls. forward hands such an API's request to compose, which renders each
// call's URI, runs the calls in parallel (at most Composite.Parallel at once)
// through the chains of the backends they name, and answers with one JSON
// object merged from their answers.
//
// The fan-out allocates per request (a goroutine per worker, a map for the
// merge, the merged body): it is a terminal an API opts into, like a
// tunnel, and its cost is quoted in BENCHMARKS.md. Every other API keeps the
// zero-allocation path.

// CodeCompositeCallFailed is the error code of a composite API whose
// required call failed; the message names the call.
const CodeCompositeCallFailed = "CompositeCallFailed"

// headerPartial lists the optional calls that failed, comma-separated.
const headerPartial = "X-Sluice-Partial-Failures"

var (
	composeOK       = metrics.NewCounter(`sluice_composite_calls_total{outcome="ok"}`)
	composeError    = metrics.NewCounter(`sluice_composite_calls_total{outcome="error"}`)
	composeStatus   = metrics.NewCounter(`sluice_composite_calls_total{outcome="status"}`)
	composeTimeout  = metrics.NewCounter(`sluice_composite_calls_total{outcome="timeout"}`)
	composeTooLarge = metrics.NewCounter(`sluice_composite_calls_total{outcome="too_large"}`)
	composeNotJSON  = metrics.NewCounter(`sluice_composite_calls_total{outcome="not_json"}`)
)

// Why a call failed; the text goes into the 502's message.
var (
	errCallTimeout   = errors.New("timed out")
	errCallTooLarge  = errors.New("answer is over the call's max_size")
	errCallNotJSON   = errors.New("answer is not JSON")
	errCallNotNeeded = errors.New("not waited for: a required call failed")
	errCallConnect   = errors.New("no upstream target accepted the connection")
	errCallReset     = errors.New("the upstream closed or reset the connection")
	errCallNotObj    = errors.New("answer is not a JSON object (a call without key merges into the top level)")
)

type errCallStatus struct{ status int }

func (e errCallStatus) Error() string {
	return "answered status " + string(fasthttp.AppendUint(nil, e.status))
}

// Slot states: the coordinator abandons a call still pending at the
// deadline; whoever moves a slot out of pending owns what happens next.
const (
	slotPending int32 = iota
	slotDone
	slotAbandoned
)

// callSlot is one call's input and result. The worker writes body, obj and
// err, then closes ready (calls that depend on this one read them after
// that), then moves state to slotDone and sends the index on fanout.done
// (the coordinator reads them after that). The coordinator never writes
// them: a slot it abandons gets abandonErr instead.
type callSlot struct {
	state      atomic.Int32
	ready      chan struct{}
	uri        []byte                     // rendered; holes where parts come from earlier answers
	holes      []int                      // per ComposeCall.Deps: its offset in uri
	body       []byte                     // keyed calls: the JSON answer
	obj        map[string]json.RawMessage // top-level calls: the answer's fields
	err        error
	abandonErr error
}

// result is the slot's outcome, as the coordinator sees it.
func (sl *callSlot) result() ([]byte, map[string]json.RawMessage, error) {
	if sl.abandonErr != nil {
		return nil, nil, sl.abandonErr
	}
	return sl.body, sl.obj, sl.err
}

// fanout is one request's calls. It is allocated per request and not
// pooled: a worker still running a call abandoned at the deadline may touch
// it after the handler returned.
type fanout struct {
	comp     *policy.Composite
	header   fasthttp.RequestHeader // the prepared client headers every call starts from
	host     []byte
	deadline time.Time
	slots    []callSlot
	next     atomic.Int32
	done     chan int
}

// compose is forward's terminal for a composite API.
func (s *Server) compose(ctx *fasthttp.RequestCtx, st *reqState) outcome {
	comp := st.api.Composite
	s.prepareUpstreamRequest(ctx, st) // forwarding headers, as every call's starting point
	f := &fanout{comp: comp, deadline: time.Now().Add(st.api.Timeout), slots: make([]callSlot, len(comp.Calls)),
		done: make(chan int, len(comp.Calls)), host: append([]byte(nil), st.host...)}
	ctx.Request.Header.CopyTo(&f.header)
	f.header.ResetConnectionClose()
	f.header.Del(fasthttp.HeaderContentLength)
	f.header.Del(fasthttp.HeaderContentType)
	f.header.Del(fasthttp.HeaderTransferEncoding)
	for i := range comp.Calls {
		sl := &f.slots[i]
		sl.uri, sl.holes = appendCallURI(nil, nil, ctx, st, &comp.Calls[i])
		sl.ready = make(chan struct{})
	}
	workers := min(comp.Parallel, len(comp.Calls))
	for w := 0; w < workers; w++ {
		go f.work()
	}
	if i := f.wait(); i >= 0 {
		_, _, err := f.slots[i].result()
		s.finish(ctx, st, fasthttp.StatusBadGateway, CodeCompositeCallFailed,
			"composite call "+quoteName(comp.Calls[i].Name)+" failed: "+err.Error())
		return answered
	}

	merged := make(map[string]json.RawMessage, len(comp.Calls))
	var partial []byte
	for i := range comp.Calls {
		call := &comp.Calls[i]
		body, obj, err := f.slots[i].result()
		if err != nil {
			if call.Required {
				s.finish(ctx, st, fasthttp.StatusBadGateway, CodeCompositeCallFailed,
					"composite call "+quoteName(call.Name)+" failed: "+err.Error())
				return answered
			}
			if len(partial) > 0 {
				partial = append(partial, ',')
			}
			partial = append(partial, call.Name...)
			if call.Key != "" {
				merged[call.Key] = jsonNull
			}
			continue
		}
		if call.Key != "" {
			merged[call.Key] = body
			continue
		}
		for k, v := range obj {
			merged[k] = v
		}
	}
	// Sorted keys (a stable answer for caches and diffs); the calls' bytes
	// are compacted, not HTML-escaped: the gateway does not rewrite "&".
	out, err := json.MarshalWithOption(merged, json.DisableHTMLEscape())
	if err != nil {
		s.finish(ctx, st, fasthttp.StatusBadGateway, CodeCompositeCallFailed, "composite answers could not be merged")
		return answered
	}
	resp := &ctx.Response
	resp.SetStatusCode(fasthttp.StatusOK)
	resp.Header.SetContentType("application/json")
	if len(partial) > 0 {
		resp.Header.SetBytesV(headerPartial, partial)
	}
	resp.SetBodyRaw(out)
	st.forwarded = true // the response phase (response transforms) applies as to any answer
	return answered
}

var jsonNull = json.RawMessage("null")

func quoteName(n string) string { return `"` + n + `"` }

// wait returns once every call finished, a required call failed (the
// others are not waited for: the answer is a 502 whatever they bring), or
// the API's deadline passed; calls still running then are abandoned, and
// count as timed out only at the deadline. It returns the index of the
// required call that failed, or -1. A slot's result fields are read only
// after its index came through f.done (written by the worker before it
// sent), or after the coordinator abandoned it (no worker writes it then):
// no field is ever touched by both sides.
func (f *fanout) wait() int {
	n := len(f.slots)
	timer := time.NewTimer(time.Until(f.deadline))
	defer timer.Stop()
	failed := -1
	abandonErr := errCallTimeout
	got := 0
	for got < n {
		select {
		case i := <-f.done:
			got++
			if _, _, err := f.slots[i].result(); err == nil || !f.comp.Calls[i].Required {
				continue
			}
			failed, abandonErr = i, errCallNotNeeded
		case <-timer.C:
		}
		for i := range f.slots {
			sl := &f.slots[i]
			if sl.state.CompareAndSwap(slotPending, slotAbandoned) {
				sl.abandonErr = abandonErr
				if abandonErr == errCallTimeout {
					composeTimeout.Inc()
				}
				got++
			}
		}
		// The rest won their race with the coordinator and are a few
		// stores from sending: the channel is buffered, so they never block.
		for ; got < n; got++ {
			<-f.done
		}
	}
	return failed
}

// work runs calls until none is left.
func (f *fanout) work() {
	for {
		i := int(f.next.Add(1)) - 1
		if i >= len(f.slots) {
			return
		}
		sl := &f.slots[i]
		var err error
		uri := sl.uri
		if len(sl.holes) > 0 {
			uri, err = f.fillHoles(i)
		}
		if err == nil {
			sl.body, sl.obj, sl.err = f.call(i, uri)
		} else {
			sl.err = err
		}
		close(sl.ready)
		if sl.state.CompareAndSwap(slotPending, slotDone) {
			f.done <- i
		}
	}
}

// errCallDep says a call could not be made for want of an earlier answer.
type errCallDep struct{ msg string }

func (e errCallDep) Error() string { return e.msg }

// fillHoles waits for the calls call i depends on and puts the fields of
// their answers into its URI, escaped for where they stand.
func (f *fanout) fillHoles(i int) ([]byte, error) {
	c := &f.comp.Calls[i]
	sl := &f.slots[i]
	timer := time.NewTimer(time.Until(f.deadline))
	defer timer.Stop()
	uri := make([]byte, 0, len(sl.uri)+64)
	from := 0
	for k, d := range c.Deps {
		dep := &f.slots[d.Call]
		name := f.comp.Calls[d.Call].Name
		select {
		case <-dep.ready:
		case <-timer.C:
			return nil, errCallTimeout
		}
		if dep.err != nil {
			return nil, errCallDep{"depends on call " + quoteName(name) + ", which failed"}
		}
		v, ok := answerField(dep.body, dep.obj, d.Field)
		if !ok {
			return nil, errCallDep{"call " + quoteName(name) + "'s answer has no string, number or boolean at " +
				quoteName(strings.Join(d.Field, "."))}
		}
		uri = append(uri, sl.uri[from:sl.holes[k]]...)
		uri = policy.AppendEscaped(uri, v, c.InQuery[d.Part])
		from = sl.holes[k]
	}
	return append(uri, sl.uri[from:]...), nil
}

// answerField finds a scalar at a dotted path of a JSON answer (raw, or
// already split into top-level fields) and returns it as text: a string
// unquoted, a number or boolean as written.
func answerField(body []byte, obj map[string]json.RawMessage, path []string) ([]byte, bool) {
	for _, name := range path {
		if obj == nil {
			if err := json.Unmarshal(body, &obj); err != nil {
				return nil, false
			}
		}
		v, ok := obj[name]
		if !ok {
			return nil, false
		}
		body, obj = v, nil
	}
	switch {
	case len(body) == 0:
		return nil, false
	case body[0] == '"':
		var s string
		if json.Unmarshal(body, &s) != nil {
			return nil, false
		}
		return []byte(s), true
	case body[0] == '{' || body[0] == '[' || string(body) == "null":
		return nil, false
	}
	return body, true
}

// call makes one call through its backend's chain, with pooled request and
// response objects, and returns its JSON answer.
func (f *fanout) call(i int, uri []byte) (json.RawMessage, map[string]json.RawMessage, error) {
	c := &f.comp.Calls[i]
	deadline := f.deadline
	if c.Timeout > 0 {
		if d := time.Now().Add(c.Timeout); d.Before(deadline) {
			deadline = d
		}
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	f.header.CopyTo(&req.Header)
	req.Header.SetMethodBytes(c.Method)
	req.SetRequestURIBytes(uri)
	req.Header.SetHostBytes(f.host) // the chain sets the target's unless the backend passes the client's
	x := policy.Exchange{Req: req, Resp: resp, Deadline: deadline, Replayable: true, Target: -1}
	err := c.Backend.Upstream.Do(&x)
	if err != nil {
		if errors.Is(err, fasthttp.ErrTimeout) || isTimeout(err) {
			composeTimeout.Inc()
			return nil, nil, errCallTimeout
		}
		composeError.Inc()
		// The client learns what failed, never the upstream's address.
		if isDialError(err) {
			return nil, nil, errCallConnect
		}
		return nil, nil, errCallReset
	}
	if st := resp.StatusCode(); st < 200 || st > 299 {
		_ = resp.CloseBodyStream()
		composeStatus.Inc()
		return nil, nil, errCallStatus{st}
	}
	body, err := boundedBody(resp, c.MaxSize, deadline)
	if err != nil {
		switch err {
		case errCallTooLarge:
			composeTooLarge.Inc()
		case errCallTimeout:
			composeTimeout.Inc()
		default:
			composeError.Inc()
			err = errCallReset
		}
		return nil, nil, err
	}
	if c.Key != "" {
		if !jsonscan.Valid(body, jsonscan.Rules{}) {
			composeNotJSON.Inc()
			return nil, nil, errCallNotJSON
		}
		composeOK.Inc()
		return body, nil, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		composeNotJSON.Inc()
		if jsonscan.Valid(body, jsonscan.Rules{}) {
			return nil, nil, errCallNotObj
		}
		return nil, nil, errCallNotJSON
	}
	composeOK.Inc()
	return nil, obj, nil
}

// boundedBody copies the answer's body, refusing one over max: a streamed
// answer (over the stream threshold, or chunked) is read at most max+1
// bytes and its connection closed, never read to the end.
func boundedBody(resp *fasthttp.Response, max int, deadline time.Time) ([]byte, error) {
	if !resp.IsBodyStream() {
		b := resp.Body()
		if len(b) > max {
			return nil, errCallTooLarge
		}
		return append([]byte(nil), b...), nil
	}
	defer resp.CloseBodyStream()
	if cl := resp.Header.ContentLength(); cl > max {
		return nil, errCallTooLarge
	}
	r := io.LimitReader(resp.BodyStream(), int64(max)+1)
	var buf []byte
	var chunk [16 << 10]byte
	for len(buf) <= max {
		if !time.Now().Before(deadline) {
			return nil, errCallTimeout
		}
		n, err := r.Read(chunk[:])
		buf = append(buf, chunk[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, fasthttp.ErrTimeout) || isTimeout(err) {
				return nil, errCallTimeout // the body stalled until the deadline
			}
			return nil, err
		}
	}
	if len(buf) > max {
		return nil, errCallTooLarge
	}
	return buf, nil
}

// appendCallURI renders a call's path template. Values from the request are
// escaped for where they stand, so a client's value cannot add a segment, a
// query parameter or a fragment.
func appendCallURI(dst []byte, holes []int, ctx *fasthttp.RequestCtx, st *reqState, c *policy.ComposeCall) ([]byte, []int) {
	for i := range c.Path {
		p := &c.Path[i]
		var v []byte
		switch p.Kind {
		case policy.SrcLiteral:
			dst = append(dst, p.Lit...)
			continue
		case policy.SrcCall:
			holes = append(holes, len(dst)) // filled by the worker once the earlier answer is in
			continue
		case policy.SrcPath:
			v = st.params.Value(p.Index, st.path)
		case policy.SrcQuery:
			v = ctx.URI().QueryArgs().PeekBytes(p.Name)
		case policy.SrcHeader:
			v = ctx.Request.Header.PeekBytes(p.Name)
		case policy.SrcConsumer:
			v = st.consumerName
		case policy.SrcClaim:
			if st.verified != nil {
				v = st.verified.Claim(p.Index)
			}
		case policy.SrcClientIP:
			v = st.client.AppendTo(st.tbuf[:0])
		case policy.SrcRequestID:
			v = st.requestID()
		}
		dst = policy.AppendEscaped(dst, v, c.InQuery[i])
	}
	return dst, holes
}
