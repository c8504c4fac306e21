package cache

import "github.com/sluicegw/sluice/policy/httpbytes"

// RFC 9111 rules for a SHARED cache: what may be stored (§3, §3.5), how long
// it stays fresh (§4.2.1, §4.2.2), how old it is (§4.2.3) and whether a
// stored answer may be served for a request (§4.2, §4.2.4, §5.2.1, RFC 5861).
// All times are Unix seconds and all durations seconds: HTTP dates have a
// one-second resolution, and a coarse clock is enough for the callers.

// StatusSet is a set of HTTP status codes 100-599. The zero value is empty.
// It is a plain array: safe to copy and to read concurrently.
type StatusSet [8]uint64

// Add puts code in the set; codes outside 100-599 are ignored.
func (s *StatusSet) Add(code int) {
	if code >= 100 && code < 600 {
		c := code - 100
		s[c>>6] |= 1 << (c & 63)
	}
}

// Has reports whether code is in the set.
func (s *StatusSet) Has(code int) bool {
	if code < 100 || code >= 600 {
		return false
	}
	c := code - 100
	return s[c>>6]&(1<<(c&63)) != 0
}

// NewStatusSet returns a set holding codes.
func NewStatusSet(codes ...int) StatusSet {
	var s StatusSet
	for _, c := range codes {
		s.Add(c)
	}
	return s
}

// DefaultStatuses are the statuses Sluice caches unless an API lists its own
// (the list, taken from RFC 9110's heuristically cacheable codes
// without 206, 308, 405, 414 and 501).
var DefaultStatuses = NewStatusSet(200, 203, 204, 300, 301, 404, 410)

// heuristicStatuses are the codes RFC 9110 §15.1 defines as heuristically
// cacheable: only these (or an answer marked public) may get a heuristic
// freshness lifetime (RFC 9111 §4.2.2).
var heuristicStatuses = NewStatusSet(200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501)

// Response is what the freshness rules need to know about an origin answer:
// its directives and the parsed date fields. Fill it with ParseResponseField
// or by hand. The zero value is "no caching headers".
type Response struct {
	CC              Directives
	Date            int64 // valid when HasDate
	Expires         int64 // valid when HasExpires; an invalid Expires sets ExpiresInvalid instead
	LastModified    int64 // valid when HasLastModified
	Age             int64 // valid when HasAge
	HasDate         bool
	HasExpires      bool
	ExpiresInvalid  bool
	HasLastModified bool
	HasAge          bool
}

// Reset clears r for the next response.
func (r *Response) Reset() { *r = Response{} }

// ParseResponseField feeds one response header line into r; names it does not
// know are ignored. Call it for every header line (Cache-Control may repeat;
// for the single-valued fields the first line wins). now resolves two-digit
// years (see ParseHTTPDate).
func (r *Response) ParseResponseField(name, value []byte, now int64) {
	switch len(name) {
	case 3:
		if eqFold(name, "age") && !r.HasAge {
			r.Age, r.HasAge = ParseAge(value)
		}
	case 4:
		if eqFold(name, "date") && !r.HasDate {
			r.Date, r.HasDate = ParseHTTPDate(value, now)
		}
	case 7:
		if eqFold(name, "expires") && !r.HasExpires && !r.ExpiresInvalid {
			// RFC 9111 §5.3: an invalid Expires (the value "0" included)
			// means "already expired".
			r.Expires, r.HasExpires = ParseHTTPDate(value, now)
			r.ExpiresInvalid = !r.HasExpires
		}
	case 13:
		if eqFold(name, "cache-control") {
			ParseCacheControl(&r.CC, value)
		} else if eqFold(name, "last-modified") && !r.HasLastModified {
			r.LastModified, r.HasLastModified = ParseHTTPDate(value, now)
		}
	}
}

// Reason says why an answer is not stored; Storable (0) means it may be.
type Reason uint8

const (
	Storable Reason = iota
	RefuseMethod
	RefuseStatus
	RefuseNoStore
	RefusePrivate
	RefuseAuthorization
	RefuseSetCookie
	RefuseVaryStar
	RefuseNoFreshness
)

var reasonNames = [...]string{"storable", "method", "status", "no-store", "private", "authorization", "set-cookie", "vary-star", "no-freshness"}

// String names the reason for logs and metrics labels.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// StoreInput describes one exchange for the storability decision.
type StoreInput struct {
	Method     []byte
	Status     int
	Req        *Directives // request Cache-Control; nil means none
	Resp       *Response
	Statuses   *StatusSet // the API's cached statuses; nil means DefaultStatuses
	Vary       []byte     // the response's Vary value(s), joined with commas
	HasAuth    bool       // the request carried Authorization
	SetCookie  bool       // the response carries Set-Cookie
	CookieOK   bool       // the API is configured to cache answers with Set-Cookie
	DefaultTTL int64      // the API's ttl (seconds, 0 = none): counts as freshness information
}

// MayStore decides whether a shared cache may store the answer, per RFC 9111
// §3 and §3.5 plus the rules (configured statuses, Set-Cookie).
// Only GET answers are stored: HEAD is answered from the GET entry, and
// storing answers to other methods needs Content-Location handling Sluice does
// not do. 206 and 304 are never stored (no range combining; a 304 refreshes
// an entry through Refresh instead).
func MayStore(in *StoreInput) Reason {
	if string(in.Method) != "GET" {
		return RefuseMethod
	}
	st := in.Statuses
	if st == nil {
		st = &DefaultStatuses
	}
	if in.Status == 206 || in.Status == 304 || !st.Has(in.Status) {
		return RefuseStatus
	}
	cc := &in.Resp.CC
	if cc.Flags&CCNoStore != 0 || (in.Req != nil && in.Req.Flags&CCNoStore != 0) {
		return RefuseNoStore
	}
	if cc.Flags&CCPrivate != 0 {
		return RefusePrivate
	}
	if in.HasAuth && cc.Flags&(CCPublic|CCMustRevalidate|CCHasSMaxAge) == 0 {
		// RFC 9111 §3.5: only these three let a shared cache reuse an answer
		// to an authenticated request.
		return RefuseAuthorization
	}
	if in.SetCookie && !in.CookieOK {
		return RefuseSetCookie
	}
	if VaryStar(in.Vary) {
		return RefuseVaryStar
	}
	if cc.Flags&(CCPublic|CCHasMaxAge|CCHasSMaxAge) != 0 || in.Resp.HasExpires || in.Resp.ExpiresInvalid ||
		in.DefaultTTL > 0 || heuristicStatuses.Has(in.Status) {
		return Storable
	}
	return RefuseNoFreshness
}

// VaryStar reports whether a Vary value lists "*" (the answer varies on
// things outside the request and cannot be reused, RFC 9111 §4.1).
func VaryStar(vary []byte) bool {
	i := 0
	for i < len(vary) {
		j := i
		for j < len(vary) && vary[j] != ',' {
			j++
		}
		if m := httpbytes.TrimOWS(vary[i:j]); len(m) == 1 && m[0] == '*' {
			return true
		}
		i = j + 1
	}
	return false
}

// Bounds of heuristic freshness (RFC 9111 §4.2.2 suggests the 10 %).
const (
	heuristicFraction = 10    // 10 % of the time since Last-Modified
	heuristicCap      = 86400 // one day: an old Last-Modified must not pin an answer for years
	maxLifetime       = MaxDelta
)

// FreshnessLifetime computes the answer's freshness lifetime in seconds for a
// shared cache (RFC 9111 §4.2.1): s-maxage, else max-age, else Expires minus
// Date, else the API's ttl, else (when allowed, and only for heuristically
// cacheable statuses or public answers, §4.2.2) 10 % of Date minus
// Last-Modified capped at one day. override=true returns ttl regardless.
// responseTime stands in for a missing Date (RFC 9110 §6.6.1). A conflicting
// duplicate max-age or s-maxage, and an invalid Expires, give 0.
func FreshnessLifetime(r *Response, status int, responseTime, ttl int64, override, heuristic bool) int64 {
	if override && ttl > 0 {
		return ttl
	}
	cc := &r.CC
	if cc.Flags&CCConflict != 0 {
		return 0
	}
	if cc.Flags&CCHasSMaxAge != 0 {
		return cc.SMaxAge
	}
	if cc.Flags&CCHasMaxAge != 0 {
		return cc.MaxAge
	}
	date := responseTime
	if r.HasDate {
		date = r.Date
	}
	if r.ExpiresInvalid {
		return 0
	}
	if r.HasExpires {
		if d := r.Expires - date; d > 0 {
			return min(d, maxLifetime)
		}
		return 0
	}
	if ttl > 0 {
		return ttl
	}
	if heuristic && r.HasLastModified && (heuristicStatuses.Has(status) || cc.Flags&CCPublic != 0) {
		if d := date - r.LastModified; d > 0 {
			return min(d/heuristicFraction, heuristicCap)
		}
	}
	return 0
}

// Meta flags stored with an entry.
const (
	// MetaMustRevalidate: must-revalidate, proxy-revalidate or s-maxage was
	// present, so a stale entry is never served without revalidation (RFC 9111
	// §5.2.2.2, §5.2.2.8, §5.2.2.10), not even for max-stale or
	// stale-if-error.
	MetaMustRevalidate uint16 = 1 << iota
	// MetaNoCache: the answer must be revalidated before every use (§5.2.2.4).
	MetaNoCache
	// MetaPublic: the answer was marked public (shared across consumers).
	MetaPublic
	// MetaHeuristic: the lifetime is heuristic or the API's ttl.
	MetaHeuristic
	// MetaVariants: the entry is not an answer but a record of how to build
	// the variant key (Vary names in Header, MetaPerConsumer).
	MetaVariants
	// MetaPerConsumer: variants of this URL are kept per consumer.
	MetaPerConsumer
)

// Meta is the freshness metadata stored with an entry.
type Meta struct {
	RequestTime  int64 // when the request that produced the answer was sent
	ResponseTime int64 // when the answer was received
	Date         int64 // the answer's Date (ResponseTime when absent)
	Age          int64 // the answer's Age field (0 when absent)
	Lifetime     int64 // freshness lifetime, from FreshnessLifetime
	SWR          int64 // stale-while-revalidate window, seconds
	SIE          int64 // stale-if-error window, seconds
	LastModified int64 // 0 when absent
	Flags        uint16
}

// NewMeta fills the metadata of a fresh answer. ttl, override and heuristic
// are the API's settings (see FreshnessLifetime).
func NewMeta(r *Response, status int, requestTime, responseTime, ttl int64, override, heuristic bool) Meta {
	m := Meta{RequestTime: requestTime, ResponseTime: responseTime, Date: responseTime}
	if r.HasDate {
		m.Date = r.Date
	}
	if r.HasAge {
		m.Age = r.Age
	}
	if r.HasLastModified {
		m.LastModified = r.LastModified
	}
	m.Lifetime = FreshnessLifetime(r, status, responseTime, ttl, override, heuristic)
	cc := &r.CC
	explicit := cc.Flags&(CCHasMaxAge|CCHasSMaxAge) != 0 || r.HasExpires || r.ExpiresInvalid
	if !explicit || (override && ttl > 0) {
		m.Flags |= MetaHeuristic
	}
	if cc.Flags&(CCMustRevalidate|CCProxyRevalidate|CCHasSMaxAge) != 0 {
		m.Flags |= MetaMustRevalidate
	}
	if cc.Flags&CCNoCache != 0 {
		m.Flags |= MetaNoCache
	}
	if cc.Flags&CCPublic != 0 {
		m.Flags |= MetaPublic
	}
	if cc.Flags&CCHasStaleWhileRevalidate != 0 {
		m.SWR = cc.StaleWhileRevalidate
	}
	if cc.Flags&CCHasStaleIfError != 0 {
		m.SIE = cc.StaleIfError
	}
	return m
}

// CurrentAge is RFC 9111 §4.2.3's current_age at now.
func (m *Meta) CurrentAge(now int64) int64 {
	apparent := max(0, m.ResponseTime-m.Date)
	delay := max(0, m.ResponseTime-m.RequestTime)
	correctedAge := m.Age + delay
	initial := max(apparent, correctedAge)
	resident := max(0, now-m.ResponseTime)
	return min(initial+resident, maxLifetime)
}

// Refresh applies a 304 answer (RFC 9111 §4.3.4): the stored entry gets the
// new response's freshness information and times. r is the 304's fields.
func (m *Meta) Refresh(r *Response, status int, requestTime, responseTime, ttl int64, override, heuristic bool) {
	lm := m.LastModified
	*m = NewMeta(r, status, requestTime, responseTime, ttl, override, heuristic)
	if !r.HasLastModified {
		m.LastModified = lm
	}
}

// Decision is what the lookup step does with a stored answer.
type Decision uint8

const (
	// Fresh: serve it.
	Fresh Decision = iota
	// StaleOK: stale, but the client accepts it (max-stale): serve it.
	StaleOK
	// StaleRevalidate: stale within stale-while-revalidate: serve it and
	// refresh in the background.
	StaleRevalidate
	// Revalidate: ask the origin (conditionally when the entry has a
	// validator); on an origin error ServeStaleOnError decides.
	Revalidate
)

var decisionNames = [...]string{"fresh", "stale", "stale-while-revalidate", "revalidate"}

func (d Decision) String() string {
	if int(d) < len(decisionNames) {
		return decisionNames[d]
	}
	return "unknown"
}

// Decide applies the request's directives (req may be nil) to a stored
// answer at now, following RFC 9111 §4.2 and §5.2.1 and RFC 5861. Request
// no-cache forces revalidation; request max-age caps the acceptable age;
// min-fresh demands remaining freshness; max-stale accepts staleness unless
// the answer says must-revalidate.
func Decide(m *Meta, req *Directives, now int64) Decision {
	if m.Flags&MetaNoCache != 0 {
		return Revalidate
	}
	age := m.CurrentAge(now)
	var rf uint32
	if req != nil {
		rf = req.Flags
	}
	if rf&CCNoCache != 0 {
		return Revalidate
	}
	if rf&CCHasMaxAge != 0 && age > req.MaxAge {
		return Revalidate
	}
	if age < m.Lifetime {
		if rf&CCHasMinFresh != 0 && m.Lifetime-age < req.MinFresh {
			return Revalidate
		}
		return Fresh
	}
	if m.Flags&MetaMustRevalidate != 0 || rf&CCHasMinFresh != 0 {
		return Revalidate
	}
	staleness := age - m.Lifetime
	if rf&CCMaxStaleAny != 0 || (rf&CCHasMaxStale != 0 && staleness <= req.MaxStale) {
		return StaleOK
	}
	if m.SWR > 0 && staleness <= m.SWR {
		return StaleRevalidate
	}
	return Revalidate
}

// ServeStaleOnError reports whether a stale entry may answer a request whose
// origin fetch failed (error, timeout or a 500, 502, 503, 504): the window is
// the answer's stale-if-error, else the request's, else apiWindow (the API's
// configured default, 0 = off); must-revalidate forbids it (RFC 5861 §4,
// RFC 9111 §4.2.4).
func ServeStaleOnError(m *Meta, req *Directives, now, apiWindow int64) bool {
	if m.Flags&MetaMustRevalidate != 0 {
		return false
	}
	window := apiWindow
	if req != nil && req.Flags&CCHasStaleIfError != 0 {
		window = req.StaleIfError
	}
	if m.SIE > 0 {
		window = m.SIE
	}
	staleness := m.CurrentAge(now) - m.Lifetime
	return staleness <= window
}
