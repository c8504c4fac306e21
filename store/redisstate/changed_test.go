package redisstate

import (
	"errors"
	"testing"
	"time"

	"github.com/sluicegw/sluice/store/redisstate/redistest"
)

// TestConnChangedSignalsSwitches: Changed receives once when the breaker
// opens and once when the prober closes it, and never without a switch, so
// a watcher needs no polling ticker (issue 16, light load).
func TestConnChangedSignalsSwitches(t *testing.T) {
	s := redistest.Start(t)
	c, err := Dial(Options{Addrs: []string{s.Addr}, Timeout: testTimeout, ProbeInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for start := time.Now(); !c.Healthy(); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("not healthy with Redis up")
		}
	}
	select {
	case <-c.Changed(): // a start in fallback may have signalled its close
	default:
	}
	select {
	case <-c.Changed():
		t.Fatal("a change signalled while the breaker stayed closed")
	case <-time.After(100 * time.Millisecond):
	}

	c.Failed(errors.New("injected failure"))
	c.Failed(errors.New("a second failure: the breaker is already open"))
	waitChange(t, c, "opening")
	if c.Healthy() {
		t.Fatal("healthy after a failure")
	}
	// The prober's PING (Redis is up) closes it again.
	waitChange(t, c, "closing")
	if !c.Healthy() {
		t.Fatal("the prober closed the breaker but Healthy is false")
	}
	select {
	case <-c.Changed():
		t.Fatal("more signals than switches")
	case <-time.After(100 * time.Millisecond):
	}
}

func waitChange(t *testing.T, c *Conn, what string) {
	t.Helper()
	select {
	case <-c.Changed():
	case <-time.After(5 * time.Second):
		t.Fatalf("no change signal for the breaker %s", what)
	}
}
