// Package bench is Sluice's capacity-planning bench harness: a loopback-only
// load generator (closed and open loop, coordinated-omission corrected), /proc
// readers for the process under test, scenario presets, peer proxies (nginx,
// HAProxy, Caddy) with generated configs that do the same job as the gateway
// where they can (access log, API-key check, rate limits: see PeerJob), a
// capacity search against an SLO, the goal figures of BENCHMARKS.md (CPU per
// request against nginx, p99 at half of nginx's capacity, the access log's
// cost; see goals.go) with a CPU profile of the gateway wherever one is
// missed, and the markdown / JSON / chart reports that `make bench` publishes.
//
// The command cmd/sluice-bench is a thin layer of flags over this package.
// Every run is bounded in request count and wall time, and every target must be
// a loopback address: the harness refuses to load anything else.
package bench
