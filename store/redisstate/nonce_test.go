package redisstate

import (
	"testing"
	"time"

	"github.com/sluicegw/sluice/store/ratelimit"
	"github.com/sluicegw/sluice/store/redisstate/redistest"
)

// testNonceReplay: a nonce used on one node is a replay on another, and
// Redis forgets it after its window (PX).
func testNonceReplay(t *testing.T, addrs []string) {
	f := newFleet(t, addrs, LimiterOptions{})
	a, b, c := NewNonces(f.conns[0], nil), NewNonces(f.conns[1], nil), NewNonces(f.conns[2], nil)
	now := ratelimit.Nanotime()
	key := []byte("\x03app" + "nonce-0001")
	if a.Seen(now, key, time.Minute) {
		t.Fatal("first use reported as a replay")
	}
	if !b.Seen(now, key, time.Minute) {
		t.Fatal("nonce used on node a was accepted on node b")
	}
	if !a.Seen(now, key, time.Minute) {
		t.Fatal("replay on the same node accepted")
	}
	if b.Seen(now, []byte("\x03app"+"nonce-0002"), time.Minute) {
		t.Fatal("a fresh nonce reported as a replay")
	}
	short := []byte("\x03app" + "nonce-short")
	if a.Seen(now, short, 100*time.Millisecond) {
		t.Fatal("first use of the short nonce reported as a replay")
	}
	time.Sleep(300 * time.Millisecond)
	// c has never seen it locally, so only Redis could say "seen"; its PX
	// has passed.
	if c.Seen(ratelimit.Nanotime(), short, 100*time.Millisecond) {
		t.Fatal("Redis kept the nonce past its window")
	}
	if !f.healthy() {
		t.Fatal("a breaker opened")
	}
}

func TestNonceReplayAcrossNodesStandalone(t *testing.T) {
	s := redistest.Start(t)
	testNonceReplay(t, []string{s.Addr})
}

func TestNonceReplayAcrossNodesCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	testNonceReplay(t, c.Addrs)
}
