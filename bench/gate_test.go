package bench

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestGate(t *testing.T) {
	done := make(chan struct{})
	g := NewGate(false)
	var passed atomic.Int32
	waited := make(chan bool)
	go func() { waited <- g.Wait(done, nil) }()
	select {
	case <-waited:
		t.Fatal("a shut gate let a worker through")
	case <-time.After(50 * time.Millisecond):
	}
	g.Set(true)
	if !<-waited {
		t.Fatal("Wait returned false on an open gate")
	}
	g.Set(true) // opening an open gate is a no-op, not a double close
	if !g.Wait(done, nil) {
		t.Fatal("open gate")
	}
	g.Set(false)
	g.Set(false)
	go func() {
		if g.Wait(done, nil) {
			passed.Add(1)
		}
		waited <- false
	}()
	close(done)
	<-waited
	if passed.Load() != 0 {
		t.Fatal("a shut gate let a worker through after done")
	}
}

// TestLoadGate: a closed loop sends nothing while its gate is shut, and
// sends once it opens; an open loop refuses a gate.
func TestLoadGate(t *testing.T) {
	o := startTestOrigin(t, 0)
	cfg := LoadConfig{Addr: o.Addr(), Paths: []string{"/x?size=16"}, Connections: 2,
		Duration: 300 * time.Millisecond, Gate: NewGate(false)}
	res, err := RunLoad(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 0 || res.Errors != 0 {
		t.Fatalf("shut gate: %d sent, %d errors", res.Sent, res.Errors)
	}
	cfg.Gate = NewGate(true)
	if res, err = RunLoad(context.Background(), cfg); err != nil || res.Completed == 0 || res.Errors != 0 {
		t.Fatalf("open gate: %+v, %v", res, err)
	}
	cfg.Mode, cfg.Rate = OpenLoop, 100
	if _, err := RunLoad(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "gate") {
		t.Fatalf("open loop with a gate: %v", err)
	}
}
