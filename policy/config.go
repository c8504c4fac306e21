package policy

import (
	"github.com/sluicegw/sluice/policy/cors"
	"github.com/sluicegw/sluice/policy/ipacl"
	"github.com/sluicegw/sluice/policy/jwtauth"
	"github.com/sluicegw/sluice/policy/logconf"
	"github.com/sluicegw/sluice/policy/params"
)

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
	// Consumers are the partners and apps that call the APIs, with their credentials.
	Consumers []ConsumerConfig `toml:"consumers"`
	// State sizes the stores that outlive reloads (rate limits, nonces).
	// Changes need a restart.
	State StateConfig `toml:"state"`
	// AccessLog, when present, writes one record per request through a
	// lock-free ring to batched sinks; absent means no access log. Changes
	// need a restart (SIGUSR1 reopens files).
	AccessLog *logconf.Config `toml:"access_log"`
	// Cache sizes the response cache's store (see cache.go). Changes need a restart.
	Cache CacheStoreConfig `toml:"cache"`
	// TLS holds what every TLS listener shares (policy/tls.go; default none).
	TLS *TLSConfig `toml:"tls"`
}

// StateConfig is the [state] table.
type StateConfig struct {
	// RateLimitMaxKeys caps distinct rate-limit keys held in memory; at the
	// cap, new keys are denied (fail closed) until idle ones are evicted
	// (default 1048576, about 50 MiB).
	RateLimitMaxKeys int `toml:"rate_limit_max_keys"`
	// NonceMaxEntries caps HMAC nonces remembered for replay protection; at
	// the cap, new nonces are refused as replays (default 1048576, about 48 MiB).
	NonceMaxEntries int `toml:"nonce_max_entries"`
	// Redis, when present, shares limits, quotas and nonces across a fleet
	// of nodes (see RedisConfig); absent keeps all state on this node.
	Redis *RedisConfig `toml:"redis"`
}

// Policies are the per-request checks a group sets for all its APIs and an
// API may set for itself. An API's table replaces its group's, except
// ip_access, where both lists apply.
type Policies struct {
	// IPAccess allows and denies client IPs (CIDRs); deny wins. Denied: 403.
	IPAccess *ipacl.Config `toml:"ip_access"`
	// CORS answers preflights at the gateway and decorates responses.
	CORS *cors.Config `toml:"cors"`
	// Auth chooses how callers prove who they are (default: anonymous).
	Auth *AuthConfig `toml:"auth"`
	// RateLimit throttles per API, per consumer and per client IP.
	RateLimit *RateLimitConfig `toml:"rate_limit"`
	// Compression compresses answers by Accept-Encoding (see cache.go).
	Compression *CompressionConfig `toml:"compression"`
}

// ServerConfig is the [server] table.
type ServerConfig struct {
	// Listen is the list of addresses the gateway accepts client traffic on
	// (default ["127.0.0.1:8080"]).
	Listen []string `toml:"listen"`
	// Listeners are listeners as tables, plain or TLS (policy/tls.go).
	Listeners []ListenerConfig `toml:"listeners"`
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
	// MaxStreamingUploads caps request bodies streaming to upstreams at once:
	// bodies up to StreamThreshold are read whole before an upstream
	// connection is taken, larger ones hold one while they upload, and more
	// than this many get 503 with code TooManyStreamingUploads, so slow
	// uploaders cannot take the upstream pools (default 64).
	MaxStreamingUploads int `toml:"max_streaming_uploads"`
	// TrustedProxies are CIDRs of proxies in front of Sluice; when the socket
	// peer is one of them, the client IP is the right-most X-Forwarded-For hop
	// that is not trusted (default none).
	TrustedProxies []string `toml:"trusted_proxies"`
	// ShutdownTimeout bounds how long SIGTERM waits for in-flight requests (default 30s).
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// WatchConfig re-reads the config file when it changes on disk, checked
	// every second (default true; applies on reload).
	WatchConfig *bool `toml:"watch_config"`
	// MaxTunnels caps open WebSocket tunnels across all APIs; a handshake over
	// it gets 503 TooManyTunnels (default 10000).
	MaxTunnels int `toml:"max_tunnels"`
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
	Policies
	GroupTLSConfig // certificates, acme, redirect_https, hsts, client_auth (policy/tls.go)
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
	Policies
	// Params validates query, header, path, form and JSON body parameters; a
	// failure is 400 naming the parameter and rule, a body over
	// params.max_body_size is 413.
	Params *params.Config `toml:"params"`
	// Transform rewrites request headers and query parameters, and response headers.
	Transform *TransformConfig `toml:"transform"`
	// WebSocket, when present, tunnels WebSocket upgrades (see websocket.go).
	WebSocket *WebSocketConfig `toml:"websocket"`
	// Resilience: retry, split (resilience.go).
	APIResilienceConfig
	// Cache, when present, caches the API's answers (see cache.go).
	Cache *CacheConfig `toml:"cache"`
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
	// IdleTimeout closes a pooled upstream connection idle this long (default
	// 1.5s, below common origin keep-alive timeouts: gunicorn 2s, Node 5s).
	IdleTimeout Duration `toml:"idle_timeout"`
	// ConnectTimeout bounds dialing a target; a failed dial moves on to the next target (default 3s).
	ConnectTimeout Duration `toml:"connect_timeout"`
	// HostHeader is "target" (send the target's host:port) or "client" (pass
	// the client's Host through) (default "target").
	HostHeader string `toml:"host_header"`
	// Mock, when set, answers without any upstream; Targets must then be empty.
	Mock *MockConfig `toml:"mock"`
	// Resilience: health_check, outlier, limits, breaker, balance, retry_budget (resilience.go).
	BackendResilienceConfig
	// Compose, when set, makes the backend composite: each request calls
	// every listed backend in parallel and answers with their JSON answers
	// merged (see compose.go). Targets and Mock must then be empty.
	Compose []ComposeCallConfig `toml:"compose"`
	// ComposeParallel bounds how many calls of one request are in flight at
	// once (default 8, at most 32).
	ComposeParallel int `toml:"compose_parallel"`
	// TLS configures the backend's https:// targets (policy/tls.go; default: system roots).
	TLS *UpstreamTLSConfig `toml:"tls"`
}

// TargetConfig is one upstream server of a backend.
type TargetConfig struct {
	// URL is "http://host:port" (required). No path.
	URL string `toml:"url"`
	// Weight is the target's share of requests (default 1, at most 1000).
	Weight int `toml:"weight"`
	// TLS replaces the backend's tls table for this https:// target (policy/tls.go).
	TLS *UpstreamTLSConfig `toml:"tls"`
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

// ConsumerConfig is one [[consumers]] entry: a partner or app.
type ConsumerConfig struct {
	// Name identifies the consumer in logs, limits and allowed_consumers, and
	// is sent upstream as X-Consumer-Name (required, unique).
	Name string `toml:"name"`
	// APIKeys are the consumer's API keys, inline, "env:NAME" or
	// "file:/path". Several at once let a key rotate without downtime.
	APIKeys []string `toml:"api_keys"`
	// Apps are AppKey/AppSecret pairs for HMAC signatures.
	Apps []AppConfig `toml:"apps"`
	// AllowedCIDRs, when set, restrict where the consumer may call from;
	// elsewhere its credentials get 403 (default: anywhere).
	AllowedCIDRs []string `toml:"allowed_cidrs"`
	// Headers are extra headers sent upstream with the consumer's requests,
	// e.g. { "X-Consumer-Tier" = "gold" } (default none).
	Headers map[string]string `toml:"headers"`
	// ClientCertificates identify the consumer by a verified client
	// certificate (auth mode "mtls"): "sha256:<fingerprint>", "san:<name>" or "cn:<name>".
	ClientCertificates []string `toml:"client_certificates"`
}

// AppConfig is one HMAC app of a consumer.
type AppConfig struct {
	// AppKey is sent by clients as X-Ca-Key (required, unique across consumers).
	AppKey string `toml:"app_key"`
	// AppSecrets sign requests; inline, "env:NAME" or "file:/path". A request
	// signed with any of them verifies, so a secret rotates without downtime.
	AppSecrets []string `toml:"app_secrets"`
}

// AuthConfig is an [groups.auth] or [groups.apis.auth] table.
type AuthConfig struct {
	// Modes are tried in order: "anonymous", "key", "hmac", "jwt". A mode whose
	// credential is absent passes to the next; one whose credential is present
	// but wrong fails the request. With "anonymous" last, callers without
	// credentials pass unidentified (default ["anonymous"]).
	Modes []string `toml:"modes"`
	// KeyHeader carries the API key (default "X-Api-Key").
	KeyHeader string `toml:"key_header"`
	// KeyQuery, when set, also accepts the API key as this query parameter (default "").
	KeyQuery string `toml:"key_query"`
	// HMAC tunes Alibaba-compatible app signatures.
	HMAC HMACConfig `toml:"hmac"`
	// DebugSignature returns the server's string to sign (newlines as '#')
	// in X-Ca-Error-Message when a signature does not match (default false).
	DebugSignature bool `toml:"debug_signature"`
	// JWT configures bearer tokens: keys, JWKS, OIDC discovery, claim rules.
	JWT *jwtauth.Config `toml:"jwt"`
	// JWTConsumerClaim names the claim whose value is the request's consumer
	// (default "sub").
	JWTConsumerClaim string `toml:"jwt_consumer_claim"`
	// AllowedConsumers, when set, lets only these consumers in; others
	// authenticate but get 403 (default: any authenticated consumer).
	AllowedConsumers []string `toml:"allowed_consumers"`
	// ForwardCredentials keeps the API key, signature headers and bearer
	// token on the forwarded request (default false: removed).
	ForwardCredentials bool `toml:"forward_credentials"`
}

// HMACConfig is the [auth.hmac] table.
type HMACConfig struct {
	// Window is how far X-Ca-Timestamp (or Date) may be from the gateway's clock (default "15m").
	Window Duration `toml:"window"`
	// AllowHmacSHA1 accepts X-Ca-Signature-Method: HmacSHA1 (default false).
	AllowHmacSHA1 bool `toml:"allow_hmac_sha1"`
	// AllowMissingNonce accepts requests without X-Ca-Nonce: no replay protection (default false).
	AllowMissingNonce bool `toml:"allow_missing_nonce"`
	// AllowDuplicateParams signs only the first of repeated parameters, as Alibaba does (default false: 400 DuplicateParameter).
	AllowDuplicateParams bool `toml:"allow_duplicate_params"`
	// AcceptListedHeaderCase also accepts signed header names in the case the
	// client listed them, as old Alibaba demo SDKs sign (default false).
	AcceptListedHeaderCase bool `toml:"accept_listed_header_case"`
}

// RateLimitConfig is a [groups.rate_limit] or [groups.apis.rate_limit] table.
// All configured limits are checked together: the most restrictive decides,
// and a denied request takes nothing from the others.
type RateLimitConfig struct {
	// API limits all the API's traffic together.
	API *RateConfig `toml:"api"`
	// Consumer limits each consumer (anonymous callers share one bucket).
	Consumer *RateConfig `toml:"consumer"`
	// ClientIP limits each client IP.
	ClientIP *RateConfig `toml:"client_ip"`
	// Quota caps each consumer per UTC minute, hour and day.
	Quota *QuotaConfig `toml:"quota"`
	// Overrides give named consumers their own consumer limit.
	Overrides []RateOverride `toml:"overrides"`
	// Headers adds RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset
	// to responses (default true).
	Headers *bool `toml:"headers"`
	// ShareStages makes the RELEASE, PRE and TEST stages of an API spend the
	// same buckets and quotas (default false: each stage has its own, so
	// TEST traffic never spends a client's RELEASE burst).
	ShareStages bool `toml:"share_stages"`
}

// RateConfig is a token bucket: Rate tokens per second, at most Burst saved.
type RateConfig struct {
	// Rate is requests per second, may be fractional (required, > 0).
	Rate float64 `toml:"rate"`
	// Burst is how many requests may come at once (default: Rate rounded up, at least 1).
	Burst int64 `toml:"burst"`
}

// QuotaConfig caps requests per consumer per calendar window (UTC); 0 means no cap.
type QuotaConfig struct {
	PerMinute int64 `toml:"per_minute"`
	PerHour   int64 `toml:"per_hour"`
	PerDay    int64 `toml:"per_day"`
}

// RateOverride is a consumer's own limit on an API.
type RateOverride struct {
	// Consumer names the consumer (required).
	Consumer string `toml:"consumer"`
	// Rate and Burst replace the consumer limit for this consumer.
	Rate  float64 `toml:"rate"`
	Burst int64   `toml:"burst"`
}

// TransformConfig is a [groups.apis.transform] table. Values are templates:
// literal text with sources in braces: {path.NAME}, {query.NAME},
// {header.NAME}, {var.NAME} (stage variable), {consumer}, {claim.NAME},
// {client_ip}, {request_id}. Compiled at load time.
type TransformConfig struct {
	// RequestHeaders edit the request sent upstream.
	RequestHeaders HeaderOps `toml:"request_headers"`
	// Query edits the query string sent upstream.
	Query HeaderOps `toml:"query"`
	// ResponseHeaders edit the response sent to the client (set, add, remove only).
	ResponseHeaders HeaderOps `toml:"response_headers"`
	// RequestBody edits a JSON request body before it is forwarded (see bodytransform.go).
	RequestBody *BodyOpsConfig `toml:"request_body"`
	// ResponseBody edits a JSON response body before it is sent to the client.
	ResponseBody *BodyOpsConfig `toml:"response_body"`
}

// HeaderOps are applied in this order: remove, rename, set, add.
type HeaderOps struct {
	Remove []string          `toml:"remove"`
	Rename map[string]string `toml:"rename"`
	Set    map[string]string `toml:"set"`
	Add    map[string]string `toml:"add"`
}
