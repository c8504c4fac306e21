package bench

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

// The open loop (issue 16): one pacer goroutine releases, on each wake-up,
// every request whose intended send time has come, and writes each one,
// pre-serialised, on a free keep-alive connection; one reader goroutine per
// connection frames the answer and records it. The generator used to run a
// goroutine per connection, each with its own timer and fasthttp's client:
// at 12 000 req/s on the harness's core it spent its time waking goroutines
// one request at a time and in fasthttp's per-request bookkeeping, so the
// capacity search measured the generator. Batching the sends makes the
// target's and the origin's event loops find several ready connections per
// wake-up too, as in a closed loop.

// openLoopTick is the pacer's shortest sleep: the requests that fall due
// within one tick go out together. It bounds the pacer's wake-ups to 1/tick
// per second, and adds at most a tick (plus the timer's own slack) to a
// request's send lag, which the latency, measured from the intended send
// time, includes.
var openLoopTick = 200 * time.Microsecond

// Slot states. Only the pacer turns a slot busy; only the goroutine that owns
// the slot's connection turns it idle or broken.
const (
	slotBroken int32 = iota // no usable connection: never dialled, failed or closed
	slotIdle                // connected, in the free list
	slotBusy                // a request is in flight
)

// olSlot is one connection of the open loop. The request fields are written
// by the pacer while it holds the slot (popped from the free list) and
// before it turns the slot busy; the slot's reader reads them only after
// seeing it busy, and pushes the slot back when done with them.
type olSlot struct {
	id    int
	state atomic.Int32
	// wkind is 1 + the error kind of a failed write, left for the reader.
	wkind atomic.Int32
	nc    net.Conn // guarded by openLoop.mu when set or closed

	seq      uint64
	intended time.Duration
	sentAt   time.Duration
	expect   int
	head     bool
	measured bool
	out      []byte // the request's bytes
	wbuf     []byte // this slot's own bytes, when a Signer made them per request

	st workerStats // the owning goroutine's counters
}

// olRequest is one pre-serialised request of the run's cycle.
type olRequest struct {
	wire   []byte
	expect int
	head   bool
}

// openLoop is the state of one open-loop run.
type openLoop struct {
	*loadRun
	slots []olSlot
	reqs  []olRequest // nil when a Signer builds each request

	mu      sync.Mutex
	free    []*olSlot // LIFO: the most recently used connection goes first
	closing bool

	freed    chan struct{} // a slot came back (non-blocking sends)
	inflight atomic.Int64
	readers  sync.WaitGroup
	dialer   net.Dialer
	ctx      context.Context // cancels dials

	// The Signer path: the pacer builds, signs and serialises each request.
	sreq *fasthttp.Request
	rw   *reqWriter

	pst workerStats             // the pacer's counters: sends, unsent, sign errors
	lag *hdrhistogram.Histogram // the pacer's: send lag of measured sends
}

// runOpenLoop runs a normalized open-loop cfg.
func runOpenLoop(ctx context.Context, cfg LoadConfig) (*LoadResult, error) {
	o := &openLoop{
		loadRun: newLoadRun(cfg),
		slots:   make([]olSlot, cfg.Connections),
		freed:   make(chan struct{}, 1),
		dialer:  net.Dialer{Timeout: cfg.Timeout},
		ctx:     ctx,
		rw:      newReqWriter(),
		lag:     newLatencyHistogram(),
	}
	if err := o.serialise(); err != nil {
		return nil, err
	}
	o.free = make([]*olSlot, 0, len(o.slots))
	for i := len(o.slots) - 1; i >= 0; i-- {
		o.slots[i].id = i
		o.free = append(o.free, &o.slots[i])
	}
	o.base = time.Now()
	o.pace(ctx)
	o.shutdown()
	stats := make([]workerStats, 0, len(o.slots)+1)
	stats = append(stats, o.pst)
	for i := range o.slots {
		stats = append(stats, o.slots[i].st)
	}
	res := o.result(stats)
	if o.lag.TotalCount() > 0 {
		res.SendLagP99 = time.Duration(o.lag.ValueAtQuantile(99)) * time.Microsecond
	}
	return res, nil
}

// serialise builds the wire form of every request of the cycle once; with a
// Signer, requests are built per send instead, since it may change anything.
func (o *openLoop) serialise() error {
	if o.cfg.Sign != nil {
		o.sreq = &fasthttp.Request{}
		return nil
	}
	req := &fasthttp.Request{}
	add := func(expect int) error {
		wire, err := o.rw.appendRequest(nil, req)
		if err != nil {
			return err
		}
		o.reqs = append(o.reqs, olRequest{wire: wire, expect: expect, head: req.Header.IsHead()})
		return nil
	}
	if len(o.cfg.Requests) > 0 {
		for i := range o.cfg.Requests {
			rs := &o.cfg.Requests[i]
			req.Reset()
			o.prepareSpec(req, rs)
			expect := o.cfg.ExpectStatus
			if rs.ExpectStatus != 0 {
				expect = rs.ExpectStatus
			}
			if err := add(expect); err != nil {
				return err
			}
		}
		return nil
	}
	for _, p := range o.cfg.Paths {
		req.Reset()
		o.prepare(req)
		req.SetRequestURI(p)
		if err := add(o.cfg.ExpectStatus); err != nil {
			return err
		}
	}
	return nil
}

// pace runs the schedule: it wakes at most once per tick, sends what is due,
// and accounts requests that waited longer than Timeout for a connection as
// unsent.
func (o *openLoop) pace(ctx context.Context) {
	done := ctx.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var next uint64
	for {
		backlog := false
		var due time.Duration
		for next < o.maxTickets {
			due = time.Duration(float64(next) * o.interval)
			if due >= o.end {
				next = o.maxTickets
				break
			}
			now := time.Since(o.base)
			if due > now {
				break
			}
			if now-due > o.cfg.Timeout {
				o.unsent(due, now)
				next++
				continue
			}
			s := o.pop()
			if s == nil {
				backlog = true
				break
			}
			o.send(s, next, due)
			next++
		}
		if next >= o.maxTickets {
			break
		}
		var freed chan struct{}
		wait := due - time.Since(o.base)
		if backlog {
			// Wait for a connection, or until the oldest waiting request
			// goes stale.
			freed = o.freed
			wait = due + o.cfg.Timeout - time.Since(o.base) + time.Microsecond
		} else {
			wait = max(wait, openLoopTick)
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-freed:
		case <-done:
			return
		}
	}
	// Drain: answers and timeouts of the requests in flight end the run.
	for o.inflight.Load() > 0 {
		timer.Reset(10 * time.Millisecond)
		select {
		case <-timer.C:
		case <-o.freed:
		case <-done:
			return
		}
	}
}

// unsent accounts a request that found no connection within Timeout.
func (o *openLoop) unsent(due, now time.Duration) {
	if due < o.measureStart {
		return
	}
	st := &o.pst
	st.sent++
	st.errors++
	st.errs[errKindUnsent]++
	st.maxLag = max(st.maxLag, now-due)
	o.hist.record(0, now-due)
}

// send hands request seq to slot s and writes it (or starts a dial).
func (o *openLoop) send(s *olSlot, seq uint64, due time.Duration) {
	s.seq, s.intended, s.measured = seq, due, due >= o.measureStart
	if o.sreq == nil {
		rq := &o.reqs[seq%uint64(len(o.reqs))]
		s.out, s.expect, s.head = rq.wire, rq.expect, rq.head
	}
	now := time.Since(o.base)
	if s.measured {
		st := &o.pst
		st.sent++
		if st.sent == 1 {
			st.firstSend = now
		}
		st.lastSend = max(st.lastSend, now)
		st.maxLag = max(st.maxLag, now-due)
		recordLatency(o.lag, now-due)
	}
	if o.sreq != nil && !o.signed(s, seq) {
		if s.measured {
			o.pst.errors++
			o.pst.errs[errKindSign]++
		}
		o.push(s)
		return
	}
	s.sentAt = now
	s.wkind.Store(0) // a failed write of an earlier request was answered anyway
	o.inflight.Add(1)
	if s.state.Load() == slotIdle {
		// The deadline is renewed before the slot turns busy: a reader that
		// wakes on the previous, stale deadline then sees a busy slot whose
		// request is younger than Timeout and reads on.
		_ = s.nc.SetReadDeadline(o.base.Add(now + o.cfg.Timeout))
		if s.state.CompareAndSwap(slotIdle, slotBusy) {
			if len(s.out) > maxPacerWrite {
				// The writer may outlive the request (an early answer):
				// the slot's next signed request gets a buffer of its own.
				s.wbuf = nil
				go writeRequest(s, s.nc, s.out)
			} else {
				writeRequest(s, s.nc, s.out)
			}
			return
		}
		// The reader found the connection closed while the slot was free.
	}
	s.state.Store(slotBusy)
	o.readers.Add(1)
	go o.connect(s)
}

// maxPacerWrite is the largest request the pacer writes itself. A write
// that does not fit the socket's buffer waits for the target to read it;
// larger requests are written by a goroutine of their own (one allocation
// per such request) so that the schedule does not wait with them.
const maxPacerWrite = 64 << 10

// writeRequest writes out, slot s's request, on nc. On failure the reader
// owns the request's outcome: closing the connection wakes it, and it
// charges the write's error kind.
func writeRequest(s *olSlot, nc net.Conn, out []byte) {
	if _, err := nc.Write(out); err != nil {
		s.wkind.Store(int32(classifyError(err)) + 1)
		_ = nc.Close()
	}
}

// signed builds request seq in o.sreq, signs it and serialises it into the
// slot's own buffer. It reports false when the Signer refused.
func (o *openLoop) signed(s *olSlot, seq uint64) bool {
	req := o.sreq
	req.Reset()
	s.expect = o.cfg.ExpectStatus
	if n := uint64(len(o.cfg.Requests)); n > 0 {
		rs := &o.cfg.Requests[seq%n]
		o.prepareSpec(req, rs)
		if rs.ExpectStatus != 0 {
			s.expect = rs.ExpectStatus
		}
	} else {
		o.prepare(req)
		if n := uint64(len(o.cfg.Paths)); n > 1 {
			req.SetRequestURI(o.cfg.Paths[seq%n])
		}
	}
	if err := o.cfg.Sign(req, seq); err != nil {
		return false
	}
	var err error
	s.wbuf, err = o.rw.appendRequest(s.wbuf[:0], req)
	if err != nil {
		return false
	}
	s.out, s.head = s.wbuf, req.Header.IsHead()
	return true
}

// connect dials a connection for slot s, whose request is set and which is
// busy, sends the request and becomes the connection's reader.
func (o *openLoop) connect(s *olSlot) {
	nc, err := o.dialer.DialContext(o.ctx, "tcp", o.cfg.Addr)
	if err == nil {
		o.mu.Lock()
		if o.closing {
			err = net.ErrClosed
			_ = nc.Close()
		} else {
			s.nc = nc
		}
		o.mu.Unlock()
	}
	if err != nil {
		o.failed(s, classifyError(err))
		s.state.Store(slotBroken)
		o.release(s)
		o.readers.Done()
		return
	}
	// Writes never wait in steady state (one request in flight per
	// connection); the deadline only bounds a target that stops reading.
	_ = nc.SetWriteDeadline(o.base.Add(o.end + 2*o.cfg.Timeout))
	_ = nc.SetReadDeadline(o.base.Add(s.sentAt + o.cfg.Timeout))
	if len(s.out) > maxPacerWrite {
		// The reader must read while a large request goes out: a target
		// may answer before it has read the body.
		s.wbuf = nil
		go writeRequest(s, nc, s.out)
	} else {
		writeRequest(s, nc, s.out)
	}
	o.readLoop(s, nc)
}

// readLoop reads the answers on nc, the connection of slot s, until it
// fails or closes.
func (o *openLoop) readLoop(s *olSlot, nc net.Conn) {
	defer o.readers.Done()
	cr, err := newConnReader(nc)
	if err != nil {
		panic("BUG: a TCP connection without a RawConn: " + err.Error())
	}
	// A slot is freed from inside the next read, after that read has
	// armed the poller: see connReader.
	cr.arm = func() {
		s.state.Store(slotIdle)
		o.release(s)
	}
	rr := newRespReader(cr, respBufSize)
	for {
		err := rr.waitData()
		if err != nil {
			if cr.armed {
				// The read failed before it could free the slot (closed,
				// or the answer beat its deadline by a hair): the last
				// request was answered, the connection is done.
				cr.armed = false
				_ = nc.Close()
				s.state.Store(slotBroken)
				o.release(s)
				return
			}
			if s.state.Load() == slotIdle && s.state.CompareAndSwap(slotIdle, slotBroken) {
				// Closed (or idle past a stale deadline) while free: the
				// pacer redials when it next takes the slot.
				_ = nc.Close()
				return
			}
			if isTimeout(err) && time.Since(o.base)-s.sentAt < o.cfg.Timeout {
				continue // the deadline of an earlier request; this one's is set
			}
		} else {
			if s.state.Load() != slotBusy && s.state.CompareAndSwap(slotIdle, slotBroken) {
				_ = nc.Close() // bytes nobody asked for
				return
			}
			var info respInfo
			info, err = rr.read(s.head)
			if err == nil {
				o.completed(s, info)
				if !info.close && !rr.buffered() {
					cr.armed = true
					continue
				}
				_ = nc.Close()
				s.state.Store(slotBroken)
				o.release(s)
				return
			}
		}
		kind := classifyError(err)
		if wk := s.wkind.Swap(0); wk != 0 {
			kind = int(wk - 1)
		}
		o.failed(s, kind)
		_ = nc.Close()
		s.state.Store(slotBroken)
		o.release(s)
		return
	}
}

// connReader reads a TCP connection through its RawConn so that waiting for
// an answer costs no read(2). A net.Conn read tries read(2) first and parks
// on EAGAIN: one wasted system call per answer, since the generator always
// waits before the answer is there. When armed, the next Read calls arm
// inside the poller's read loop, after the poller's readiness was reset and
// before the wait, and then waits without reading: arm frees the slot, so
// the request that will be answered is sent after the reset and its answer
// cannot be missed.
type connReader struct {
	rc    syscall.RawConn
	arm   func()
	armed bool
	fn    func(uintptr) bool // readFD, bound once
	p     []byte
	n     int
	err   error
}

func newConnReader(nc net.Conn) (*connReader, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, errors.New("not a syscall.Conn")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &connReader{rc: rc}
	c.fn = c.readFD
	return c, nil
}

// readFD is called by RawConn.Read; false means "wait until readable".
func (c *connReader) readFD(fd uintptr) bool {
	if c.armed {
		c.armed = false
		c.arm()
		return false
	}
	for {
		n, err := syscall.Read(int(fd), c.p)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.n, c.err = max(n, 0), err
		return true
	}
}

func (c *connReader) Read(p []byte) (int, error) {
	c.p, c.n, c.err = p, 0, nil
	if err := c.rc.Read(c.fn); err != nil {
		return 0, err
	}
	switch {
	case c.err != nil:
		return 0, os.NewSyscallError("read", c.err)
	case c.n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return c.n, nil
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// completed records the answer to slot s's request.
func (o *openLoop) completed(s *olSlot, info respInfo) {
	if !s.measured {
		return
	}
	doneAt := time.Since(o.base)
	st := &s.st
	st.lastDone = max(st.lastDone, doneAt)
	st.completed++
	code := info.status
	if code < 100 || code >= maxStatus {
		code = 0
	}
	st.status[code]++
	switch {
	case s.expect > 0 && code != s.expect:
		st.errors++
		st.errs[errKindStatus]++
	case o.cfg.ExpectBodyBytes > 0 && info.bodyLen != int64(o.cfg.ExpectBodyBytes):
		st.errors++
		st.errs[errKindBody]++
	}
	o.hist.record(s.id, doneAt-s.intended)
}

// failed records a transport error of slot s's request.
func (o *openLoop) failed(s *olSlot, kind int) {
	if !s.measured {
		return
	}
	st := &s.st
	st.lastDone = max(st.lastDone, time.Since(o.base))
	st.errors++
	st.errs[kind]++
}

// release ends slot s's request and returns the slot to the free list.
func (o *openLoop) release(s *olSlot) {
	o.inflight.Add(-1)
	o.push(s)
}

func (o *openLoop) push(s *olSlot) {
	o.mu.Lock()
	o.free = append(o.free, s)
	o.mu.Unlock()
	select {
	case o.freed <- struct{}{}:
	default:
	}
}

func (o *openLoop) pop() *olSlot {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := len(o.free)
	if n == 0 {
		return nil
	}
	s := o.free[n-1]
	o.free = o.free[:n-1]
	return s
}

// shutdown closes every connection and waits for the readers and dials.
func (o *openLoop) shutdown() {
	o.mu.Lock()
	o.closing = true
	for i := range o.slots {
		if nc := o.slots[i].nc; nc != nil {
			_ = nc.Close()
		}
	}
	o.mu.Unlock()
	o.readers.Wait()
}
