package policy

import "time"

// Defaults, in one place. configs/reference.toml states the same values.
const (
	DefaultListen          = "127.0.0.1:8080"
	DefaultAdminListen     = "127.0.0.1:9901"
	DefaultReadTimeout     = 30 * time.Second
	DefaultWriteTimeout    = 30 * time.Second
	DefaultIdleTimeout     = 60 * time.Second
	DefaultMaxHeaderSize   = 16 << 10
	DefaultMaxBodySize     = 10 << 20
	DefaultStreamThreshold = 1 << 20
	DefaultShutdownTimeout = 30 * time.Second
	DefaultAPITimeout      = 9 * time.Second
	MaxAPITimeout          = 30 * time.Second
	// MinServerTimeout is the least read, write, idle and shutdown timeout
	// of [server] and idle_timeout of a backend: below it no real client
	// finishes, and a value that small was meant in another unit.
	MinServerTimeout = 100 * time.Millisecond
	// MinAPITimeout is the least API timeout and backend connect_timeout.
	MinAPITimeout = 10 * time.Millisecond
	// MaxConnectTimeout bounds a backend's connect_timeout.
	MaxConnectTimeout     = time.Minute
	DefaultPoolSize       = 512
	DefaultUpstreamIdle   = 1500 * time.Millisecond // see below
	DefaultConnectTimeout = 3 * time.Second
	DefaultMockStatus     = 200
	MaxTargetWeight       = 1000
)

// DefaultUpstreamIdle is below the keep-alive timeouts origins commonly use
// (gunicorn 2 s, Node and Apache 5 s): a pooled connection the gateway still
// deems usable should not be one the origin has already closed (issue 10,
// defect 4). DefaultMaxStreamingUploads bounds request bodies streaming
// upstream at once (defect 6).
const DefaultMaxStreamingUploads = 64

// applyDefaults fills every zero value that has a default. Validation runs
// after it, so validation sees exactly what will be compiled.
func applyDefaults(c *Config) {
	s := &c.Server
	if len(s.Listen) == 0 {
		s.Listen = []string{DefaultListen}
	}
	if s.AdminListen == "" {
		s.AdminListen = DefaultAdminListen
	}
	setDur(&s.ReadTimeout, DefaultReadTimeout)
	setDur(&s.WriteTimeout, DefaultWriteTimeout)
	setDur(&s.IdleTimeout, DefaultIdleTimeout)
	setDur(&s.ShutdownTimeout, DefaultShutdownTimeout)
	setSize(&s.MaxHeaderSize, DefaultMaxHeaderSize)
	setSize(&s.MaxBodySize, DefaultMaxBodySize)
	setSize(&s.StreamThreshold, DefaultStreamThreshold)
	if s.MaxStreamingUploads == 0 {
		s.MaxStreamingUploads = DefaultMaxStreamingUploads
	}
	if s.WatchConfig == nil {
		on := true
		s.WatchConfig = &on
	}
	for gi := range c.Groups {
		g := &c.Groups[gi]
		for ai := range g.APIs {
			a := &g.APIs[ai]
			if len(a.Methods) == 0 {
				a.Methods = []string{"*"}
			}
			if len(a.Stages) == 0 {
				a.Stages = []string{"RELEASE", "PRE", "TEST"}
			}
			setDur(&a.Timeout, DefaultAPITimeout)
		}
	}
	applyWebSocketDefaults(c)
	applyCacheDefaults(c)
	applyComposeDefaults(c)
	for bi := range c.Backends {
		b := &c.Backends[bi]
		if b.PoolSize == 0 {
			b.PoolSize = DefaultPoolSize
		}
		setDur(&b.IdleTimeout, DefaultUpstreamIdle)
		setDur(&b.ConnectTimeout, DefaultConnectTimeout)
		if b.HostHeader == "" {
			b.HostHeader = "target"
		}
		for ti := range b.Targets {
			if b.Targets[ti].Weight == 0 {
				b.Targets[ti].Weight = 1
			}
		}
		if b.Mock != nil && b.Mock.Status == 0 {
			b.Mock.Status = DefaultMockStatus
		}
	}
}

func setDur(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}

func setSize(s *Size, def int64) {
	if *s == 0 {
		*s = Size(def)
	}
}
