package accesslog

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func fileLogger(t *testing.T, cfg Config, path string) *Logger {
	t.Helper()
	cfg.Sinks = append(cfg.Sinks, SinkConfig{Type: "file", Path: path, QueueBatches: 1024})
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestFileExactly100k: several producers, 100 000 records, every one in the
// file exactly once. Producers retry a full ring (yielding), so each id is
// logged; the failed attempts are the counted drops.
func TestFileExactly100k(t *testing.T) {
	const producers, total = 4, 100000
	path := filepath.Join(t.TempDir(), "access.log")
	droppedBefore := droppedTotal.Get()
	l := fileLogger(t, Config{RingSize: 4096, FlushInterval: Duration(50 * time.Millisecond)}, path)
	var attempts atomic.Uint64
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < total; i += producers {
				for tries := 0; ; tries++ {
					attempts.Add(1)
					if put(l, 200, i) {
						break
					}
					if tries > 1e6 {
						panic("ring never drained")
					}
					runtime.Gosched()
				}
			}
		}()
	}
	wg.Wait()
	shutdown(t, l)
	st := l.Stats()
	checkAccounting(t, st, attempts.Load())
	if st.Shipped != total || st.Sinks[0].Written != total {
		t.Fatalf("stats %+v", st)
	}
	if d := droppedTotal.Get() - droppedBefore; d != st.Dropped {
		t.Fatalf("metric counted %d drops, stats %d", d, st.Dropped)
	}
	ids := readIDs(t, path)
	if len(ids) != total {
		t.Fatalf("file has %d lines, want %d", len(ids), total)
	}
	seen := make([]bool, total)
	for _, id := range ids {
		var i int
		if _, err := parseID(id, &i); err != nil || i >= total || seen[i] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[i] = true
	}
	// Spot-check full lines strictly.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bytes.SplitN(data, []byte{'\n'}, 101)[:100] {
		if ln := decodeLine(t, b); ln.Status != 200 || ln.Path != "/v1/orders/42" {
			t.Fatalf("line %+v", ln)
		}
	}
}

// TestSmallRingAccounting: a tiny ring drops under load and every record
// is either in the file or counted dropped, exactly.
func TestSmallRingAccounting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l := fileLogger(t, Config{RingSize: 16, FlushInterval: Duration(10 * time.Millisecond)}, path)
	const producers, each = 4, 20000
	var wg sync.WaitGroup
	okIDs := make([][]int, producers)
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := p*each + i
				if put(l, 500, id) {
					okIDs[p] = append(okIDs[p], id)
				}
			}
		}()
	}
	wg.Wait()
	shutdown(t, l)
	st := l.Stats()
	checkAccounting(t, st, producers*each)
	if st.Dropped == 0 {
		t.Log("no drops on a 16-slot ring: the shipper kept up")
	}
	want := map[string]bool{}
	for _, ids := range okIDs {
		for _, id := range ids {
			want[string(idOf(id))] = true
		}
	}
	lines := readLines(t, path)
	if uint64(len(lines)) != st.Shipped || len(lines) != len(want) {
		t.Fatalf("file %d lines, shipped %d, accepted %d", len(lines), st.Shipped, len(want))
	}
	for _, ln := range lines {
		if !want[ln.RequestID] {
			t.Fatalf("unexpected or repeated id %q", ln.RequestID)
		}
		delete(want, ln.RequestID)
	}
}

func TestSampling(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	rate := 0.25
	before := sampledOutTotal.Get()
	l := fileLogger(t, Config{SampleRate: &rate, FlushInterval: Duration(10 * time.Millisecond)}, path)
	const n = 4000
	for i := 0; i < n; i++ {
		put(l, 200, i)   // sampled
		put(l, 404, n+i) // always kept
		if i%500 == 0 {
			time.Sleep(time.Millisecond) // let the shipper drain
		}
	}
	shutdown(t, l)
	st := l.Stats()
	checkAccounting(t, st, 2*n)
	if got := sampledOutTotal.Get() - before; got != st.SampledOut {
		t.Fatalf("metric %d, stats %d", got, st.SampledOut)
	}
	errors, ok := 0, 0
	for _, ln := range readLines(t, path) {
		if ln.Status == 404 {
			errors++
		} else {
			ok++
		}
	}
	if errors != n-int(st.Dropped) && st.Dropped == 0 {
		t.Fatalf("kept %d of %d errors", errors, n)
	}
	// Binomial(4000, 0.25): mean 1000, sd 27; 10 sd either side.
	if ok < 730 || ok > 1270 || uint64(ok)+st.SampledOut+st.Dropped < n {
		t.Fatalf("kept %d successes of %d at rate 0.25 (sampled out %d)", ok, n, st.SampledOut)
	}

	zero := 0.0
	l = fileLogger(t, Config{SampleRate: &zero}, filepath.Join(t.TempDir(), "b.log"))
	if l.Reserve(200) != nil || l.Reserve(399) != nil {
		t.Fatal("rate 0 kept a success")
	}
	r := l.Reserve(400)
	if r == nil || r.Status != 400 {
		t.Fatal("rate 0 dropped an error")
	}
	l.Commit(r)
	shutdown(t, l)
}

func TestShutdownStopsReserve(t *testing.T) {
	l := fileLogger(t, Config{}, filepath.Join(t.TempDir(), "a.log"))
	shutdown(t, l)
	shutdown(t, l) // idempotent
	if l.Reserve(500) != nil {
		t.Fatal("Reserve after Shutdown")
	}
	if st := l.Stats(); st.Dropped != 1 {
		t.Fatalf("dropped %d, want 1", st.Dropped)
	}
	var nl *Logger
	if nl.Reserve(200) != nil || nl.Shutdown(context.Background()) != nil {
		t.Fatal("nil logger")
	}
	nl.Commit(nil)
	nl.Reopen()
}

// TestShutdownDeadline: a producer that never commits holds the ring; the
// deadline ends Shutdown and the stuck record is counted dropped.
func TestShutdownDeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	l := fileLogger(t, Config{FlushInterval: Duration(10 * time.Millisecond)}, path)
	put(l, 200, 1)
	stuck := l.Reserve(200)
	put(l, 200, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := l.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown = %v", err)
	}
	<-l.shipperDone
	<-l.sinks[0].done
	l.Commit(stuck) // too late: counted dropped already, must change nothing
	st := l.Stats()
	checkAccounting(t, st, 3)
	if st.Dropped != 2 || st.Shipped != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func parseID(s string, i *int) (int, error) {
	n := 0
	if len(s) < 5 || s[:4] != "req-" {
		return 0, errBadID
	}
	for _, c := range s[4:] {
		if c < '0' || c > '9' {
			return 0, errBadID
		}
		n = n*10 + int(c-'0')
	}
	*i = n
	return n, nil
}

type idError struct{}

func (idError) Error() string { return "bad id" }

var errBadID = idError{}

// TestProducersKickTheShipper: with the shipper's timer out of the way
// (maxPoll and flush_interval an hour), records still reach the file,
// because every kickEvery-th commit wakes the shipper and full batches go
// out at once; fewer records than that stay in the ring.
func TestProducersKickTheShipper(t *testing.T) {
	saved := maxPoll
	maxPoll = time.Hour
	t.Cleanup(func() { maxPoll = saved })
	const ringSize = 256
	every := kickEvery(ringSize)
	if every != 32 {
		t.Fatalf("kickEvery(%d) = %d, want 32", ringSize, every)
	}
	path := filepath.Join(t.TempDir(), "access.log")
	l := fileLogger(t, Config{RingSize: ringSize, BatchSize: 4 << 10, FlushInterval: Duration(time.Hour)}, path)
	// Let the shipper make its first pass over the empty ring and park.
	// A record to a parked shipper wakes it (shipper.go): the first one
	// opens a batch, and with a batch open (flush in an hour) the shipper
	// sleeps on its timer; a pass during the puts below would ship them
	// unkicked.
	time.Sleep(100 * time.Millisecond)
	put(l, 200, 0)
	time.Sleep(100 * time.Millisecond)
	for i := 1; i < every-1; i++ {
		if !put(l, 200, i) {
			t.Fatal("ring full")
		}
	}
	// No kick yet: the shipper sleeps on its hour-long timer.
	time.Sleep(200 * time.Millisecond)
	if st := l.Stats(); st.Shipped != 0 {
		t.Fatalf("%d records shipped before any kick", st.Shipped)
	}
	// The every-th record kicks: the shipper drains all of them, and each
	// 4 KiB batch (about 9 records) is handed to the sink at once.
	put(l, 200, every-1)
	deadline := time.Now().Add(10 * time.Second)
	for l.Stats().Shipped == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the kick did not wake the shipper")
		}
		time.Sleep(5 * time.Millisecond)
	}
	shutdown(t, l)
	if st := l.Stats(); st.Shipped != uint64(every) || st.Sinks[0].Written != uint64(every) {
		t.Fatalf("stats %+v, want %d shipped and written", st, every)
	}
}
