package redisstate

import (
	"math"
	"testing"
	"time"

	"github.com/sluicegw/sluice/store/ratelimit"
	"github.com/sluicegw/sluice/store/redisstate/redistest"
)

// callCounter reports the lease and nonce commands a deployment executed.
type callCounter interface {
	CommandCalls(names ...string) int64
}

// testFleetRate: three nodes, one Redis (or Cluster), a fleet limit of
// 1000/s with burst 100, offered about 4x that for 5 s. Admitted must be
// 1000*5 (+burst) within ±5 %, with under 0.1 Redis commands per admitted
// request as counted by the server's INFO commandstats.
func testFleetRate(t *testing.T, addrs []string, srv callCounter, d time.Duration) {
	f := newFleet(t, addrs, LimiterOptions{})
	lim := ratelimit.MustLimit(1000, 100)
	reqs := []ratelimit.Request{{Key: 0xc0ffee, Limit: lim}}
	before := srv.CommandCalls("evalsha", "eval")
	admitted, attempts, slowest := f.drive(d, 500*time.Microsecond, reqs)
	calls := srv.CommandCalls("evalsha", "eval") - before
	total := sum(admitted)
	want := 1000 * d.Seconds()
	t.Logf("%v: attempts %d, admitted %d per node %v (want %.0f ±5%%, burst 100 included), Redis lease commands %d = %.4f per admitted, slowest Allow %v",
		d, attempts, total, admitted, want, calls, float64(calls)/float64(total), slowest)
	if attempts < int64(2*want) {
		t.Fatalf("offered load too low to test the limit: %d attempts", attempts)
	}
	if math.Abs(float64(total)-want) > 0.05*want {
		t.Errorf("admitted %d, want %.0f ±5%%", total, want)
	}
	if r := float64(calls) / float64(total); r >= 0.1 {
		t.Errorf("%.3f Redis commands per admitted request, want < 0.1", r)
	}
	if !f.healthy() {
		t.Errorf("a breaker opened during the run")
	}
	for i, a := range admitted {
		if a == 0 {
			t.Errorf("node %d admitted nothing", i)
		}
	}
}

func TestFleetRateStandalone(t *testing.T) {
	s := redistest.Start(t)
	testFleetRate(t, []string{s.Addr}, s, 5*time.Second)
}

func TestFleetRateCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	testFleetRate(t, c.Addrs, c, 4*time.Second)
}

// testFleetQuota: a daily quota of 5000 shared by three nodes, driven until
// every node has been refused many times in a row: 5000 ±1 % admitted.
func testFleetQuota(t *testing.T, addrs []string) {
	f := newFleet(t, addrs, LimiterOptions{})
	q := ratelimit.MustQuota(ratelimit.PeriodDay, 5000)
	reqs := []ratelimit.Request{{Key: 0xfeed, Limit: q}}
	var total int64
	for round := 0; round < 40; round++ {
		admitted, _, _ := f.drive(250*time.Millisecond, 100*time.Microsecond, reqs)
		total += sum(admitted)
		if sum(admitted) == 0 && total > 0 {
			break
		}
	}
	t.Logf("daily quota 5000 over three nodes: admitted %d", total)
	if math.Abs(float64(total)-5000) > 50 {
		t.Errorf("admitted %d, want 5000 ±1%%", total)
	}
	if !f.healthy() {
		t.Errorf("a breaker opened during the run")
	}
}

func TestFleetQuotaStandalone(t *testing.T) {
	s := redistest.Start(t)
	testFleetQuota(t, []string{s.Addr})
}

func TestFleetQuotaCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	testFleetQuota(t, c.Addrs)

	// All limits of one caller key live in one slot, so one node owns them.
	l := newDetachedLimiter(t, LimiterOptions{})
	now := ratelimit.Nanotime()
	ls := &lease{key: 0xfeed}
	var slot string
	for _, lim := range []*ratelimit.Limit{ratelimit.MustLimit(1, 1), ratelimit.MustQuota(ratelimit.PeriodMinute, 1),
		ratelimit.MustQuota(ratelimit.PeriodHour, 1), ratelimit.MustQuota(ratelimit.PeriodDay, 1)} {
		key, _ := l.keyFor(ls, lim, now)
		got, err := c.Servers[0].Do("CLUSTER", "KEYSLOT", key)
		if err != nil {
			t.Fatal(err)
		}
		if slot == "" {
			slot = got
		} else if got != slot {
			t.Errorf("%s in slot %s, want %s like the bucket", key, got, slot)
		}
	}
}
