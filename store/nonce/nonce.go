// Package nonce remembers request nonces to detect replays.
//
// A Store answers one question atomically: was this key seen within the
// window? If not, it records the key. The key is the caller's choice
// (policy/casign uses a length-prefixed app key followed by X-Ca-Nonce), so
// one store can serve many consumers and APIs.
//
// Local is the in-process implementation: fixed memory, sharded, zero
// allocations per call. A Redis-backed Store (SET key NX PX window) can
// implement the same interface for a fleet sharing one replay view.
//
// The store outlives configuration snapshots: build it once and hand the
// same instance to every snapshot, or a reload would forget live nonces.
package nonce

import "time"

// Store records keys for a while and reports repeats. Implementations must be
// safe for concurrent use, must not retain key, and on the request path must
// not block on the network beyond a short deadline.
type Store interface {
	// Seen reports whether key was recorded within window before now (Unix
	// nanoseconds). If it was not, Seen records it until now+window and
	// returns false. A store that cannot record a new key (full, or its
	// backend unreachable) must return true: refusing a request is safe,
	// forgetting a nonce is not.
	Seen(now int64, key []byte, window time.Duration) bool
}
