package cache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// origin is a real loopback HTTP server that counts the requests it answers.
// hold, when set, keeps each answer back until it is closed.
type origin struct {
	srv   *httptest.Server
	calls atomic.Int64
	hold  chan struct{}
}

func newOrigin(t *testing.T) *origin {
	o := &origin{}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.calls.Add(1)
		if o.hold != nil {
			<-o.hold
		}
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = io.WriteString(w, "answer for "+r.URL.Path)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *origin) fetch(t *testing.T, path string) []byte {
	resp, err := o.srv.Client().Get(o.srv.URL + path)
	if err != nil {
		t.Error(err)
		return nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Error(err)
	}
	return b
}

// serve is the lookup/coalesce/fill sequence the pipeline runs for a miss.
func serve(t *testing.T, s *Store, co *Coalescer, o *origin, path string, wait time.Duration) []byte {
	k, ul := testKey(t, path, "", "")
	lookup := func() []byte {
		v, ok := s.GetInto(nil, k)
		if !ok {
			return nil
		}
		var e Entry
		if !e.Decode(v) {
			t.Error("bad entry")
		}
		return e.Body
	}
	fill := func() []byte {
		e := &Entry{Status: 200, Seq: s.Seq(), Meta: Meta{Lifetime: 60}}
		e.Body = o.fetch(t, path)
		s.Set(k, ul, e)
		return e.Body
	}
	if b := lookup(); b != nil {
		return b
	}
	f, leader := co.Join(k)
	if leader {
		defer co.Done(f)
		// A fill may have finished between the lookup and Join.
		if b := lookup(); b != nil {
			return b
		}
		return fill()
	}
	if co.Wait(f, wait) {
		if b := lookup(); b != nil {
			return b
		}
	}
	return fill()
}

func TestCoalesce200OnColdKey(t *testing.T) {
	s := NewStore(Options{})
	defer s.Reset()
	co := NewCoalescer()
	o := newOrigin(t)
	o.hold = make(chan struct{})
	const n = 200
	k, _ := testKey(t, "/cold", "", "")
	start := make(chan struct{})
	var wg sync.WaitGroup
	bodies := make([][]byte, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			bodies[i] = serve(t, s, co, o, "/cold", 30*time.Second)
		}()
	}
	close(start)
	// Hold the origin until the 199 others wait for the leader, so the test
	// is about concurrent misses (bounded: give up after about 10 s and let
	// the count below judge).
	deadline := time.Now().Add(10 * time.Second)
	for co.Waiters(k) < n-1 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if w := co.Waiters(k); w != n-1 {
		t.Errorf("%d waiters, want %d", w, n-1)
	}
	close(o.hold)
	wg.Wait()
	if c := o.calls.Load(); c != 1 {
		t.Fatalf("origin called %d times for %d concurrent misses, want 1", c, n)
	}
	for i, b := range bodies {
		if string(b) != "answer for /cold" {
			t.Fatalf("request %d got %q", i, b)
		}
	}
	if co.InFlight() != 0 {
		t.Fatal("flight left behind")
	}
}

func TestCoalesceWaitIsBounded(t *testing.T) {
	s := NewStore(Options{})
	defer s.Reset()
	co := NewCoalescer()
	o := newOrigin(t)
	k, _ := testKey(t, "/slow", "", "")
	// A leader that never finishes.
	lf, leader := co.Join(k)
	if !leader {
		t.Fatal("first Join is not the leader")
	}
	before := coalesceTimeouts.Get()
	const n = 5
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b := serve(t, s, co, o, "/slow", 20*time.Millisecond); string(b) != "answer for /slow" {
				t.Errorf("got %q", b)
			}
		}()
	}
	wg.Wait()
	// The first waiter to time out stores the answer; later ones may hit it.
	if c := o.calls.Load(); c < 1 || c > n {
		t.Fatalf("origin called %d times", c)
	}
	if got := coalesceTimeouts.Get() - before; got == 0 {
		t.Fatal("no timeout counted")
	}
	co.Done(lf)
	if co.InFlight() != 0 {
		t.Fatal("flight left behind")
	}
}

func TestCoalesceDoneWakesWaiters(t *testing.T) {
	co := NewCoalescer()
	key := []byte("k")
	lf, leader := co.Join(key)
	if !leader {
		t.Fatal("not leader")
	}
	wf, leader2 := co.Join(key)
	if leader2 {
		t.Fatal("second Join became leader")
	}
	done := make(chan bool)
	go func() { done <- co.Wait(wf, time.Minute) }()
	co.Done(lf)
	if !<-done {
		t.Fatal("waiter timed out although the leader finished")
	}
	// The key is free again: the next Join leads.
	if f, leader := co.Join(key); !leader {
		t.Fatal("key still taken after Done")
	} else {
		co.Done(f)
	}
}

func TestCoalesceDoneByWaiterPanics(t *testing.T) {
	co := NewCoalescer()
	lf, _ := co.Join([]byte("k"))
	wf, _ := co.Join([]byte("k"))
	defer co.Done(lf)
	defer func() {
		if recover() == nil {
			t.Fatal("Done with a waiter's ticket did not panic")
		}
	}()
	co.Done(wf)
}
