package redisstate

import (
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
)

// Metrics for every Conn, Limiter and Nonces in the process. Only the
// fallback counters are touched per request, and only while a breaker is
// open; lease spending touches none.
var (
	callsTotal        = metrics.NewCounter(`sluice_redis_calls_total`)
	callErrorsTotal   = metrics.NewCounter(`sluice_redis_errors_total`)
	callDuration      = metrics.NewHistogram(`sluice_redis_call_duration_seconds`)
	breakerOpensTotal = metrics.NewCounter(`sluice_redis_breaker_opens_total`)
	leasesTotal       = metrics.NewCounter(`sluice_redis_leases_total`)
	leaseTokensTotal  = metrics.NewCounter(`sluice_redis_lease_tokens_total`)
	refillDropped     = metrics.NewCounter(`sluice_redis_refills_dropped_total`)

	fallbackLocal = metrics.NewCounter(`sluice_redis_fallback_decisions_total{policy="local"}`)
	fallbackAllow = metrics.NewCounter(`sluice_redis_fallback_decisions_total{policy="allow"}`)
	fallbackDeny  = metrics.NewCounter(`sluice_redis_fallback_decisions_total{policy="deny"}`)
	nonceFallback = metrics.NewCounter(`sluice_redis_nonce_fallback_total`)

	// openBreakers backs the gauge: how many Conns are in fallback now.
	openBreakers atomic.Int64
	_            = metrics.NewGauge(`sluice_redis_breaker_open`, func() float64 { return float64(openBreakers.Load()) })
)
