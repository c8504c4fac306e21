package accesslog

import "github.com/VictoriaMetrics/metrics"

// Package-level metrics; see the package comment. Ring drops and sampled-out
// records are counted in sharded per-Logger counters on the request path and
// moved here by the shipper on every poll (at most a few ms late).
var (
	droppedTotal    = metrics.NewCounter(`sluice_accesslog_dropped_total`)
	sampledOutTotal = metrics.NewCounter(`sluice_accesslog_sampled_out_total`)
)

func sinkWrittenCounter(name string) *metrics.Counter {
	return metrics.GetOrCreateCounter(`sluice_accesslog_sink_written_records_total{sink="` + name + `"}`)
}

func sinkDroppedCounter(name string) *metrics.Counter {
	return metrics.GetOrCreateCounter(`sluice_accesslog_sink_dropped_records_total{sink="` + name + `"}`)
}

func sinkErrorsCounter(name string) *metrics.Counter {
	return metrics.GetOrCreateCounter(`sluice_accesslog_sink_errors_total{sink="` + name + `"}`)
}
