package accesslog

import (
	"net/netip"
	"time"
	"unicode/utf8"
)

// Field names a variable-length record field that is copied into the
// record's byte arena.
type Field uint8

// Variable-length fields. Their per-field maximum lengths are in fieldMax.
const (
	FieldRequestID Field = iota // max 64 bytes
	FieldTraceID                // max 64 bytes
	FieldConsumer               // max 128 bytes
	FieldClientIP               // max 64 bytes
	FieldMethod                 // max 32 bytes
	FieldHost                   // max 256 bytes
	FieldPath                   // max 1024 bytes
	FieldQuery                  // max 1024 bytes; kept only when include_query is on
	FieldErrorCode              // max 64 bytes
	FieldUpstream               // max 256 bytes
	FieldUserAgent              // max 256 bytes
	numFields
)

// ArenaSize is the byte arena of one record. The per-field maxima add up to
// more than this on purpose: a request with a 1 KiB path and a 1 KiB query is
// rare, and sizing every slot for the worst case would triple the ring's
// memory. Fields are packed in the order they are set; once the arena is full,
// later fields are truncated (possibly to empty). Set the long, less useful
// fields (query, user agent) last.
const ArenaSize = 2048

// fieldMax is the maximum stored length of each field in bytes; longer values
// are truncated at a UTF-8 boundary.
var fieldMax = [numFields]uint16{
	FieldRequestID: 64,
	FieldTraceID:   64,
	FieldConsumer:  128,
	FieldClientIP:  64,
	FieldMethod:    32,
	FieldHost:      256,
	FieldPath:      1024,
	FieldQuery:     1024,
	FieldErrorCode: 64,
	FieldUpstream:  256,
	FieldUserAgent: 256,
}

// MaxFieldLen returns the maximum number of bytes stored for f.
func MaxFieldLen(f Field) int { return int(fieldMax[f]) }

// CacheStatus is the response cache outcome of a request.
type CacheStatus uint8

// Cache outcomes; CacheNone means the API has no cache.
const (
	CacheNone CacheStatus = iota
	CacheHit
	CacheMiss
	CacheBypass
	// CacheStale: a stale answer served (max-stale, stale-while-revalidate,
	// stale-if-error); CacheRevalidated: the origin was asked conditionally;
	// CacheCoalesced: a hit after waiting for another request's fill.
	CacheStale
	CacheRevalidated
	CacheCoalesced
	numCacheStatus
)

var cacheNames = [numCacheStatus]string{"none", "hit", "miss", "bypass", "stale", "revalidated", "coalesced"}

func (c CacheStatus) String() string {
	if c >= numCacheStatus {
		return "invalid"
	}
	return cacheNames[c]
}

// ThrottleOutcome is the throttling outcome of a request.
type ThrottleOutcome uint8

// Throttle outcomes; ThrottleNone means the API has no throttling.
const (
	ThrottleNone ThrottleOutcome = iota
	ThrottlePass
	ThrottleLimited
	numThrottle
)

var throttleNames = [numThrottle]string{"none", "pass", "limited"}

func (t ThrottleOutcome) String() string {
	if t >= numThrottle {
		return "invalid"
	}
	return throttleNames[t]
}

// AuthOutcome is the authentication outcome of a request.
type AuthOutcome uint8

// Auth outcomes; AuthNone means the API requires no authentication.
const (
	AuthNone      AuthOutcome = iota
	AuthOK                    // credentials verified
	AuthAnonymous             // optional auth, none presented
	AuthFailed                // 401: missing or invalid credentials
	AuthForbidden             // 403: valid credentials, not allowed
	numAuth
)

var authNames = [numAuth]string{"none", "ok", "anonymous", "failed", "forbidden"}

func (a AuthOutcome) String() string {
	if a >= numAuth {
		return "invalid"
	}
	return authNames[a]
}

// Record is one access-log entry. It has a fixed size and holds no pointers
// into request memory: byte fields are copied into its own arena by Set.
//
// A Record obtained from Logger.Reserve belongs to the calling goroutine
// until it is passed to Logger.Commit; after that it must not be touched.
// Records are not safe for concurrent use. Do not copy a reserved Record.
type Record struct {
	// pos is the queue position this record was reserved at, idx its
	// index in the ring's record array; both are owned by the ring.
	pos uint64
	idx uint32

	// keepQuery is fixed when the ring is built: FieldQuery is dropped at
	// copy time when the query string is not logged.
	keepQuery bool

	// Time is when the request arrived, Unix nanoseconds. Encoded as
	// RFC 3339 UTC with milliseconds.
	Time int64
	// Status is the HTTP status sent to the client; Reserve sets it.
	Status int
	// BytesIn and BytesOut are request and response body sizes.
	BytesIn, BytesOut int64
	// Total is the whole request latency; Backend the part spent waiting for
	// the upstream. Gateway time is derived as Total-Backend at encode time.
	Total, Backend time.Duration
	// Attempts is how many upstream tries the request took (retries and
	// failovers included; 0 when no upstream was asked).
	Attempts int

	// Group, Stage and API are config names. They may be plain strings
	// because the immutable config snapshot owns them, not the request.
	Group, Stage, API string

	Cache    CacheStatus
	Throttle ThrottleOutcome
	Auth     AuthOutcome

	used uint16
	off  [numFields]uint16
	n    [numFields]uint16
	// arena holds the variable-length fields, packed in the order set.
	arena [ArenaSize]byte
}

// reset clears a record for reuse without clearing the arena, which the
// offsets make unreachable; clearing 2 KiB per request would be wasted work.
func (r *Record) reset() {
	r.Time = 0
	r.Status = 0
	r.BytesIn, r.BytesOut = 0, 0
	r.Total, r.Backend = 0, 0
	r.Attempts = 0
	r.Group, r.Stage, r.API = "", "", ""
	r.Cache, r.Throttle, r.Auth = CacheNone, ThrottleNone, AuthNone
	r.used = 0
	r.off = [numFields]uint16{}
	r.n = [numFields]uint16{}
}

// Set copies b into field f, truncated to the field's maximum length and to
// the arena space left, at a UTF-8 boundary. Setting a field again replaces
// its value (the old bytes stay in the arena, unused). Zero allocations.
func (r *Record) Set(f Field, b []byte) {
	if f >= numFields {
		panic("BUG: accesslog: invalid field")
	}
	if f == FieldQuery && !r.keepQuery {
		return
	}
	max := int(fieldMax[f])
	if left := ArenaSize - int(r.used); left < max {
		max = left
	}
	if len(b) > max {
		b = b[:truncUTF8(b, max)]
	}
	start := int(r.used)
	n := copy(r.arena[start:], b)
	r.off[f] = uint16(start)
	r.n[f] = uint16(n)
	r.used += uint16(n)
}

// SetString is Set for a string value.
func (r *Record) SetString(f Field, s string) {
	if f >= numFields {
		panic("BUG: accesslog: invalid field")
	}
	if f == FieldQuery && !r.keepQuery {
		return
	}
	max := int(fieldMax[f])
	if left := ArenaSize - int(r.used); left < max {
		max = left
	}
	if len(s) > max {
		s = s[:truncUTF8String(s, max)]
	}
	start := int(r.used)
	n := copy(r.arena[start:], s)
	r.off[f] = uint16(start)
	r.n[f] = uint16(n)
	r.used += uint16(n)
}

// SetClientAddr stores the client address's text form in FieldClientIP.
func (r *Record) SetClientAddr(a netip.Addr) {
	var tmp [64]byte
	r.Set(FieldClientIP, a.AppendTo(tmp[:0]))
}

// Get returns the stored bytes of field f. The slice aliases the record.
func (r *Record) Get(f Field) []byte {
	o := int(r.off[f])
	return r.arena[o : o+int(r.n[f])]
}

// SetKeepQuery decides whether FieldQuery is stored. Logger sets it from
// Config.IncludeQuery; it is exported for records built outside a Logger
// (tests, tools) that are encoded directly.
func (r *Record) SetKeepQuery(keep bool) { r.keepQuery = keep }

// truncUTF8 returns the largest n <= max such that b[:n] does not end in a
// cut multi-byte sequence. Invalid input is cut at max as is.
func truncUTF8(b []byte, max int) int {
	if max >= len(b) {
		return len(b)
	}
	// Back off over at most 3 continuation bytes to the start of the rune
	// that straddles the cut.
	for i := max; i >= 0 && i > max-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return max
}

func truncUTF8String(s string, max int) int {
	if max >= len(s) {
		return len(s)
	}
	for i := max; i >= 0 && i > max-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			return i
		}
	}
	return max
}
