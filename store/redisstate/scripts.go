package redisstate

import (
	"crypto/sha1"
	"encoding/hex"
)

// bucketScript advances one fleet-wide GCRA bucket. The state is one
// number, the theoretical arrival time (TAT) in microseconds of Redis's own
// clock (TIME), so node clocks never disagree about a bucket. It first
// charges ARGV[4] tokens of debt unconditionally (requests a node already
// admitted), then grants up to ARGV[3] tokens that fit within tau.
//
//	ARGV: interval µs per token, tau µs (interval*burst), wanted n, debt,
//	      target (tokens to wait for after a partial grant)
//	reply: {granted, µs until target tokens would fit, tokens left}
//
// On a partial grant the node waits until target tokens fit (see
// Limiter.waitTarget), rather than the missing part: the nodes of a saturated key then come back when there is a whole
// batch for each, and a saturated key costs one round trip per batch
// instead of a stream of small and empty grants.
//
// Microseconds keep TAT below 2^53, where Lua's doubles are exact to a
// quarter microsecond; %.17g writes the double back without rounding.
const bucketScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local iv = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local debt = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
tat = tat + debt * iv
local g = math.floor((now + tau - tat) / iv)
if g > n then g = n end
if g < 0 then g = 0 end
tat = tat + g * iv
if g > 0 or debt > 0 then
  redis.call('SET', KEYS[1], string.format('%.17g', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
local wait = 0
if g < n then wait = tat + tonumber(ARGV[5]) * iv - tau - now end
if wait < 0 then wait = 0 end
local left = math.floor((now + tau - tat) / iv)
if left < 0 then left = 0 end
return {g, math.ceil(wait), left}
`

// quotaScript takes from one quota window counter with INCRBY. The window
// is in the key (the node computes it from UTC), so the counter simply
// expires some time after its window ends.
//
//	ARGV: max, wanted n, debt, ttl ms
//	reply: {granted, 0, units left}
const quotaScript = `
local max = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local debt = tonumber(ARGV[3])
local used = tonumber(redis.call('GET', KEYS[1]) or 0)
local g = max - used - debt
if g > n then g = n end
if g < 0 then g = 0 end
if g + debt > 0 then
  used = redis.call('INCRBY', KEYS[1], g + debt)
  if used == g + debt then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
end
local left = max - used
if left < 0 then left = 0 end
return {g, 0, left}
`

var (
	bucketSHA = scriptSHA(bucketScript)
	quotaSHA  = scriptSHA(quotaScript)
)

func scriptSHA(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}
