package bench

import "fmt"

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
	// Peers is true when nginx, HAProxy and Caddy can do the same job with a
	// plain proxy config, so comparing them is fair.
	Peers bool `json:"peers"`
	// AccessLog makes the peers log every request, to match the gateway.
	AccessLog bool `json:"access_log,omitempty"`
	// Reps overrides the preset's repetitions (idle-connection runs are slow
	// to set up).
	Reps int `json:"reps,omitempty"`
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
		Doc:    "Every request is authenticated by API key, passes three rate limits set far above the offered load (so none rejects), and writes an access-log record: the realistic per-request policy cost.",
		Method: "GET", Path: "/anon/item?size=1024", RespBytes: 1024,
		Features: []Feature{FeatureKeyAuth, FeatureThrottle, FeatureAccessLog},
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
		Doc:    "10 000 keep-alive connections are opened (one request each) and held idle while the anon-1k load runs: memory per connection (RSS growth / connections) and the cost of a large connection set.",
		Method: "GET", Path: "/anon/item?size=1024", RespBytes: 1024,
		IdleConns: 10000, Peers: true, Reps: 2,
	},
	{
		Name: "cache-hit", Title: "Response cache hit",
		Doc:    "GET of a cacheable response that the gateway answers from its response cache after the first request; the origin is not reached.",
		Method: "GET", Path: "/anon/item?size=1024", RespBytes: 1024,
		Features: []Feature{FeatureCache},
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
