package ratelimit

// A quota's state word packs the window tag (window index modulo 2^23, bits
// 40..62) and the count used in that window (bits 0..39). Bit 63 stays zero
// so no live word equals the dead mark. The tag wraps after 2^23 windows
// (16 years of minutes); an entry is evicted long before, once its window
// has ended.
const (
	countBits = 40
	countMask = int64(1)<<countBits - 1
	tagMask   = int64(1)<<23 - 1
)

func quotaTag(win int64) int64 { return win & tagMask }

// decideQuota is the header-free part of evalQuota.
func decideQuota(w, now, cost int64, l *Limit) (next int64, ok bool) {
	tag := quotaTag(now / l.interval)
	var count int64
	if w>>countBits == tag {
		count = w & countMask
	}
	return tag<<countBits | (count + cost), cost <= l.Burst-count
}

// evalQuota charges cost against the window that contains now.
func evalQuota(w, now, cost int64, l *Limit) outcome {
	win := now / l.interval
	tag := quotaTag(win)
	var count int64
	if w>>countBits == tag {
		count = w & countMask
	}
	reset := (win+1)*l.interval - now
	if cost > l.Burst-count {
		avail := l.Burst - count
		if avail < 0 {
			avail = 0
		}
		return outcome{next: w, wait: reset, remaining: avail, reset: reset}
	}
	return outcome{next: tag<<countBits | (count + cost), ok: true, remaining: l.Burst - count - cost, reset: reset}
}

// refundQuota gives back cost units taken in the window of now. A window
// that has since ended owes nothing: its count no longer matters.
func refundQuota(e *entry, now, cost int64, l *Limit) {
	tag := quotaTag(now / l.interval)
	for {
		cur := e.state.Load()
		if cur == dead || cur>>countBits != tag {
			return
		}
		count := cur & countMask
		if count < cost {
			panic("BUG: ratelimit: quota refund larger than the window's count")
		}
		if e.state.CompareAndSwap(cur, tag<<countBits|(count-cost)) {
			return
		}
	}
}

// quotaEvictable reports whether dropping a quota entry loses nothing: its
// count is zero, or its window ended more than idle nanoseconds ago.
func quotaEvictable(w, now, idle int64, p Period) bool {
	if w&countMask == 0 {
		return true
	}
	pn := p.nanos()
	tag := w >> countBits
	return tag != quotaTag(now/pn) && tag != quotaTag((now-idle)/pn)
}
