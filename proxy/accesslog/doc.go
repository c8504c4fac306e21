// Package accesslog is the gateway's access-log path:
//
//	request goroutine ─Reserve/fill/Commit─► lock-free ring ─► one shipper goroutine
//	  ─► JSON lines in batches (size or time) ─► one bounded queue + goroutine per sink
//	  ─► file | stdout | HTTP (NDJSON or Elasticsearch _bulk) | syslog (RFC 5424)
//
// The request side never blocks and never allocates: when the ring is full the
// record is dropped and counted. The ring hands out the record the shipper
// released last (its cache lines are warm), and every 64th commit wakes the
// shipper (a quiet gateway's records wait at most 100 ms for a pass): the
// whole log costs about 3-4 % of the gateway's CPU per request (BENCHMARKS.md). Every record that reaches the ring is either
// written by a sink or counted as dropped by that sink; nothing is lost silently.
//
// Metrics (package-level, VictoriaMetrics default set):
//
//	sluice_accesslog_dropped_total                          ring full, logger closed, or shutdown deadline hit
//	sluice_accesslog_sampled_out_total                      successes skipped by sampling
//	sluice_accesslog_sink_written_records_total{sink="N"}   records a sink wrote
//	sluice_accesslog_sink_dropped_records_total{sink="N"}   records a sink could not take (queue full, error, retries exhausted)
//	sluice_accesslog_sink_errors_total{sink="N"}            failed write attempts (each retry counts)
package accesslog
