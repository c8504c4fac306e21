package ratelimit

import "time"

// MaxRequests is the most requests one Allow call may check together. The
// check keeps per-request scratch in fixed arrays on the stack, which is
// what makes Allow allocation-free.
const MaxRequests = 8

// Store decides whether a set of limits admits a request. Implementations
// are safe for concurrent use. The local sharded store (Local) implements it;
// a Redis-backed store slots in behind the same interface.
type Store interface {
	// Allow checks reqs together at now (Unix nanoseconds from a monotonic
	// source, see Nanotime and CoarseClock). Either every request is charged
	// its cost or none is. It must not allocate and must not retain reqs.
	Allow(now int64, reqs []Request) Decision
}

// Request is one limit to check for one client request. Values are built
// per client request in a caller-owned slice (often a fixed array on the
// stack), so Request is small and has no pointers into request memory.
type Request struct {
	// Key identifies the bucket or quota counter, normally an xxhash of the
	// limit's scope (API, consumer, client IP...). Two requests with the same
	// Key and the same kind (bucket, or quota of the same Period) share state,
	// so limits that must be independent need distinct keys; the Period is
	// mixed into the key, so one consumer key may serve its minute, hour and
	// day quotas and its bucket at once (the mixing is an XOR with a
	// per-period constant, so two keys collide with odds of 2^-64, the same
	// as two xxhash scope strings).
	Key uint64
	// Limit is the compiled rate or quota; it must come from NewLimit or
	// NewQuota.
	Limit *Limit
	// Cost is the number of tokens or quota units to take; 0 means 1. A cost
	// above Limit.Burst is always denied.
	Cost int64
}

// Decision is the outcome of one Allow call. Limit, Remaining and Reset
// describe the most restrictive request (fewest remaining units after this
// call; on denial, the denying request), ready for RateLimit-* headers.
type Decision struct {
	// Allowed reports whether every request was charged.
	Allowed bool
	// Denied is the index in reqs of the denying request, -1 when allowed.
	// When several would deny, it is the one with the longest RetryAfter.
	Denied int
	// RetryAfter is, on denial, how long until the denying request's bucket
	// holds its cost (or its quota window ends); 0 when allowed.
	RetryAfter time.Duration
	// Limit is the Burst of the most restrictive request.
	Limit int64
	// Remaining is the units left in that bucket or window after this call.
	Remaining int64
	// Reset is how long until that bucket is full again or its quota window
	// ends.
	Reset time.Duration
}

// RetryAfterSeconds converts d to whole seconds for a Retry-After header:
// rounded up, and at least 1 so that a client never retries at once.
func RetryAfterSeconds(d time.Duration) int {
	if d <= time.Second {
		return 1
	}
	s := d / time.Second
	if d%time.Second != 0 {
		s++
	}
	return int(s)
}
