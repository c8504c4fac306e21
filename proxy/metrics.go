package proxy

import (
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
)

// Data-plane metrics not tied to one API. Per-API request counters live in
// policy.APIStats, created when a snapshot is compiled.
var (
	unmatchedRequests = metrics.NewCounter(`sluice_requests_unmatched_total`)
	rejectedFraming   = metrics.NewCounter(`sluice_requests_rejected_total{reason="framing"}`)
	rejectedParse     = metrics.NewCounter(`sluice_requests_rejected_total{reason="parse"}`)
	rejectedOverload  = metrics.NewCounter(`sluice_requests_rejected_total{reason="overloaded"}`)
	rejectedBodySize  = metrics.NewCounter(`sluice_requests_rejected_total{reason="body_too_large"}`)

	upstreamErrTimeout = metrics.NewCounter(`sluice_upstream_errors_total{kind="timeout"}`)
	upstreamErrConnect = metrics.NewCounter(`sluice_upstream_errors_total{kind="connect"}`)
	upstreamErrNoConn  = metrics.NewCounter(`sluice_upstream_errors_total{kind="no_free_connection"}`)
	upstreamErrReset   = metrics.NewCounter(`sluice_upstream_errors_total{kind="reset"}`)

	configReloads      = metrics.NewCounter(`sluice_config_reloads_total`)
	configReloadErrors = metrics.NewCounter(`sluice_config_reload_errors_total`)

	// openConns counts client connections over every Server in the process.
	openConns = atomic.Int64{}
	_         = metrics.NewGauge(`sluice_open_connections`, func() float64 { return float64(openConns.Load()) })

	// inflightAll is the in-flight count over every Server in the process.
	inflightAll atomic.Int64
	_           = metrics.NewGauge(`sluice_requests_in_flight`, func() float64 { return float64(inflightAll.Load()) })
)
