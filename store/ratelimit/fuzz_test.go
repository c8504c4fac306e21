package ratelimit

import (
	"testing"
	"time"
)

// modelBucket is a plain token bucket counted in nanoseconds of credit: the
// textbook definition GCRA must agree with.
type modelBucket struct {
	credit, last int64
	l            *Limit
}

func (m *modelBucket) eval(now, cost int64) outcome {
	c := min(m.l.tau, m.credit+now-m.last)
	need := cost * m.l.interval
	if cost > m.l.Burst {
		return outcome{wait: m.l.tau - c + m.l.interval, remaining: c / m.l.interval, reset: m.l.tau - c}
	}
	if c < need {
		return outcome{wait: need - c, remaining: c / m.l.interval, reset: m.l.tau - c}
	}
	return outcome{ok: true, remaining: (c - need) / m.l.interval, reset: m.l.tau - (c - need)}
}

func (m *modelBucket) take(now, cost int64) {
	m.credit = min(m.l.tau, m.credit+now-m.last) - cost*m.l.interval
	m.last = now
}

// modelQuota is a fixed-window counter.
type modelQuota struct {
	win, count int64
	l          *Limit
}

func (m *modelQuota) eval(now, cost int64) outcome {
	win := now / m.l.interval
	count := m.count
	if win != m.win {
		count = 0
	}
	reset := (win+1)*m.l.interval - now
	if count+cost > m.l.Burst {
		return outcome{wait: reset, remaining: m.l.Burst - count, reset: reset}
	}
	return outcome{ok: true, remaining: m.l.Burst - count - cost, reset: reset}
}

func (m *modelQuota) take(now, cost int64) {
	if win := now / m.l.interval; win != m.win {
		m.win, m.count = win, 0
	}
	m.count += cost
}

// FuzzAllowModel replays a byte-coded sequence of calls (time steps,
// subsets of two buckets and a quota, costs, sweeps) against the store and
// against the models, and requires identical decisions. Sweeps run with a
// zero idle timeout, so eviction must never change a decision either.
func FuzzAllowModel(f *testing.F) {
	f.Add([]byte{10, 3, 2, 5, 0, 7, 0, 7, 0, 7, 0, 7, 200, 0x87, 255, 3, 1, 0x41})
	f.Add([]byte{1, 1, 1, 1, 0, 3, 0, 3, 0, 3, 50, 3, 0, 0x1b, 254, 5})
	f.Add([]byte{49, 9, 9, 19, 0, 0x3f, 0, 0x3f, 3, 0xff, 255, 0xff, 255, 0x07})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 4 {
			return
		}
		l1 := MustLimit(float64(1+data[0]%50), int64(1+data[1]%10))
		l2 := MustLimit(float64(1+data[1]%7)/4, int64(1+data[2]%10))
		q := MustQuota(PeriodMinute, int64(1+data[3]%20))
		st := newTestStore(t, Options{Shards: 2})
		st.idle = 0
		now := t0 + int64(data[0])*int64(time.Second)
		b1 := &modelBucket{credit: l1.tau, last: now, l: l1}
		b2 := &modelBucket{credit: l2.tau, last: now, l: l2}
		mq := &modelQuota{l: q}
		all := []Request{{Key: 1, Limit: l1}, {Key: 2, Limit: l2}, {Key: 1, Limit: q}}
		for i := 4; i+1 < len(data); i += 2 {
			step, op := data[i], data[i+1]
			switch step {
			case 255:
				now += int64(time.Minute)
			case 254:
				now += int64(time.Hour)
			default:
				now += int64(step) * int64(7*time.Millisecond)
			}
			if op&0x80 != 0 {
				st.Sweep(now)
			}
			cost := int64(op>>3) & 3
			var reqs [3]Request
			var idx [3]int
			n := 0
			for j := range 3 {
				if op&(1<<j) != 0 {
					reqs[n], idx[n] = all[j], j
					reqs[n].Cost = cost
					n++
				}
			}
			if cost == 0 {
				cost = 1
			}
			got := st.Allow(now, reqs[:n])

			want := Decision{Allowed: true, Denied: -1, Remaining: -1}
			var outs [3]outcome
			for k := range n {
				switch idx[k] {
				case 0:
					outs[k] = b1.eval(now, cost)
				case 1:
					outs[k] = b2.eval(now, cost)
				case 2:
					outs[k] = mq.eval(now, cost)
				}
				o := outs[k]
				if !o.ok && (want.Allowed || o.wait > int64(want.RetryAfter)) {
					want = Decision{Denied: k, RetryAfter: time.Duration(o.wait), Limit: reqs[k].Limit.Burst, Remaining: o.remaining, Reset: time.Duration(o.reset)}
				}
				if want.Allowed && (want.Remaining < 0 || o.remaining < want.Remaining || (o.remaining == want.Remaining && time.Duration(o.reset) > want.Reset)) {
					want.Limit, want.Remaining, want.Reset = reqs[k].Limit.Burst, o.remaining, time.Duration(o.reset)
				}
			}
			if want.Allowed {
				if want.Remaining < 0 {
					want.Remaining = 0
				}
				for k := range n {
					switch idx[k] {
					case 0:
						b1.take(now, cost)
					case 1:
						b2.take(now, cost)
					case 2:
						mq.take(now, cost)
					}
				}
			}
			if got != want {
				t.Fatalf("op %d at t0%+v, reqs %v cost %d:\n got %+v\nwant %+v", i, time.Duration(now-t0), idx[:n], cost, got, want)
			}
		}
	})
}
