package ratelimit

import "github.com/VictoriaMetrics/metrics"

// Counters for all Local stores in the process. None is touched on the path
// of a request for an existing key.
var (
	keysCreated  = metrics.NewCounter("sluice_ratelimit_keys_created_total")
	keysEvicted  = metrics.NewCounter("sluice_ratelimit_keys_evicted_total")
	keysRejected = metrics.NewCounter("sluice_ratelimit_keys_rejected_total")
	raceRefunds  = metrics.NewCounter("sluice_ratelimit_race_refunds_total")
)
