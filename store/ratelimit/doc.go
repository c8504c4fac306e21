// Package ratelimit holds Sluice's throttling state: token buckets and
// per-consumer quotas that survive configuration reloads. A compiled
// policy.Snapshot keeps *Limit values and a Store handle; the state itself
// (bucket levels, quota counters) lives here, keyed by uint64 hashes that the
// caller computes with xxhash.
//
// # Algorithm
//
// Buckets use GCRA (the generic cell rate algorithm), which is a token bucket
// expressed as one number: the theoretical arrival time TAT, in Unix
// nanoseconds. With T = 1s/Rate (nanoseconds per token) and tau = T*Burst, a
// request of cost c at time now computes
//
//	next = max(TAT, now) + c*T
//
// and is allowed when next-now <= tau, in which case TAT becomes next. The
// bucket holds (tau - max(TAT-now, 0)) / T tokens; TAT <= now means full. One
// int64 per bucket is the whole state, so an update is a single
// compare-and-swap with no lock, no second word and no torn reads, which is
// why GCRA was chosen over a two-field (tokens, last refill) bucket.
//
// Quotas (PeriodMinute, PeriodHour, PeriodDay) are fixed windows aligned to
// UTC minute, hour and day boundaries (Unix time has no leap seconds, so
// now/period is the window index). Their state is one int64 too: a 23-bit
// window tag and a 40-bit count.
//
// # Several limits in one call
//
// Allow checks all requests of one call together and either takes from all of
// them or from none. It works in two phases:
//
//  1. Check: read every state word and evaluate it at now without writing.
//     If any request would be denied, the call is denied and nothing is
//     written at all. This is the common denial path (a flood against one
//     limit), and it costs no writes to shared cache lines.
//  2. Take: in order, CAS each state word from the value read in phase 1 to
//     its new value, re-evaluating on CAS failure. If a concurrent caller took
//     the last tokens in between and request i is now denied, the tokens taken
//     for requests 0..i-1 are refunded and the call is denied at i.
//
// A refund puts back exactly what was taken: if the word still holds the
// value this call wrote, it is restored to the value it replaced; otherwise
// c*T is subtracted from the bucket's TAT (clamped at now, i.e. never above
// full), and for a quota the count is decreased only while it is still the
// same window. With a frozen clock (all tests) this is exact under any
// interleaving, because the operations are additions that commute. With a
// moving clock a refund can credit at most the refunded cost more than an
// exact replay would, and only when the bucket refilled to full during the
// nanoseconds between take and refund; it never rises above Burst. Between
// take and refund other callers see the tokens as taken, so they may be
// denied where a serial order would have let them pass; they are never let
// through where a serial order would have denied them, which is the property
// that matters: no double spending.
//
// # Keys, shards, eviction
//
// Entries live in a power-of-two number of shards; each shard is an
// open-addressing table published through an atomic pointer. Looking up an
// existing key takes no lock at all (atomic loads only); the shard mutex is
// taken only to create a key, by the sweeper, and to resize the table.
//
// A bucket is evicted only when it is full (TAT <= now - IdleTimeout), a
// quota only when its window has ended or its count is zero: in both cases a
// re-created entry starts in exactly the same state, so eviction never loses
// or resurrects tokens. Eviction CASes the state word to a dead mark before
// unlinking the entry; a caller that loaded the entry earlier fails its CAS
// on the dead mark and looks the key up again, so no update can land on an
// unlinked entry.
package ratelimit
