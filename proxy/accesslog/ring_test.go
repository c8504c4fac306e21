package accesslog

import (
	"sync"
	"testing"
)

func TestRingFIFOAndFull(t *testing.T) {
	q := newRing(16, false)
	for i := 0; i < 16; i++ {
		r := q.reserve()
		if r == nil {
			t.Fatalf("reserve %d failed on a ring of 16", i)
		}
		r.Status = i
		q.commit(r)
	}
	if q.reserve() != nil {
		t.Fatal("reserve succeeded on a full ring")
	}
	for lap := 0; lap < 3; lap++ {
		for i := 0; i < 16; i++ {
			r := q.peek()
			if r == nil || r.Status != lap*16+i {
				t.Fatalf("lap %d: peek %d = %v", lap, i, r)
			}
			q.release(r)
			w := q.reserve()
			if w == nil {
				t.Fatal("reserve failed after release")
			}
			w.Status = (lap+1)*16 + i
			q.commit(w)
		}
	}
}

func TestRingUncommittedBlocksConsumer(t *testing.T) {
	q := newRing(16, false)
	a := q.reserve()
	b := q.reserve()
	q.commit(b)
	if q.peek() != nil {
		t.Fatal("consumer passed an uncommitted slot")
	}
	q.commit(a)
	if r := q.peek(); r != a {
		t.Fatal("committed slot not visible")
	}
}

func TestRingClose(t *testing.T) {
	q := newRing(16, false)
	r := q.reserve()
	if final := q.close(); final != 1 {
		t.Fatalf("final = %d", final)
	}
	if q.reserve() != nil {
		t.Fatal("reserve after close")
	}
	if final := q.close(); final != 1 {
		t.Fatalf("second close = %d", final)
	}
	q.commit(r) // a producer that reserved before close still commits
	if q.peek() != r || q.reserved() != 1 {
		t.Fatal("record reserved before close lost")
	}
}

func TestRingBadSizePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	newRing(24, false)
}

// TestRingConcurrent has producers race while closing: every record
// reserved before the close is consumed exactly once.
func TestRingConcurrent(t *testing.T) {
	q := newRing(64, false)
	const producers, each = 4, 20000
	var wg sync.WaitGroup
	counts := make([]int, producers)
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r := q.reserve()
				if r == nil {
					continue
				}
				r.Status = p
				r.BytesIn = int64(i)
				q.commit(r)
				counts[p]++
			}
		}()
	}
	seen := make([]int, producers)
	last := []int64{-1, -1, -1, -1}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	consumed := 0
	for {
		r := q.peek()
		if r == nil {
			select {
			case <-done:
				if q.peek() == nil {
					goto end
				}
			default:
			}
			continue
		}
		if r.BytesIn <= last[r.Status] {
			t.Fatalf("producer %d out of order: %d after %d", r.Status, r.BytesIn, last[r.Status])
		}
		last[r.Status] = r.BytesIn
		seen[r.Status]++
		consumed++
		q.release(r)
	}
end:
	for p := range counts {
		if seen[p] != counts[p] {
			t.Fatalf("producer %d: committed %d, consumed %d", p, counts[p], seen[p])
		}
	}
	if uint64(consumed) != q.reserved() {
		t.Fatalf("consumed %d of %d reserved", consumed, q.reserved())
	}
}

// TestRingReusesTheLastReleasedRecord: the record a producer gets is the one
// the consumer released last (its cache lines are warm), while the queue
// keeps reservation order whatever records carry it.
func TestRingReusesTheLastReleasedRecord(t *testing.T) {
	q := newRing(16, false)
	var got [4]*Record
	for i := range got {
		got[i] = q.reserve()
		got[i].Status = i
		q.commit(got[i])
	}
	for i := range got {
		r := q.peek()
		if r != got[i] || r.Status != i {
			t.Fatalf("peek %d: %p status %d, want %p", i, r, r.Status, got[i])
		}
		q.release(r)
	}
	// Released 0, 1, 2, 3: the stack hands out 3, 2, 1, 0.
	for i := 3; i >= 0; i-- {
		r := q.reserve()
		if r != got[i] {
			t.Fatalf("reserve handed out record %d, want the last released, %d", r.idx, got[i].idx)
		}
		r.Status = 100 + i
		q.commit(r)
	}
	for i := 3; i >= 0; i-- {
		if r := q.peek(); r == nil || r.Status != 100+i {
			t.Fatalf("queue order lost: %+v", r)
		} else {
			q.release(r)
		}
	}
	if q.peek() != nil || q.pending() {
		t.Fatal("records left after draining")
	}
}

// TestRingFullWhileFilling: records reserved and not yet committed count
// against the ring: with every record out, reserve fails even though no
// queue position is committed.
func TestRingFullWhileFilling(t *testing.T) {
	q := newRing(16, false)
	var held []*Record
	for i := 0; i < 16; i++ {
		r := q.reserve()
		if r == nil {
			t.Fatalf("reserve %d failed", i)
		}
		held = append(held, r)
	}
	if q.reserve() != nil {
		t.Fatal("reserve succeeded with every record out")
	}
	seen := map[*Record]bool{}
	for _, r := range held {
		if seen[r] {
			t.Fatal("one record handed out twice")
		}
		seen[r] = true
		q.commit(r)
	}
	for range held {
		q.release(q.peek())
	}
	if q.reserve() == nil {
		t.Fatal("reserve failed after the ring drained")
	}
}
