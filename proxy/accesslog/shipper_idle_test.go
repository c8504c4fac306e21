package accesslog

import (
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

// TestShipperParksWhenIdle (issue 16, light load): a quiet gateway's shipper
// no longer wakes every maxPoll (100 ms) for an empty ring. Parked, it wakes
// once per idleSync, yet a record committed while it is parked is taken at
// once, so its batch goes out exactly flush_interval after the commit (the
// 100 ms poll delayed it by up to maxPoll). Fake time (synctest) makes both
// counts exact.
func TestShipperParksWhenIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const flush = 300 * time.Millisecond
		path := filepath.Join(t.TempDir(), "access.log")
		l := fileLogger(t, Config{FlushInterval: Duration(flush)}, path)
		t.Cleanup(func() { _ = l.Close() }) // inside the bubble, also after a failure
		synctest.Wait()

		w0 := l.wakes.Load()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		// One a second (idleSync); the 100 ms poll made it 100.
		if got := l.wakes.Load() - w0; got > 10 {
			t.Fatalf("idle shipper woke %d times in 10s, want at most 10", got)
		}

		// Halfway between two idle wake-ups, so the poll could not be
		// what picks the record up.
		time.Sleep(idleSync / 2)
		if !l.parked.Load() {
			t.Fatal("the idle shipper is not parked")
		}
		put(l, 200, 1)
		synctest.Wait()
		if l.ring.pending() {
			t.Fatal("a record committed to a parked shipper was not taken at once")
		}
		time.Sleep(flush - time.Nanosecond)
		synctest.Wait()
		if w := l.Stats().Sinks[0].Written; w != 0 {
			t.Fatalf("%d records written before flush_interval", w)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if w := l.Stats().Sinks[0].Written; w != 1 {
			t.Fatalf("%d records written flush_interval after the commit, want 1", w)
		}
		shutdown(t, l)
	})
}

// TestShipperIdleSyncsMetrics: a sampled-out request commits nothing, so it
// does not wake a parked shipper; its count still reaches the package metric
// within idleSync.
func TestShipperIdleSyncsMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		zero := 0.0
		path := filepath.Join(t.TempDir(), "access.log")
		l := fileLogger(t, Config{SampleRate: &zero}, path)
		t.Cleanup(func() { _ = l.Close() })
		synctest.Wait()
		before := sampledOutTotal.Get()
		if r := l.Reserve(200); r != nil {
			t.Fatal("sample_rate 0 kept a success")
		}
		time.Sleep(idleSync)
		synctest.Wait()
		if got := sampledOutTotal.Get() - before; got < 1 {
			t.Fatalf("sampled-out count not in the metric %v after the request", idleSync)
		}
		shutdown(t, l)
	})
}

// TestShipperPollsWhileABatchIsOpen: with a batch open and flush_interval
// long, records committed after the shipper's last pass wake nobody until
// kickEvery more follow; the shipper still takes them within maxPoll, so a
// batch that fills goes out when it fills. Sleeping until the flush time
// instead (the first cut of the parking change) left them in the ring for
// the hour: CI's TestFlushTriggers caught it under -race.
func TestShipperPollsWhileABatchIsOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "access.log")
		l := fileLogger(t, Config{FlushInterval: Duration(time.Hour), BatchSize: 4 << 10}, path)
		t.Cleanup(func() { _ = l.Close() })
		synctest.Wait()
		put(l, 200, 0) // wakes the parked shipper, which opens a batch
		synctest.Wait()
		n := int(l.kickMask) - 1 // kickEvery-2 more: no kick among these
		for i := 1; i <= n; i++ {
			put(l, 200, i)
		}
		synctest.Wait()
		time.Sleep(maxPoll)
		synctest.Wait()
		if l.ring.pending() {
			t.Fatalf("records still in the ring %v after the last commit", maxPoll)
		}
		if w := l.Stats().Sinks[0].Written; w < uint64(n+1)/2 {
			t.Fatalf("%d of %d records written: full 4 KiB batches should have gone out", w, n+1)
		}
		shutdown(t, l)
	})
}
