package policy

// Config is the whole TOML file as written by the operator. It is decoded
// strictly (unknown keys are errors), defaults are filled by applyDefaults, and
// Compile turns it into an immutable Snapshot. Every key is documented once, in
// configs/reference.toml; a test decodes that file so the two cannot drift.
type Config struct {
	// Server holds listener and limit settings. Changing them needs a restart,
	// except where a field says otherwise.
	Server ServerConfig `toml:"server"`
	// DemoOrigin starts the in-process demo origin (the bench origin stub) on
	// loopback, so the embedded quickstart works with nothing else running.
	DemoOrigin DemoOrigin `toml:"demo_origin"`
	// Groups are the API groups; each owns a set of host names and its APIs.
	Groups []GroupConfig `toml:"groups"`
	// Backends are the named upstream pools and mock answers APIs point to.
	Backends []BackendConfig `toml:"backends"`
}

// ServerConfig is the [server] table.
type ServerConfig struct {
	// Listen is the list of addresses the gateway accepts client traffic on
	// (default ["127.0.0.1:8080"]).
	Listen []string `toml:"listen"`
	// AdminListen is the admin listener's address: health, metrics, config and
	// reload (default "127.0.0.1:9901"). A non-loopback address requires AdminToken.
	AdminListen string `toml:"admin_listen"`
	// AdminToken, when set, is required as "Authorization: Bearer <token>" on
	// /admin/* and /metrics. Inline, "env:NAME" or "file:/path" (default empty).
	AdminToken string `toml:"admin_token"`
	// ReadTimeout bounds reading one whole request, headers and body (default 30s).
	ReadTimeout Duration `toml:"read_timeout"`
	// WriteTimeout bounds writing one whole response (default 30s).
	WriteTimeout Duration `toml:"write_timeout"`
	// IdleTimeout closes a keep-alive client connection idle this long (default 60s).
	IdleTimeout Duration `toml:"idle_timeout"`
	// MaxHeaderSize caps the request line plus headers; larger requests get 431 (default "16KiB").
	MaxHeaderSize Size `toml:"max_header_size"`
	// MaxBodySize caps a request body; larger bodies get 413 before anything is
	// forwarded when Content-Length says so, or are cut off with 413 while
	// streaming a chunked body (default "10MiB").
	MaxBodySize Size `toml:"max_body_size"`
	// StreamThreshold is the body size above which request and response bodies
	// stream through instead of being buffered in memory (default "1MiB").
	StreamThreshold Size `toml:"stream_threshold"`
	// MaxConcurrentRequests caps requests in flight across all listeners; more
	// get 503 with code Overloaded. 0 means no limit (default 0).
	MaxConcurrentRequests int `toml:"max_concurrent_requests"`
	// TrustedProxies are CIDRs of proxies in front of Sluice; when the socket
	// peer is one of them, the client IP is the right-most X-Forwarded-For hop
	// that is not trusted (default none).
	TrustedProxies []string `toml:"trusted_proxies"`
	// ShutdownTimeout bounds how long SIGTERM waits for in-flight requests (default 30s).
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// WatchConfig re-reads the config file when it changes on disk, checked
	// every second (default true; applies on reload).
	WatchConfig *bool `toml:"watch_config"`
}

// DemoOrigin is the [demo_origin] table.
type DemoOrigin struct {
	// Listen is the loopback address of the in-process demo origin; empty
	// means no demo origin (default empty; the quickstart sets "127.0.0.1:8081").
	Listen string `toml:"listen"`
}

// GroupConfig is one [[groups]] entry.
type GroupConfig struct {
	// Name identifies the group in logs, metrics and routes (required, unique).
	Name string `toml:"name"`
	// Hosts are the Host header values this group answers: exact names
	// ("api.example.com") and one-label wildcards ("*.example.com"). A group
	// without hosts is the default group for any other host; at most one.
	Hosts []string `toml:"hosts"`
	// Stages holds per-stage variables, keyed RELEASE, PRE or TEST. A request's
	// stage is its X-Ca-Stage header (default RELEASE).
	Stages map[string]StageConfig `toml:"stages"`
	// APIs are the group's routes.
	APIs []APIConfig `toml:"apis"`
}

// StageConfig is one [groups.stages.NAME] table.
type StageConfig struct {
	// Variables are substituted into "${name}" in an API's backend and
	// backend_path when the API is compiled for this stage.
	Variables map[string]string `toml:"variables"`
}

// APIConfig is one [[groups.apis]] entry.
type APIConfig struct {
	// Name identifies the API in logs, metrics and routes (required, unique in its group).
	Name string `toml:"name"`
	// Methods the API answers; "*" means any (default ["*"]). Other methods on
	// a matching path get 405 with Allow.
	Methods []string `toml:"methods"`
	// Path is the request path template: static segments, "{name}",
	// "{name:regex}" and a trailing catch-all "{name:*}" (required).
	Path string `toml:"path"`
	// Stages the API is published to (default ["RELEASE", "PRE", "TEST"]).
	// A request for a stage the API is not published to gets 404.
	Stages []string `toml:"stages"`
	// Backend names the backend, possibly through stage variables: "${users}" (required).
	Backend string `toml:"backend"`
	// BackendPath is the upstream path template: "{name}" inserts a path
	// parameter, "${var}" a stage variable, and a query string may follow:
	// "/user?id={id}". The client's query string is appended. Empty forwards
	// the request path unchanged (default empty).
	BackendPath string `toml:"backend_path"`
	// Timeout bounds waiting for the upstream's response headers; at most 30s (default 9s).
	Timeout Duration `toml:"timeout"`
}

// BackendConfig is one [[backends]] entry: a pool of HTTP targets, or a mock.
type BackendConfig struct {
	// Name is how APIs refer to the backend (required, unique).
	Name string `toml:"name"`
	// Targets are the upstream servers, "http://host:port" with a weight;
	// requests are spread by smooth weighted round-robin.
	Targets []TargetConfig `toml:"targets"`
	// PoolSize caps open connections per target (default 512).
	PoolSize int `toml:"pool_size"`
	// IdleTimeout closes a pooled upstream connection idle this long (default 60s).
	IdleTimeout Duration `toml:"idle_timeout"`
	// ConnectTimeout bounds dialing a target; a failed dial moves on to the next target (default 3s).
	ConnectTimeout Duration `toml:"connect_timeout"`
	// HostHeader is "target" (send the target's host:port) or "client" (pass
	// the client's Host through) (default "target").
	HostHeader string `toml:"host_header"`
	// Mock, when set, answers without any upstream; Targets must then be empty.
	Mock *MockConfig `toml:"mock"`
}

// TargetConfig is one upstream server of a backend.
type TargetConfig struct {
	// URL is "http://host:port" (required). No path.
	URL string `toml:"url"`
	// Weight is the target's share of requests (default 1, at most 1000).
	Weight int `toml:"weight"`
}

// MockConfig is a fixed answer.
type MockConfig struct {
	// Status is the HTTP status (default 200).
	Status int `toml:"status"`
	// Headers are set on the answer (default none; Content-Type defaults to application/json).
	Headers map[string]string `toml:"headers"`
	// Body is the answer's body (default empty).
	Body string `toml:"body"`
}
