package ratelimit

import (
	"sync"
	"sync/atomic"
	"time"
)

// The clocks below give Unix nanoseconds that advance with the monotonic
// clock: they are aligned to UTC when the process starts (which is what
// quota windows need) and never jump when the wall clock is stepped (which
// is what buckets need). They do not follow later NTP slews, so quota window
// edges may drift from true UTC by the host's clock drift since start.
var (
	monoBase = time.Now()
	wallBase = monoBase.UnixNano()
)

// Nanotime returns the current time for Allow, read from the runtime's
// monotonic clock (about 20ns; see BenchmarkNanotime).
func Nanotime() int64 { return wallBase + int64(time.Since(monoBase)) }

// TimeAt returns the time.Time of a Nanotime reading, with its monotonic
// part, without reading the clock again: deadlines built from it count on
// the monotonic clock as time.Now's do.
func TimeAt(nanotime int64) time.Time { return monoBase.Add(time.Duration(nanotime - wallBase)) }

// CoarseClock is a Nanotime cached by a ticker, so a request pays one atomic
// load for its now. With resolution r, tokens are credited in steps of r:
// a bucket whose Burst is below Rate*r admits fewer than Rate per second, so
// pick r well under Burst/Rate or use Nanotime. Safe for concurrent use.
type CoarseClock struct {
	now  atomic.Int64
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// NewCoarseClock starts a clock updated every resolution (at least 100µs).
func NewCoarseClock(resolution time.Duration) *CoarseClock {
	if resolution < 100*time.Microsecond {
		resolution = 100 * time.Microsecond
	}
	c := &CoarseClock{stop: make(chan struct{}), done: make(chan struct{})}
	c.now.Store(Nanotime())
	go func() {
		defer close(c.done)
		t := time.NewTicker(resolution)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				c.now.Store(Nanotime())
			}
		}
	}()
	return c
}

// Now returns the time of the last tick.
func (c *CoarseClock) Now() int64 { return c.now.Load() }

// Stop ends the ticker goroutine; Now keeps returning the last value.
func (c *CoarseClock) Stop() {
	c.once.Do(func() {
		close(c.stop)
		<-c.done
	})
}
