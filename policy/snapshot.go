package policy

import (
	"net/netip"
	"time"

	"github.com/sluicegw/sluice/policy/casign"
	"github.com/sluicegw/sluice/policy/cors"
	"github.com/sluicegw/sluice/policy/ipacl"
	"github.com/sluicegw/sluice/policy/jwtauth"
	"github.com/sluicegw/sluice/policy/params"
	"github.com/sluicegw/sluice/policy/radix"
	"github.com/valyala/fasthttp"
)

// StageID is a compiled stage name.
type StageID uint8

// The stages every group has. A request picks one with X-Ca-Stage.
const (
	StageRelease StageID = iota
	StagePre
	StageTest
	numStages
)

var stageNames = [numStages]string{"RELEASE", "PRE", "TEST"}

// String is the stage's name as written in config and X-Ca-Stage.
func (s StageID) String() string { return stageNames[s] }

// ParseStage maps an X-Ca-Stage value to a stage; empty means RELEASE.
func ParseStage(b []byte) (StageID, bool) {
	switch string(b) {
	case "", "RELEASE":
		return StageRelease, true
	case "PRE":
		return StagePre, true
	case "TEST":
		return StageTest, true
	}
	return 0, false
}

// Snapshot is one compiled configuration. It is immutable once Compile
// returns and is shared by every request that loaded it; a reload builds a new
// one beside it. Safe for concurrent use.
type Snapshot struct {
	File     string
	Hash     string
	Version  uint64 // set by the publisher before it is stored
	LoadedAt time.Time
	Config   *Config // as decoded with defaults; treat as read-only

	Server         ServerSettings
	Groups         []*Group
	Backends       []*Backend
	APIs           []*API // every compiled (API, stage) pair
	TrustedProxies []netip.Prefix

	Consumers []*Consumer
	TLS       *TLSSettings // edge TLS (policy/tls.go); never nil
	// ConsumerHeaderNames are the names any consumer's headers table sets;
	// the data plane deletes them from every client request so a client
	// can never pose as a consumer.
	ConsumerHeaderNames [][]byte

	consumers    map[string]*Consumer
	apiKeys      map[[32]byte]apiKey
	appKeys      casign.StaticKeys
	jwtVerifiers []*jwtauth.Verifier

	hosts        map[string]*Group // exact host, lower case, no port
	wildcards    map[string]*Group // ".example.com" for "*.example.com"
	defaultGroup *Group
}

// ServerSettings is the compiled [server] table.
type ServerSettings struct {
	Listen                []string
	AdminListen           string
	AdminToken            []byte // resolved secret; never printed
	ReadTimeout           time.Duration
	WriteTimeout          time.Duration
	IdleTimeout           time.Duration
	MaxHeaderSize         int
	MaxBodySize           int64
	StreamThreshold       int
	MaxConcurrentRequests int64
	MaxTunnels            int64
	MaxStreamingUploads   int
	ShutdownTimeout       time.Duration
	WatchConfig           bool
	DemoOrigin            string
}

// Group is a compiled API group: one router per stage.
type Group struct {
	Name    string
	Hosts   []string
	TLS     *GroupTLS // policy/tls.go; never nil
	routers [numStages]*radix.Tree[*API]
}

// Router is the group's route table for a stage.
func (g *Group) Router(s StageID) *radix.Tree[*API] { return g.routers[s] }

// API is one API compiled for one stage, with everything it needs resolved:
// the request path costs no name lookups.
type API struct {
	Group       *Group
	Name        string
	Stage       StageID
	Path        string
	Methods     []string
	Backend     *Backend
	BackendPath *PathTemplate // nil forwards the request path as matched
	Timeout     time.Duration
	Stats       *APIStats
	// ID is xxhash of "group/api": the API's identity, the same in every
	// stage and across reloads.
	ID uint64
	// LimitID keys the API's rate-limit buckets: xxhash of
	// "group/api/STAGE", so each stage has its own buckets (issue 10,
	// defect 14), or ID when rate_limit.share_stages is set. Stable across
	// reloads, so a reload never refills a bucket.
	LimitID   uint64
	ACLs      []*ipacl.ACL // group's, then the API's
	CORS      *cors.Policy
	Auth      *Auth // nil: anonymous
	Throttle  *Throttle
	Params    *params.Validator
	Transform *Transform
	// WebSocket is set when the API tunnels WebSocket upgrades.
	WebSocket *WebSocket
	// Retry is the API's retry policy; nil: no retries (resilience.go).
	Retry *RetryPolicy
	// Cache is set when the API caches answers; Compression when it
	// compresses them (cache.go).
	Cache       *Cache
	Compression *Compression
	// Composite is set when the API's backend is a compose list: its calls,
	// compiled against this API's path parameters and stage (compose.go).
	Composite *Composite
	// ReadsBody is set when a step reads the body (HMAC signatures, form or
	// JSON parameters): the data plane then buffers it, bounded.
	ReadsBody bool
}

// Backend is a compiled backend. Upstream is bound by the data plane when the
// snapshot is compiled and is the handle to pools that outlive the snapshot.
type Backend struct {
	Name           string
	Targets        []TargetSpec
	PoolSize       int
	IdleTimeout    time.Duration
	ConnectTimeout time.Duration
	ClientHost     bool // pass the client's Host header instead of the target's
	Mock           *MockAnswer
	Upstream       Upstream    // nil for a composite backend: APIs hold its calls (API.Composite)
	Resilience     *Resilience // health, ejection, limits, breaker, balancing, budget, split (resilience.go)
	compose        *composeSpec
}

// TargetSpec is one upstream server.
type TargetSpec struct {
	URL    string
	Addr   string // host:port to dial
	Host   string // Host header value when the backend sends the target's
	Weight int
	HTTPS  bool         // an https:// target
	TLS    *UpstreamTLS // client TLS of an https:// target (policy/tls.go)
}

// MockAnswer is a precomputed fixed answer.
type MockAnswer struct {
	Status  int
	Headers [][2][]byte
	Body    []byte
}

// Upstream is a backend's forwarding chain: retry, balancer, then one
// terminal (the keep-alive pool or a mock answer). The proxy package
// implements it and binds one per backend when a snapshot is compiled; it is
// declared here so a compiled API can hold it directly.
type Upstream interface {
	// Do forwards x.Req and fills x.Resp. Retries happen inside, within
	// x.Deadline; the error is the last attempt's.
	Do(x *Exchange) error
}

// Exchange is one client request's trip through a backend's chain. It lives
// in the request's pooled state (no allocation) and is reset per request.
type Exchange struct {
	Req  *fasthttp.Request
	Resp *fasthttp.Response
	// Deadline bounds the whole exchange, retries included (the API's timeout).
	Deadline time.Time
	// Start is when the pipeline handed the request over (zero: unknown).
	// The first try reads it instead of the clock: a wall-and-monotonic
	// clock read costs about 50-100 ns on a VM's kvm-clock (issue 16).
	Start time.Time
	// Now is Start on the pipeline's clock (Unix ns; 0: unknown), which is
	// also the chain's (proxy.Options.Clock): the first try's balancer and
	// breaker decisions read it instead of the clock.
	Now int64
	// Replayable is set when the body is fully in memory (or there is none):
	// only then may the chain send the request a second time.
	Replayable bool
	// Target is the index in Backend.Targets of the target that answered or
	// was tried last; -1 when no target was involved (a mock answer).
	Target int
	// Attempts counts the upstream attempts made (0 for a mock answer).
	Attempts int
	// Retry, Client, Path and Params are set by the pipeline for the retry
	// layer, hashing balancers and sticky splits (resilience.go).
	Retry  *RetryPolicy
	Client netip.Addr
	Path   []byte
	Params *radix.Params
}

// MatchResult says how a request related to the route tables.
type MatchResult uint8

// Match outcomes.
const (
	Matched MatchResult = iota
	NoRoute
	WrongMethod
)

// Match finds the API for a request. host is the Host header as received
// (port and case are ignored). On WrongMethod, allow is the Allow header.
func (s *Snapshot) Match(host []byte, stage StageID, method, path []byte, ps *radix.Params) (*API, string, MatchResult) {
	g := s.groupFor(host)
	if g == nil {
		return nil, "", NoRoute
	}
	api, found, allow := g.routers[stage].Lookup(method, path, ps)
	if found {
		return api, "", Matched
	}
	if allow != "" {
		return nil, allow, WrongMethod
	}
	return nil, "", NoRoute
}

// groupFor picks the group owning host: exact name, then one-label wildcard,
// then the default group.
func (s *Snapshot) groupFor(host []byte) *Group {
	var buf [256]byte
	h := normalizeHost(buf[:0], host)
	if len(h) > 0 && len(h) < len(buf) {
		if g, ok := s.hosts[string(h)]; ok {
			return g
		}
		if len(s.wildcards) > 0 {
			for i, c := range h {
				if c == '.' {
					if g, ok := s.wildcards[string(h[i:])]; ok {
						return g
					}
					break
				}
			}
		}
	}
	return s.defaultGroup
}

// normalizeHost lower-cases host and drops a port, appending to dst.
func normalizeHost(dst, host []byte) []byte {
	end := len(host)
	if len(host) > 0 && host[0] == '[' {
		for i, c := range host {
			if c == ']' {
				end = i + 1
				break
			}
		}
	} else {
		for i := len(host) - 1; i >= 0; i-- {
			if host[i] == ':' {
				end = i
				break
			}
			if host[i] < '0' || host[i] > '9' {
				break
			}
		}
	}
	if end > cap(dst) {
		return dst[:0]
	}
	for _, c := range host[:end] {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	if n := len(dst); n > 0 && dst[n-1] == '.' {
		dst = dst[:n-1]
	}
	return dst
}
