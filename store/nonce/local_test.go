package nonce

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const sec = int64(time.Second)

func TestLocalSeen(t *testing.T) {
	l := NewLocal(Config{MaxEntries: 64, Shards: 4})
	k := []byte("app\x00nonce-1")
	if l.Seen(0, k, time.Minute) {
		t.Fatal("first sighting reported as seen")
	}
	if !l.Seen(30*sec, k, time.Minute) {
		t.Fatal("repeat within window not reported")
	}
	if l.Seen(30*sec, []byte("app\x00nonce-2"), time.Minute) {
		t.Fatal("other key reported as seen")
	}
	// Expiry is first-sighting + window, not refreshed by repeats.
	if l.Seen(60*sec, k, time.Minute) {
		t.Fatal("key still remembered at its expiry")
	}
	if !l.Seen(61*sec, k, time.Minute) {
		t.Fatal("re-recorded key not remembered")
	}
	if l.Seen(0, []byte("w"), 0) || l.Seen(0, []byte("w"), 0) {
		t.Fatal("window 0 recorded something")
	}
}

func TestLocalPurgesExpired(t *testing.T) {
	l := NewLocal(Config{MaxEntries: 1000, Shards: 1})
	for i := range 500 {
		l.Seen(int64(i), []byte(strconv.Itoa(i)), time.Second)
	}
	if n := l.Len(); n != 500 {
		t.Fatalf("Len = %d, want 500", n)
	}
	// One call after everything expired purges the whole shard.
	l.Seen(10*sec, []byte("new"), time.Second)
	if n := l.Len(); n != 1 {
		t.Fatalf("Len after purge = %d, want 1", n)
	}
	l.Reset()
	if n := l.Len(); n != 0 {
		t.Fatalf("Len after Reset = %d", n)
	}
}

// TestLocalFull: at the cap new keys are refused (reported as seen), known
// ones still report seen, and room returns as entries expire.
func TestLocalFull(t *testing.T) {
	l := NewLocal(Config{MaxEntries: 8, Shards: 1})
	for i := range 8 {
		if l.Seen(int64(i)*sec, []byte{byte(i)}, 10*time.Second) {
			t.Fatalf("key %d refused below the cap", i)
		}
	}
	before := refusedFullTotal.Get()
	if !l.Seen(8*sec, []byte("overflow"), 10*time.Second) {
		t.Fatal("new key accepted at the cap")
	}
	if refusedFullTotal.Get() != before+1 {
		t.Fatal("refusal not counted")
	}
	if !l.Seen(8*sec, []byte{3}, 10*time.Second) {
		t.Fatal("known key forgotten at the cap")
	}
	// At 10s key 0 (recorded at 0s) expires, making room for one.
	if l.Seen(10*sec, []byte("overflow"), 10*time.Second) {
		t.Fatal("new key refused after the oldest expired")
	}
	if !l.Seen(10*sec, []byte("overflow-2"), 10*time.Second) {
		t.Fatal("second new key accepted while full again")
	}
}

// TestLocalAgainstModel drives a tiny table (so probe runs wrap and deletes
// shift) with random keys, times and windows, and compares every answer with
// an exact map-based model.
func TestLocalAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	for round := range 20 {
		l := NewLocal(Config{MaxEntries: 16, Shards: 1})
		model := map[string]int64{} // key -> expiry
		var order []struct {
			k   string
			exp int64
		}
		now := int64(0)
		for step := range 3000 {
			now += rng.Int64N(3 * sec)
			k := strconv.Itoa(rng.IntN(40))
			w := time.Duration(1+rng.IntN(20)) * time.Second
			if round%2 == 0 {
				w = 10 * time.Second // one window: purge order = expiry order
			}
			// Model: live entries; a new key is refused when 16 are held,
			// counting ring entries still waiting behind a longer one.
			for len(order) > 0 && order[0].exp <= now {
				o := order[0]
				order = order[1:]
				if model[o.k] == o.exp {
					delete(model, o.k)
				}
			}
			exp, ok := model[k]
			var want bool
			switch {
			case ok && exp > now:
				want = true
			case len(order) == 16:
				want = true
			default:
				model[k] = now + int64(w)
				order = append(order, struct {
					k   string
					exp int64
				}{k, now + int64(w)})
			}
			if got := l.Seen(now, []byte(k), w); got != want {
				t.Fatalf("round %d step %d: Seen(%d, %s, %v) = %v, want %v", round, step, now, k, w, got, want)
			}
		}
		if l.Len() != len(order) {
			t.Fatalf("round %d: Len = %d, model %d", round, l.Len(), len(order))
		}
	}
}

// TestLocalConcurrent: many goroutines race on the same keys; each key must
// be reported new exactly once. Run under -race.
func TestLocalConcurrent(t *testing.T) {
	const keys, workers = 2000, 8
	l := NewLocal(Config{MaxEntries: 4 * keys, Shards: 16})
	var firsts [keys]atomic.Int32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 16)
			for i := range keys {
				k := (i*7 + w*13) % keys
				buf = strconv.AppendInt(buf[:0], int64(k), 10)
				if !l.Seen(sec, buf, time.Minute) {
					firsts[k].Add(1)
				}
			}
		}()
	}
	wg.Wait()
	for k := range firsts {
		if n := firsts[k].Load(); n != 1 {
			t.Fatalf("key %d reported new %d times", k, n)
		}
	}
	if l.Len() != keys {
		t.Fatalf("Len = %d, want %d", l.Len(), keys)
	}
}

func TestNewLocalSizing(t *testing.T) {
	l := NewLocal(Config{MaxEntries: 100, Shards: 3})
	if len(l.shards) != 4 {
		t.Fatalf("shards = %d, want 4 (rounded up)", len(l.shards))
	}
	for i := range l.shards {
		s := &l.shards[i]
		if len(s.ring) != 25 || len(s.table) != 64 {
			t.Fatalf("ring %d table %d, want 25 and 64", len(s.ring), len(s.table))
		}
	}
	d := NewLocal(Config{})
	if len(d.shards) != defaultShards || len(d.shards[0].ring)*defaultShards != defaultMaxEntries {
		t.Fatal("defaults not applied")
	}
}

var _ Store = (*Local)(nil)
