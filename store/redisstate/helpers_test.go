package redisstate

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/sluicegw/sluice/store/ratelimit"
)

// testTimeout is the Redis timeout in these tests: far above the default
// because the test machine is shared (two cores, load averages above 20
// seen), so that a scheduling hiccup does not open a breaker in a test
// about accuracy.
const testTimeout = 200 * time.Millisecond

// fleet is three "nodes": a Conn and a Limiter each, sharing one Redis.
type fleet struct {
	conns []*Conn
	lims  []*Limiter
}

func newFleet(t *testing.T, addrs []string, o LimiterOptions) *fleet {
	t.Helper()
	f := &fleet{}
	for range 3 {
		c, err := Dial(Options{Addrs: addrs, Timeout: testTimeout, DialTimeout: 200 * time.Millisecond, ProbeInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		// A loaded machine can miss the first dial; the prober redials.
		for start := time.Now(); !c.Healthy(); time.Sleep(10 * time.Millisecond) {
			if time.Since(start) > 5*time.Second {
				t.Fatal("Redis not reachable at start")
			}
		}
		o.FleetSize = 3
		l, err := NewLimiter(c, o)
		if err != nil {
			t.Fatal(err)
		}
		f.conns = append(f.conns, c)
		f.lims = append(f.lims, l)
	}
	t.Cleanup(func() {
		for i := range f.lims {
			f.lims[i].Close()
			f.conns[i].Close()
		}
	})
	return f
}

func (f *fleet) healthy() bool {
	for _, c := range f.conns {
		if !c.Healthy() {
			return false
		}
	}
	return true
}

// drive runs two paced callers per node for d and returns the admitted
// requests per node, the attempts in total and the slowest Allow call.
// Each caller makes a few calls per wake-up, so the offered load stays
// well above the limits under test even when a loaded machine stretches
// the sleeps.
func (f *fleet) drive(d, gap time.Duration, reqs []ratelimit.Request) (admitted []int64, attempts int64, slowest time.Duration) {
	admitted = make([]int64, len(f.lims))
	var tried, worst atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for i, l := range f.lims {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var ok int64
				for time.Now().Before(end) {
					for range 4 {
						t0 := time.Now()
						dec := l.Allow(ratelimit.Nanotime(), reqs)
						if el := int64(time.Since(t0)); el > worst.Load() {
							worst.Store(el) // racy max: good enough for a bound check
						}
						tried.Add(1)
						if dec.Allowed {
							ok++
						}
					}
					time.Sleep(gap)
				}
				atomic.AddInt64(&admitted[i], ok)
			}()
		}
	}
	wg.Wait()
	return admitted, tried.Load(), time.Duration(worst.Load())
}

func sum(v []int64) int64 {
	var s int64
	for _, x := range v {
		s += x
	}
	return s
}

func counterValue(c *metrics.Counter) uint64 { return c.Get() }
