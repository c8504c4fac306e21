// Package bench is Sluice's capacity-planning bench harness: a loopback-only
// load generator (closed and open loop, coordinated-omission corrected), /proc
// readers for the process under test, scenario presets, peer proxies (nginx,
// HAProxy, Caddy) with generated configs, a capacity search against an SLO, and
// the markdown / JSON / chart reports that `make bench` publishes.
//
// The command cmd/sluice-bench is a thin layer of flags over this package.
// Every run is bounded in request count and wall time, and every target must be
// a loopback address: the harness refuses to load anything else.
package bench
