package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// LoadMode selects how requests are paced.
type LoadMode int

const (
	// ClosedLoop keeps Connections requests in flight, each sent as soon as the
	// previous one on its worker completes: it measures maximum throughput.
	ClosedLoop LoadMode = iota
	// OpenLoop sends at a constant arrival rate regardless of how fast the
	// target answers, and measures each latency from the request's intended
	// send time, so a stalled target is charged for the requests it delayed
	// (no coordinated omission). A request that cannot be sent within
	// Timeout of its intended time is not sent: it counts as error "unsent"
	// with its wait so far as latency, which also bounds how long an
	// overloaded run drains after Duration. The open loop runs on its own
	// HTTP/1.1 client (rawclient_openloop.go): one pacer sends the requests
	// due in each short tick, pre-serialised, on keep-alive connections
	// (at most Connections), so the generator is not what limits the rate.
	OpenLoop
)

func (m LoadMode) String() string {
	if m == OpenLoop {
		return "open"
	}
	return "closed"
}

// Hard limits that bound every run whatever the caller asks for.
const (
	maxRunDuration    = 10 * time.Minute
	maxConnections    = 20000
	maxOpenLoopRate   = 5_000_000
	defaultTimeout    = 5 * time.Second
	defaultClosedConn = 64
	defaultOpenConn   = 256
)

// loadUserAgent is the User-Agent of every generated request that sets none.
const loadUserAgent = "sluice-bench"

// Header is one request header set on every request.
type Header struct {
	Name, Value string
}

// LoadConfig describes one load run. The zero value is not usable: Addr and
// Duration are required, and OpenLoop needs Rate.
type LoadConfig struct {
	// Addr is the loopback "host:port" to connect to (required).
	Addr string
	// Host is the Host header (default Addr).
	Host string
	// Method is the request method (default GET).
	Method string
	// Paths are request URIs, cycled request by request (default "/").
	Paths []string
	// Body is sent with every request; shared read-only by all workers.
	Body []byte
	// Headers are set on every request before signing.
	Headers []Header
	// Mode is ClosedLoop or OpenLoop (default ClosedLoop).
	Mode LoadMode
	// Gate, in closed loop, makes each worker wait before every request
	// until the gate is open (nil: never wait). A request's latency starts
	// after the wait.
	Gate *Gate
	// Connections is the number of workers and the connection cap: the
	// concurrency in closed loop, the most requests in flight in open loop
	// (default 64 closed, 256 open).
	Connections int
	// Rate is the open-loop arrival rate in requests per second.
	Rate float64
	// Duration is the measured phase (required, at most 10 minutes).
	Duration time.Duration
	// Warmup runs the same load before the measured phase, unrecorded (default 0).
	Warmup time.Duration
	// MaxRequests caps requests over warmup and measured phase together
	// (default: unlimited in closed loop, the schedule's length in open loop).
	MaxRequests uint64
	// Timeout bounds each request (default 5s).
	Timeout time.Duration
	// ExpectStatus is the status counted as success; others count as errors (default 200).
	ExpectStatus int
	// ExpectBodyBytes, when > 0, is the response body length counted as
	// success; a different length counts as error kind "body".
	ExpectBodyBytes int
	// Sign, when set, is called on every request just before it is sent.
	Sign Signer
	// Requests, when set, is a mix of whole requests: request seq is
	// Requests[seq % len(Requests)] (its Method, URI, Headers and Body
	// replace Method, Paths, Headers and Body), so a weighted traffic mix is
	// a list in which each kind appears in proportion to its share. Shared
	// read-only by all workers.
	Requests []RequestSpec
}

// RequestSpec is one request of a mix (LoadConfig.Requests).
type RequestSpec struct {
	Method string
	// URI is the request URI; it must start with /.
	URI     string
	Headers []Header
	Body    []byte
	// ExpectStatus is the status counted as success (0: LoadConfig.ExpectStatus;
	// -1: any status, only transport errors count).
	ExpectStatus int
}

// LoadResult holds the figures of one run's measured phase.
type LoadResult struct {
	Mode        string  `json:"mode"`
	OfferedRate float64 `json:"offered_rps,omitempty"`
	// Sent counts requests whose send was attempted in the measured phase.
	Sent uint64 `json:"sent"`
	// Completed counts responses received, whatever their status.
	Completed uint64 `json:"completed"`
	// Errors counts transport errors plus responses with an unexpected status or body.
	Errors uint64 `json:"errors"`
	// Elapsed runs from the start of the measured phase to its last response.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Throughput is Completed / Elapsed, in responses per second.
	Throughput float64 `json:"throughput_rps"`
	// SendRate is the achieved send rate over the span of actual sends; in
	// open loop it falls short of OfferedRate when the generator or the
	// connection cap cannot keep the schedule.
	SendRate float64 `json:"send_rps"`
	// MaxSendLag is the largest delay between a request's intended and actual
	// send time (open loop; in closed loop always zero).
	MaxSendLag time.Duration `json:"max_send_lag_ns"`
	// SendLagP99 is the 99th percentile of that delay over the requests
	// sent (open loop; µs resolution): unlike the maximum, one stall of a
	// shared machine does not move it.
	SendLagP99 time.Duration `json:"send_lag_p99_ns,omitempty"`
	// Latency is measured from the intended send time (open loop) or the
	// actual send time (closed loop) to the end of the response.
	Latency LatencySummary `json:"latency"`
	// Status counts responses per status code.
	Status map[string]uint64 `json:"status"`
	// ErrorKinds counts errors by kind: timeout, refused, reset, closed,
	// sign, status, body, unsent (open loop: the request could not even be
	// sent within Timeout of its intended time, because every connection was
	// busy), other.
	ErrorKinds map[string]uint64 `json:"error_kinds,omitempty"`
}

// ErrorRate is Errors / Sent, or 0 when nothing was sent.
func (r *LoadResult) ErrorRate() float64 {
	if r.Sent == 0 {
		return 0
	}
	return float64(r.Errors) / float64(r.Sent)
}

// Error kinds, indexes into workerStats.errs.
const (
	errKindTimeout = iota
	errKindRefused
	errKindReset
	errKindClosed
	errKindSign
	errKindStatus
	errKindBody
	errKindUnsent
	errKindOther
	numErrKinds
)

var errKindNames = [numErrKinds]string{"timeout", "refused", "reset", "closed", "sign", "status", "body", "unsent", "other"}

// classifyError maps a client error to an error kind without allocating.
func classifyError(err error) int {
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.Is(err, fasthttp.ErrNoFreeConns), errors.Is(err, context.DeadlineExceeded):
		return errKindTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return errKindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return errKindReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, net.ErrClosed):
		return errKindClosed
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errKindTimeout
	}
	return errKindOther
}

// maxStatus bounds the per-status table; codes outside 100..599 count as 0.
const maxStatus = 600

// workerStats is owned by one worker goroutine until the run ends.
type workerStats struct {
	sent, completed, errors uint64
	status                  [maxStatus]uint64
	errs                    [numErrKinds]uint64
	firstSend, lastSend     time.Duration // offsets from the run's base time
	lastDone                time.Duration
	maxLag                  time.Duration
}

// loadRun is the state shared by the workers of one run.
type loadRun struct {
	cfg          LoadConfig
	hc           *fasthttp.HostClient
	hist         *latencyShards
	base         time.Time
	measureStart time.Duration   // offset of the measured phase
	end          time.Duration   // offset after which no request is started
	over         <-chan struct{} // closed at end; set only with a gate
	interval     float64         // open loop: nanoseconds between intended sends
	maxTickets   uint64
	tickets      atomic.Uint64
}

// normalize fills defaults and validates cfg.
func (c *LoadConfig) normalize() error {
	if err := CheckLoopbackAddr(c.Addr); err != nil {
		return err
	}
	if c.Host == "" {
		c.Host = c.Addr
	}
	if c.Method == "" {
		c.Method = fasthttp.MethodGet
	}
	if len(c.Paths) == 0 {
		c.Paths = []string{"/"}
	}
	for i := range c.Requests {
		rs := &c.Requests[i]
		if len(rs.URI) == 0 || rs.URI[0] != '/' {
			return fmt.Errorf("bench: request %d URI %q must start with /", i, rs.URI)
		}
		if rs.Method == "" {
			rs.Method = fasthttp.MethodGet
		}
	}
	for _, p := range c.Paths {
		if len(p) == 0 || p[0] != '/' {
			return fmt.Errorf("bench: request path %q must start with /", p)
		}
	}
	if c.Duration <= 0 || c.Duration > maxRunDuration {
		return fmt.Errorf("bench: duration %v out of range (0, %v]", c.Duration, maxRunDuration)
	}
	if c.Warmup < 0 || c.Warmup+c.Duration > maxRunDuration {
		return fmt.Errorf("bench: warmup %v out of range", c.Warmup)
	}
	if c.Connections == 0 {
		c.Connections = defaultClosedConn
		if c.Mode == OpenLoop {
			c.Connections = defaultOpenConn
		}
	}
	if c.Connections < 1 || c.Connections > maxConnections {
		return fmt.Errorf("bench: connections %d out of range [1, %d]", c.Connections, maxConnections)
	}
	switch c.Mode {
	case ClosedLoop:
	case OpenLoop:
		if !(c.Rate > 0 && c.Rate <= maxOpenLoopRate) {
			return fmt.Errorf("bench: open-loop rate %v out of range (0, %d]", c.Rate, maxOpenLoopRate)
		}
		if c.Gate != nil {
			return fmt.Errorf("bench: a gate holds back a closed loop only; an open loop keeps its schedule")
		}
	default:
		return fmt.Errorf("bench: unknown load mode %d", c.Mode)
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.Timeout < 0 {
		return fmt.Errorf("bench: negative timeout")
	}
	if c.ExpectStatus == 0 {
		c.ExpectStatus = fasthttp.StatusOK
	}
	return nil
}

// RunLoad runs one load test and returns its figures. It returns early, with
// the figures so far, when ctx is cancelled. The run lasts at most about
// Warmup + Duration + 2 x Timeout (open loop: the last stale requests are
// dropped after Timeout, then in-flight ones time out).
func RunLoad(ctx context.Context, cfg LoadConfig) (*LoadResult, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	if cfg.Mode == OpenLoop {
		return runOpenLoop(ctx, cfg)
	}
	r := newLoadRun(cfg)
	defer r.hc.CloseIdleConnections()
	stats := make([]workerStats, cfg.Connections)
	r.base = time.Now() // the schedule starts now, not when the run was built
	if cfg.Gate != nil {
		// A worker waiting at a shut gate must not outlive the run.
		over := make(chan struct{})
		r.over = over
		t := time.AfterFunc(r.end, func() { close(over) })
		defer t.Stop()
	}
	var wg sync.WaitGroup
	for i := range stats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.worker(ctx, i, &stats[i])
		}()
	}
	wg.Wait()
	return r.result(stats), nil
}

// newLoadRun builds the shared state of a run for a normalized cfg.
func newLoadRun(cfg LoadConfig) *loadRun {
	r := &loadRun{
		cfg: cfg,
		hc: &fasthttp.HostClient{
			Addr:                          cfg.Addr,
			Name:                          loadUserAgent,
			MaxConns:                      cfg.Connections,
			MaxConnWaitTimeout:            cfg.Timeout,
			MaxIdleConnDuration:           time.Minute,
			MaxIdemponentCallAttempts:     1,
			ReadTimeout:                   cfg.Timeout,
			WriteTimeout:                  cfg.Timeout,
			DisableHeaderNamesNormalizing: true,
			DisablePathNormalizing:        true,
			RetryIf:                       func(*fasthttp.Request) bool { return false },
		},
		hist: newLatencyShards(min(cfg.Connections, 16)),
	}
	r.maxTickets = cfg.MaxRequests
	if cfg.Mode == OpenLoop {
		r.interval = float64(time.Second) / cfg.Rate
		scheduled := uint64(float64(cfg.Warmup+cfg.Duration)/r.interval) + 1
		if r.maxTickets == 0 || r.maxTickets > scheduled {
			r.maxTickets = scheduled
		}
	}
	if r.maxTickets == 0 {
		r.maxTickets = ^uint64(0)
	}
	r.base = time.Now()
	r.measureStart = cfg.Warmup
	r.end = cfg.Warmup + cfg.Duration
	return r
}

// worker sends requests until the schedule, the request cap, the run's end or
// ctx stops it. Its steady state allocates nothing.
func (r *loadRun) worker(ctx context.Context, id int, st *workerStats) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	r.prepare(req)
	var timer *time.Timer
	if r.cfg.Mode == OpenLoop {
		timer = time.NewTimer(time.Hour)
		timer.Stop()
		defer timer.Stop()
	}
	done := ctx.Done()
	for {
		select {
		case <-done:
			return
		default:
		}
		seq := r.tickets.Add(1) - 1
		if seq >= r.maxTickets {
			return
		}
		var intended time.Duration
		if r.cfg.Mode == OpenLoop {
			intended = time.Duration(float64(seq) * r.interval)
			if intended >= r.end {
				return
			}
			if wait := intended - time.Since(r.base); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-done:
					return
				}
			}
		}
		if r.cfg.Gate != nil && !r.cfg.Gate.Wait(done, r.over) {
			return
		}
		sendAt := time.Since(r.base)
		if r.cfg.Mode == ClosedLoop {
			if sendAt >= r.end {
				return
			}
			intended = sendAt
		}
		r.doOne(id, st, req, resp, seq, intended, sendAt)
	}
}

// prepare sets the fixed parts of a worker's request once.
func (r *loadRun) prepare(req *fasthttp.Request) {
	req.Header.SetMethod(r.cfg.Method)
	req.Header.SetHost(r.cfg.Host)
	req.SetRequestURI(r.cfg.Paths[0])
	for _, h := range r.cfg.Headers {
		req.Header.Set(h.Name, h.Value)
	}
	if len(r.cfg.Body) > 0 {
		req.SetBodyRaw(r.cfg.Body)
	}
}

// prepareSpec turns req into rs, whatever request it held before.
func (r *loadRun) prepareSpec(req *fasthttp.Request, rs *RequestSpec) {
	// Headers of the previous spec are dropped: only Host and the spec's
	// own headers remain. Reset re-enables normalizing, so it is turned off
	// again: names go out as the spec spells them.
	req.Header.Reset()
	req.Header.DisableNormalizing()
	req.Header.SetMethod(rs.Method)
	req.SetRequestURI(rs.URI)
	req.Header.SetHost(r.cfg.Host)
	for _, h := range rs.Headers {
		req.Header.Set(h.Name, h.Value)
	}
	req.SetBodyRaw(rs.Body)
}

// doOne sends request seq and records its outcome in st and the histogram.
func (r *loadRun) doOne(id int, st *workerStats, req *fasthttp.Request, resp *fasthttp.Response, seq uint64, intended, sendAt time.Duration) {
	measured := intended >= r.measureStart
	expect := r.cfg.ExpectStatus
	if n := uint64(len(r.cfg.Requests)); n > 0 {
		rs := &r.cfg.Requests[seq%n]
		r.prepareSpec(req, rs)
		if rs.ExpectStatus != 0 {
			expect = rs.ExpectStatus
		}
	} else if n := uint64(len(r.cfg.Paths)); n > 1 {
		req.SetRequestURI(r.cfg.Paths[seq%n])
	}
	if r.cfg.Mode == OpenLoop && sendAt-intended > r.cfg.Timeout {
		if measured {
			st.sent++
			st.errors++
			st.errs[errKindUnsent]++
			st.maxLag = max(st.maxLag, sendAt-intended)
			r.hist.record(id, sendAt-intended)
		}
		return
	}
	if measured {
		st.sent++
		if st.sent == 1 { // a worker's sends are in time order
			st.firstSend = sendAt
		}
		st.lastSend = max(st.lastSend, sendAt)
		st.maxLag = max(st.maxLag, sendAt-intended)
	}
	if r.cfg.Sign != nil {
		if err := r.cfg.Sign(req, seq); err != nil {
			if measured {
				st.errors++
				st.errs[errKindSign]++
			}
			return
		}
	}
	err := r.hc.Do(req, resp)
	doneAt := time.Since(r.base)
	if !measured {
		return
	}
	st.lastDone = max(st.lastDone, doneAt)
	if err != nil {
		st.errors++
		st.errs[classifyError(err)]++
		return
	}
	st.completed++
	code := resp.StatusCode()
	if code < 100 || code >= maxStatus {
		code = 0
	}
	st.status[code]++
	switch {
	case expect > 0 && code != expect:
		st.errors++
		st.errs[errKindStatus]++
	case r.cfg.ExpectBodyBytes > 0 && len(resp.Body()) != r.cfg.ExpectBodyBytes:
		st.errors++
		st.errs[errKindBody]++
	}
	r.hist.record(id, doneAt-intended)
}

// result folds the workers' stats into one LoadResult.
func (r *loadRun) result(stats []workerStats) *LoadResult {
	res := &LoadResult{
		Mode:       r.cfg.Mode.String(),
		Status:     map[string]uint64{},
		ErrorKinds: map[string]uint64{},
	}
	if r.cfg.Mode == OpenLoop {
		res.OfferedRate = r.cfg.Rate
	}
	var status [maxStatus]uint64
	var firstSend, lastSend, lastDone time.Duration
	firstSend = -1
	for i := range stats {
		st := &stats[i]
		res.Sent += st.sent
		res.Completed += st.completed
		res.Errors += st.errors
		for c, n := range st.status {
			status[c] += n
		}
		for k, n := range st.errs {
			if n > 0 {
				res.ErrorKinds[errKindNames[k]] += n
			}
		}
		if st.sent > 0 {
			if firstSend < 0 || st.firstSend < firstSend {
				firstSend = st.firstSend
			}
			lastSend = max(lastSend, st.lastSend)
		}
		lastDone = max(lastDone, st.lastDone)
		res.MaxSendLag = max(res.MaxSendLag, st.maxLag)
	}
	for c, n := range status {
		if n > 0 {
			res.Status[strconv.Itoa(c)] = n
		}
	}
	if lastDone > r.measureStart {
		res.Elapsed = lastDone - r.measureStart
		res.Throughput = float64(res.Completed) / res.Elapsed.Seconds()
	}
	if res.Sent > 1 && lastSend > firstSend {
		res.SendRate = float64(res.Sent-1) / (lastSend - firstSend).Seconds()
	}
	res.Latency = Summarize(r.hist.merged())
	return res
}

// StatusCodes returns the status codes of res in ascending order, for printing.
func (r *LoadResult) StatusCodes() []string {
	codes := make([]string, 0, len(r.Status))
	for c := range r.Status {
		codes = append(codes, c)
	}
	sort.Slice(codes, func(i, j int) bool {
		a, _ := strconv.Atoi(codes[i])
		b, _ := strconv.Atoi(codes[j])
		return a < b
	})
	return codes
}
