package proxy

import (
	"encoding/binary"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/sluicegw/sluice/store/ratelimit"
	"github.com/valyala/fasthttp"
)

// CodeThrottled is the 429 error code.
const CodeThrottled = "Throttled"

// Scopes of a limit, mixed into its key so an API's, a consumer's and a
// client IP's buckets never share state.
const (
	scopeAPI byte = iota + 1
	scopeConsumer
	scopeClientIP
	scopeQuota
)

var scopeNames = [...]string{"", "api", "consumer", "client_ip", "quota"}

// throttledMessages are the 429 messages per scope, built once: a denial
// under attack must cost no allocation.
var throttledMessages = func() (m [len(scopeNames)]string) {
	for i, n := range scopeNames {
		m[i] = "rate limit exceeded (" + n + ")"
	}
	return m
}()

// limitKey is xxhash(api limit id, scope, identity): stable across reloads,
// so a reload never refills a bucket; the limit id is per stage by default.
func limitKey(api uint64, scope byte, id uint64) uint64 {
	var b [17]byte
	binary.LittleEndian.PutUint64(b[:8], api)
	b[8] = scope
	binary.LittleEndian.PutUint64(b[9:], id)
	return xxhash.Sum64(b[:])
}

// throttle checks every limit of the API together; the most restrictive
// decides, and a denied request takes nothing from the others. It runs after
// authentication, so an unauthenticated request never spends a token.
func (s *Server) throttle(ctx *fasthttp.RequestCtx, st *reqState) outcome {
	t := st.api.Throttle
	if t == nil {
		return proceed
	}
	// In the pooled state, not on the stack: the store is an interface, and
	// a slice passed through one escapes.
	reqs := &st.limitReqs
	var scopes [ratelimit.MaxRequests]byte
	n := 0
	api := st.api.LimitID   // per stage unless rate_limit.share_stages
	consumerID := uint64(0) // anonymous callers share one consumer bucket
	if len(st.consumerName) > 0 {
		consumerID = xxhash.Sum64(st.consumerName)
	}
	if t.API != nil {
		reqs[n], scopes[n] = ratelimit.Request{Key: limitKey(api, scopeAPI, 0), Limit: t.API}, scopeAPI
		n++
	}
	if l := t.ConsumerLimit(st.consumerName); l != nil {
		reqs[n], scopes[n] = ratelimit.Request{Key: limitKey(api, scopeConsumer, consumerID), Limit: l}, scopeConsumer
		n++
	}
	if t.ClientIP != nil {
		ip := st.client.As16()
		reqs[n], scopes[n] = ratelimit.Request{Key: limitKey(api, scopeClientIP, xxhash.Sum64(ip[:])), Limit: t.ClientIP}, scopeClientIP
		n++
	}
	for _, q := range t.Quotas {
		reqs[n], scopes[n] = ratelimit.Request{Key: limitKey(api, scopeQuota, consumerID), Limit: q}, scopeQuota
		n++
	}
	d := s.allowLimits(s.clock.Nanotime(), reqs[:n], scopes[:n]) // fleet.go
	if t.Headers {
		st.rl = d
		st.rlSet = true
	}
	if d.Allowed {
		st.throttleOutcome = "allowed"
		return proceed
	}
	st.api.Stats.Throttled[scopes[d.Denied]].Inc()
	st.throttleOutcome = scopeNames[scopes[d.Denied]]
	s.finish(ctx, st, fasthttp.StatusTooManyRequests, CodeThrottled, throttledMessages[scopes[d.Denied]])
	st.tbuf = strconv.AppendInt(st.tbuf[:0], int64(ratelimit.RetryAfterSeconds(d.RetryAfter)), 10)
	ctx.Response.Header.SetBytesV(fasthttp.HeaderRetryAfter, st.tbuf)
	return answered
}

// The rate-limit header names, canonical for SetCanonical (no name copy
// and normalization per request).
var (
	strRateLimitLimit     = []byte("Ratelimit-Limit")
	strRateLimitRemaining = []byte("Ratelimit-Remaining")
	strRateLimitReset     = []byte("Ratelimit-Reset")
)

// setRateLimitHeaders writes RateLimit-Limit, -Remaining and -Reset
// (draft-ietf-httpapi-ratelimit-headers) for the most restrictive limit.
func setRateLimitHeaders(ctx *fasthttp.RequestCtx, st *reqState) {
	if !st.rlSet {
		return
	}
	h := &ctx.Response.Header
	b := strconv.AppendInt(st.tbuf[:0], st.rl.Limit, 10)
	h.SetCanonical(strRateLimitLimit, b)
	b = strconv.AppendInt(b[:0], max(st.rl.Remaining, 0), 10)
	h.SetCanonical(strRateLimitRemaining, b)
	reset := int64((st.rl.Reset + time.Second - 1) / time.Second)
	b = strconv.AppendInt(b[:0], reset, 10)
	h.SetCanonical(strRateLimitReset, b)
	st.tbuf = b
}
