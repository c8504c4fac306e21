package bench

import (
	"fmt"
	"time"
)

// Scenario is a named, documented load preset: what is requested, what the
// gateway must be configured with, and which targets can do the same job.
type Scenario struct {
	// Name is the preset's identifier ("anon-1k").
	Name string `json:"name"`
	// Title is a one-line description for report headings.
	Title string `json:"title"`
	// Doc says what the scenario measures and how; printed in the report.
	Doc string `json:"doc"`
	// Method is the request method.
	Method string `json:"method"`
	// Path is the request URI sent to every target.
	Path string `json:"path"`
	// PathCount > 1 spreads requests over that many of the extra APIs
	// (ExtraAPIPath), evenly across the route table.
	PathCount int `json:"path_count,omitempty"`
	// BodyBytes is the request body size.
	BodyBytes int `json:"body_bytes,omitempty"`
	// RespBytes is the expected response body size (0: not checked; POST
	// /sink answers with the length it read, whose encoding is the origin's).
	RespBytes int `json:"resp_bytes,omitempty"`
	// Features are gateway features the scenario needs.
	Features []Feature `json:"features,omitempty"`
	// ExtraAPIs are added to the gateway's route table.
	ExtraAPIs int `json:"extra_apis,omitempty"`
	// IdleConns are keep-alive connections held open, idle, during the load.
	IdleConns int `json:"idle_conns,omitempty"`
	// Peers is true when nginx, HAProxy and Caddy can do the same job with
	// their own config (see PeerJob), so comparing them is fair; Doc says
	// what each does and does not do.
	Peers bool `json:"peers"`
	// AccessLog makes the peers log every request, to match the gateway
	// (implied by FeatureAccessLog).
	AccessLog bool `json:"access_log,omitempty"`
	// Baseline, when set, names a scenario whose gateway config runs as a
	// second gateway target, "sluice-" + Baseline, interleaved with this
	// one and used as the reference: the cost of this scenario's features
	// over the baseline's, measured side by side. No direct target runs.
	Baseline string `json:"baseline,omitempty"`
	// Reading is printed under the scenario's table: how to read it.
	Reading string `json:"reading,omitempty"`
	// SlowStop is how long the gateway may take to exit cleanly on this
	// scenario (a dead log sink drains its retry queue first). The plan
	// charges it; profile runs wait for it, since the profile is written
	// at exit.
	SlowStop time.Duration `json:"slow_stop_ns,omitempty"`
	// Reps caps the preset's repetitions (idle-connection runs are slow to
	// set up); MinReps raises them (a goal that needs more samples than
	// the preset takes, on a noisy machine).
	Reps    int `json:"reps,omitempty"`
	MinReps int `json:"min_reps,omitempty"`
	// TimeSliced runs the scenario's targets (the gateway and its peers,
	// or the two gateway configs of a Baseline scenario) over the same
	// window instead of one after the other: each has its own closed loop
	// with the preset's connections, and the load alternates between them
	// every 50 ms. Each one's CPU per request is then read over the same
	// seconds, so the machine's drift (on a shared VM, +-20 % from one
	// second to the next) hits all alike and a few-percent difference
	// becomes visible; within its slice each target has the CPU and its
	// caches to itself, as a lone one would. Throughput is scaled to the
	// target's own slices. Presets can switch it on for every scenario.
	TimeSliced bool `json:"time_sliced,omitempty"`
}

// Paths returns the request URIs the load cycles through.
func (s *Scenario) Paths() []string {
	if s.PathCount <= 1 || s.ExtraAPIs == 0 {
		return []string{s.Path}
	}
	n := min(s.PathCount, s.ExtraAPIs)
	step := s.ExtraAPIs / n
	paths := make([]string, n)
	for i := range paths {
		paths[i] = ExtraAPIPath(i*step, "item?size=1024")
	}
	return paths
}

// Body returns the request body of BodyBytes bytes.
func (s *Scenario) Body() []byte {
	if s.BodyBytes == 0 {
		return nil
	}
	b := make([]byte, s.BodyBytes)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

// PeerJob is what the peers do besides proxying in this scenario: the
// gateway features a stock peer can express (access log, API-key check,
// rate limits), derived from Features so peers and gateway stay in step.
func (s *Scenario) PeerJob() PeerJob {
	job := PeerJob{AccessLog: s.AccessLog}
	for _, f := range s.Features {
		switch f {
		case FeatureAccessLog:
			job.AccessLog = true
		case FeatureKeyAuth:
			if fc, ok := GatewayFeatures[f]; ok && fc.Headers != nil {
				if hs := fc.Headers(GatewayParams{}); len(hs) > 0 {
					job.KeyHeader, job.APIKey = hs[0].Name, hs[0].Value
				}
			}
		case FeatureThrottle:
			job.Limits = &peerLimits
		case FeatureCache:
			job.Cache = true
		}
	}
	return job
}

// peerLimits mirror the gateway's throttle feature: three limits far above
// any load the harness can offer, so the cost measured is the check.
var peerLimits = PeerLimits{
	ClientIP: PeerRate{Rate: 10000000, Burst: 10000000},
	Key:      PeerRate{Rate: 10000000, Burst: 10000000},
	API:      PeerRate{Rate: 10000000, Burst: 10000000},
}

// BaselineTarget is the name of the gateway target running sc's baseline.
func BaselineTarget(sc *Scenario) string {
	if sc.Baseline == "" {
		return ""
	}
	return TargetSluice + "-" + sc.Baseline
}

// ExpectBodyBytes is the response length a correct answer has (0: unchecked).
func (s *Scenario) ExpectBodyBytes() int {
	return s.RespBytes
}

// Scenarios are the presets, in report order.
var Scenarios = []Scenario{
	{
		Name: "anon-1k", Title: "Anonymous proxy, 1 KiB response",
		Doc:    "GET through an API with no policy: routing, header handling and the upstream pool only. The baseline every other scenario is read against.",
		Method: "GET", Path: "/anon/item?size=1024", RespBytes: 1024, Peers: true,
	},
	{
		Name: "anon-16k", Title: "Anonymous proxy, 16 KiB response",
		Doc:    "As anon-1k with a 16 KiB body: the cost of copying response bytes.",
		Method: "GET", Path: "/anon/item?size=16384", RespBytes: 16384, Peers: true,
	},
	{
		Name: "anon-256k", Title: "Anonymous proxy, 256 KiB response",
		Doc:    "As anon-1k with a 256 KiB body: large responses, buffering and memory.",
		Method: "GET", Path: "/anon/item?size=262144", RespBytes: 262144, Peers: true,
	},
	{
		Name: "post-16k", Title: "POST with a 16 KiB body",
		Doc:    "POST of 16 KiB to the origin's /sink, which reads it and answers its length: request-body forwarding.",
		Method: "POST", Path: "/anon/sink", BodyBytes: 16384, Peers: true,
	},
	{
		Name: "full-chain", Title: "Full chain: key auth, three limits, access log",
		Doc: "Every request is authenticated by API key (X-Api-Key), passes three rate limits set far above the offered load " +
			"(per client IP, per consumer, per API; none rejects), and writes an access-log record to a file: the realistic " +
			"per-request policy cost. The peers are configured for the same job where they can: " +
			"nginx compares the header with `if ($http_x_api_key != \"KEY\") { return 401; }` (exact, case-sensitive; rewrite " +
			"phase, before the limits), applies three `limit_req` zones keyed by `$binary_remote_addr`, by the key header and by " +
			"a constant (leaky buckets with burst, `nodelay`, 429 when over) and writes the combined log format to a file; " +
			"HAProxy denies with 401 `unless { req.hdr(X-Api-Key) -m str KEY }`, tracks sc0/sc1/sc2 in three stick tables " +
			"(source address, key header, a constant) storing `http_req_rate(1s)` and denies with 429 above the limit " +
			"(sliding one-second counters, no burst), and logs `option httplog` lines to stdout, which the harness " +
			"redirects to a file; Caddy answers 401 through a `not header X-Api-Key KEY` matcher and logs JSON to a file, " +
			"but applies **no rate limits**: Debian's Caddy has no rate limiter (it needs a plugin build). " +
			"No peer maps the key to a consumer, compares it in constant time, or answers a JSON error body as the gateway does.",
		Method: "GET", Path: "/anon/item?size=1024", RespBytes: 1024,
		Features: []Feature{FeatureKeyAuth, FeatureThrottle, FeatureAccessLog}, Peers: true, AccessLog: true,
		Reading: "Caddy's row does less work than the others (no rate limits): its CPU per request is a lower bound for " +
			"a Caddy that throttles. nginx and HAProxy do the same checks as the gateway with simpler machinery " +
			"(a string comparison instead of a consumer lookup).",
	},
	{
		Name: "hmac", Title: "HMAC-signed requests",
		Doc:    "Each request carries a fresh HMAC signature (date and nonce) that the gateway verifies: signature verification and replay check per request.",
		Method: "GET", Path: "/anon/item?size=1024", RespBytes: 1024,
		Features: []Feature{FeatureHMAC},
	},
	{
		Name: "jwt", Title: "JWT bearer token (verification cached)",
		Doc:    "Every request carries the same signed JWT, so after the first verification the gateway's token cache answers: the cached-JWT path.",
		Method: "GET", Path: "/anon/item?size=1024", RespBytes: 1024,
		Features: []Feature{FeatureJWT},
	},
	{
		Name: "apis-10k", Title: "10 000 APIs in the route table",
		Doc:    "The gateway holds 10 000 extra APIs; requests are spread over 64 of them across the table: route lookup in a large table and the memory the table takes.",
		Method: "GET", Path: "/t00000/item?size=1024", RespBytes: 1024,
		ExtraAPIs: 10000, PathCount: 64,
	},
	{
		Name: "idle-10k", Title: "10 000 idle keep-alive connections during load",
		Doc: "10 000 keep-alive connections are opened (one request each) and held idle while the anon-1k load runs: memory per connection (RSS growth / connections) and the cost of a large connection set. " +
			"No direct row: the harness would hold both ends of every connection. Ratios are against nginx.",
		Method: "GET", Path: "/anon/item?size=1024", RespBytes: 1024,
		IdleConns: 10000, Peers: true, Reps: 2,
	},
	{
		Name: "cache-hit", Title: "Response cache hit",
		Doc: "GET of a cacheable response that the gateway answers from its response cache after the first request; the origin is not reached. " +
			"The gateway's API has `[groups.apis.cache]` with ttl 60s (the origin stub sends no freshness); nginx runs " +
			"proxy_cache in a shared-memory zone with proxy_cache_valid 200 60s and proxy_cache_lock, so both answer " +
			"every request after the first from their cache. HAProxy and Caddy are not run: Caddy's stock build has no cache, " +
			"and the issue compares with nginx's proxy_cache.",
		Method: "GET", Path: "/anon/item?size=1024", RespBytes: 1024,
		Features: []Feature{FeatureCache}, Peers: true,
	},
	// The access-log issue's goals: logging on, and a remote sink that is
	// down, each measured against anon-1k side by side.
	{
		Name: "anon-1k-log", Title: "Anonymous proxy with the access log to a file",
		Doc: "anon-1k with the access log on: one record per request through the ring to a file sink. " +
			"Run time-sliced with the gateway on the anon-1k config (target sluice-anon-1k, the reference): both " +
			"run over the same window and the load alternates between them every 50 ms, so the CPU ratio is the " +
			"logging cost read over the same seconds. Throughput is per window, half of a lone run's. " +
			"Gateway only: the peers' logging is measured in full-chain.",
		Method: "GET", Path: "/anon/item?size=1024", RespBytes: 1024,
		Features: []Feature{FeatureAccessLog}, Baseline: "anon-1k", TimeSliced: true,
		// Per-rep on/off ratios spread +-5 % on a shared 2-core VM; the
		// median of 12 reads the few-percent goal to about +-2 %.
		MinReps: 12,
	},
	{
		Name: "log-sink-down", Title: "Access log whose only sink is down",
		Doc: "anon-1k with an access log whose only sink is `type = \"http\"` to a loopback port that refuses " +
			"connections (bound, never listening): every batch fails, is retried with backoff and dropped. " +
			"Requests must not wait for the log. Run time-sliced with the gateway on the anon-1k config " +
			"(target sluice-anon-1k, the reference), so each target's p99 is over its own 50 ms slices of the same " +
			"window. Gateway only. The sink keeps the gateway's default retries " +
			"(3, backoff from 200ms), so a clean shutdown first works through the queued batches (about 10 s).",
		Method: "GET", Path: "/anon/item?size=1024", RespBytes: 1024,
		Features: []Feature{FeatureAccessLogSinkDown}, Baseline: "anon-1k", TimeSliced: true,
		// p99 per rep spreads from 0.7x to 1.7x here; only a median of
		// many time-sliced reps says anything about a 10 % goal.
		MinReps: 12,
		// Up to 9 queued batches x (1 try + 3 retries, backoff <= 1.4s).
		SlowStop: 13 * time.Second,
	},
}

// ScenarioByName returns the named scenario.
func ScenarioByName(name string) (*Scenario, error) {
	for i := range Scenarios {
		if Scenarios[i].Name == name {
			return &Scenarios[i], nil
		}
	}
	return nil, fmt.Errorf("bench: unknown scenario %q", name)
}
