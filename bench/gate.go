package bench

import "sync"

// Gate lets a closed-loop load run send only while it is open: workers wait
// at the gate before each request. Time-sliced runs (Scenario.TimeSliced)
// open one target's gate at a time.
type Gate struct {
	mu     sync.Mutex
	open   bool
	opened chan struct{} // closed when the gate opens; replaced when it shuts
}

// NewGate returns a gate, open or shut.
func NewGate(open bool) *Gate {
	g := &Gate{open: open, opened: make(chan struct{})}
	if open {
		close(g.opened)
	}
	return g
}

// Set opens or shuts the gate. Workers already past it finish their request.
func (g *Gate) Set(open bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case open && !g.open:
		close(g.opened)
	case !open && g.open:
		g.opened = make(chan struct{})
	}
	g.open = open
}

// Wait returns true once the gate is open, false if done or over is closed
// first.
func (g *Gate) Wait(done, over <-chan struct{}) bool {
	g.mu.Lock()
	ch := g.opened
	g.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-done:
		return false
	case <-over:
		return false
	}
}
