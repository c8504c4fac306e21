package ratelimit

// dead marks an evicted entry's state word. A bucket's TAT and a quota's
// packed word are never negative, so the mark cannot be a live state.
const dead = int64(-1 << 63)

// outcome is one request's evaluation at now.
type outcome struct {
	next      int64 // state after taking (equal to the old state when denied)
	ok        bool
	wait      int64 // denied: ns until the cost fits
	remaining int64 // units left after taking (denied: units available now)
	reset     int64 // ns until full again / until the window ends
}

// decideBucket is the header-free part of evalBucket, which the check and
// the CAS loop run: no division, small enough to inline.
func decideBucket(tat, now, cost int64, l *Limit) (next int64, ok bool) {
	next = max(tat, now) + cost*l.interval
	return next, cost <= l.Burst && next-now <= l.tau
}

// evalBucket applies GCRA to state tat; see the package comment.
func evalBucket(tat, now, cost int64, l *Limit) outcome {
	base := tat
	if base < now {
		base = now
	}
	if cost > l.Burst {
		// Can never fit; report the time until full, which is the best a
		// retry could hope for, and do not compute cost*T (may overflow).
		return outcome{next: tat, wait: base - now + l.interval, remaining: (l.tau - (base - now)) / l.interval, reset: base - now}
	}
	next := base + cost*l.interval
	if next-now > l.tau {
		return outcome{next: tat, wait: next - l.tau - now, remaining: (l.tau - (base - now)) / l.interval, reset: base - now}
	}
	return outcome{next: next, ok: true, remaining: (l.tau - (next - now)) / l.interval, reset: next - now}
}

// refundBucket gives back cost tokens taken by changing the state from prev
// to took. If nobody else wrote since, prev is restored exactly; otherwise
// the tokens are subtracted from the TAT, never past full (now).
func refundBucket(e *entry, prev, took, now, cost int64, l *Limit) {
	inc := cost * l.interval
	for {
		cur := e.state.Load()
		if cur == dead || cur <= now {
			// Evicted (it was full by the sweeper's clock) or full already:
			// nothing left to give back.
			return
		}
		nv := prev
		if cur != took {
			nv = cur - inc
			if nv < now {
				nv = now
			}
		}
		if e.state.CompareAndSwap(cur, nv) {
			return
		}
	}
}

// bucketEvictable reports whether a bucket with state tat is full and has
// been so for idle nanoseconds, so that dropping it loses nothing.
func bucketEvictable(tat, now, idle int64) bool {
	return tat <= now-idle
}
