package policy

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// RedisConfig is the [state.redis] table: the Redis deployment a fleet of
// Sluice nodes shares its limits, quotas and HMAC nonces through (issue 15).
// Absent means every limit and nonce is local to the node. Like the rest of
// [state], changes need a restart.
type RedisConfig struct {
	// Addresses are host:port seeds: one standalone server, any nodes of a
	// Cluster (detected), or the Sentinels when master_set is set (required).
	Addresses []string `toml:"addresses"`
	// MasterSet is the Sentinel master set name; empty means no Sentinel
	// (default empty).
	MasterSet string `toml:"master_set"`
	// Username is the ACL user; empty means the default user (default empty).
	Username string `toml:"username"`
	// Password authenticates: inline, "env:NAME" or "file:/path" (default
	// empty: no AUTH).
	Password string `toml:"password"`
	// TLS, when present, encrypts every connection to Redis.
	TLS *RedisTLSConfig `toml:"tls"`
	// DB is the database number (standalone and Sentinel; a Cluster has only
	// 0) (default 0).
	DB int `toml:"db"`
	// KeyPrefix starts every key Sluice writes, so several fleets can share
	// one Redis (default "sluice:").
	KeyPrefix string `toml:"key_prefix"`
	// DialTimeout bounds connecting to Redis, 5ms to 1s (default 20ms).
	DialTimeout Duration `toml:"dial_timeout"`
	// ReadTimeout bounds every Redis call, 5ms to 20ms: a nonce check waits
	// at most this long on the request path, and a call that exceeds it
	// opens the breaker (default 10ms).
	ReadTimeout Duration `toml:"read_timeout"`
	// Fallback is what fleet-scoped limits do while Redis is unreachable:
	// "local" enforces each limit divided by fleet_size on every node,
	// "allow" admits, "deny" refuses with 429 (default "local").
	Fallback string `toml:"fallback"`
	// FleetSize is the number of nodes sharing the limits: the "local"
	// fallback divides every fleet limit by it, and a node never leases more
	// than burst/fleet_size tokens at once (required, 1 to 10000).
	FleetSize int `toml:"fleet_size"`
	// ReadyzInFallback keeps /readyz answering 200 while Redis is
	// unreachable; false makes a node in fallback report not ready so a
	// load balancer can drain it (default true).
	ReadyzInFallback *bool `toml:"readyz_in_fallback"`
	// Scopes chooses, per limit scope, "fleet" (shared through Redis) or
	// "local" (this node alone). Every scope defaults to "fleet".
	Scopes RedisScopes `toml:"scopes"`
}

// RedisTLSConfig is [state.redis.tls].
type RedisTLSConfig struct {
	// CAFile is a PEM bundle the Redis certificate must chain to (default
	// empty: the system roots).
	CAFile string `toml:"ca_file"`
	// ServerName is checked against the certificate (default: the host of
	// each address).
	ServerName string `toml:"server_name"`
	// CertFile and KeyFile are a client certificate for Redis servers that
	// require one (both or neither; default none).
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
}

// RedisScopes is [state.redis.scopes]: "fleet" or "local" per scope.
type RedisScopes struct {
	// API is the per-API rate limit.
	API string `toml:"api"`
	// Consumer is the per-consumer rate limit.
	Consumer string `toml:"consumer"`
	// ClientIP is the per-client-IP rate limit.
	ClientIP string `toml:"client_ip"`
	// Quota is the per-consumer minute/hour/day quotas.
	Quota string `toml:"quota"`
	// Nonces is HMAC replay protection: "fleet" refuses a signature
	// replayed to any node.
	Nonces string `toml:"nonces"`
}

// Bounds and defaults of [state.redis].
const (
	DefaultRedisKeyPrefix   = "sluice:"
	DefaultRedisDialTimeout = 20 * time.Millisecond
	DefaultRedisReadTimeout = 10 * time.Millisecond
	MinRedisTimeout         = 5 * time.Millisecond
	MaxRedisReadTimeout     = 20 * time.Millisecond
	MaxRedisDialTimeout     = time.Second
	MaxFleetSize            = 10000
)

// Redis is [state.redis] validated and resolved: secrets read, TLS files
// loaded, defaults filled. The data plane builds its fleet stores from it.
type Redis struct {
	Addrs            []string
	MasterSet        string
	Username         string
	Password         string
	TLS              *tls.Config
	DB               int
	KeyPrefix        string
	DialTimeout      time.Duration
	ReadTimeout      time.Duration
	Fallback         string // "local", "allow" or "deny"
	FleetSize        int
	ReadyzInFallback bool
	// Fleet scopes: true shares the scope through Redis.
	API, Consumer, ClientIP, Quota, Nonces bool
}

// CompileState validates [state] of p and resolves [state.redis]; nil Redis
// means no [state.redis]. The stores outlive snapshots, so the data plane
// builds them from this once, before the first Compile, which reports the
// same errors again in place.
func CompileState(p *Parsed) (*Redis, error) {
	c := &compiler{p: p, snap: &Snapshot{}}
	r := c.state()
	if len(c.errs) > 0 {
		sortErrors(c.errs)
		return nil, c.errs
	}
	return r, nil
}

func (c *compiler) state() *Redis {
	st := &c.p.Config.State
	rc := st.Redis
	if rc == nil {
		return nil
	}
	const k = "state.redis."
	r := &Redis{
		MasterSet: rc.MasterSet, Username: rc.Username, DB: rc.DB, KeyPrefix: rc.KeyPrefix,
		DialTimeout: rc.DialTimeout.D(), ReadTimeout: rc.ReadTimeout.D(), Fallback: rc.Fallback,
		FleetSize: rc.FleetSize, ReadyzInFallback: rc.ReadyzInFallback == nil || *rc.ReadyzInFallback,
	}
	if len(rc.Addresses) == 0 {
		c.add(k+"addresses", "at least one Redis address is required")
	}
	for i, a := range rc.Addresses {
		host, port, err := net.SplitHostPort(a)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			c.add(k+"addresses["+strconv.Itoa(i)+"]", quote(a)+" is not host:port")
			continue
		}
		r.Addrs = append(r.Addrs, a)
	}
	if rc.Password != "" {
		pw, err := ResolveSecret(rc.Password)
		if err != nil {
			c.add(k+"password", err.Error())
		}
		r.Password = string(pw)
	}
	if rc.DB < 0 || rc.DB > 15 {
		c.add(k+"db", "must be between 0 and 15")
	}
	if r.KeyPrefix == "" {
		r.KeyPrefix = DefaultRedisKeyPrefix
	} else if len(r.KeyPrefix) > 64 || strings.ContainsAny(r.KeyPrefix, "{} \t\r\n") {
		// Braces would move every key into one Cluster hash tag.
		c.add(k+"key_prefix", "must be at most 64 characters without braces or spaces")
	}
	if r.DialTimeout == 0 {
		r.DialTimeout = DefaultRedisDialTimeout
	}
	if r.ReadTimeout == 0 {
		r.ReadTimeout = DefaultRedisReadTimeout
	}
	c.durationIn(k+"dial_timeout", Duration(r.DialTimeout), MinRedisTimeout, MaxRedisDialTimeout)
	c.durationIn(k+"read_timeout", Duration(r.ReadTimeout), MinRedisTimeout, MaxRedisReadTimeout)
	switch r.Fallback {
	case "":
		r.Fallback = "local"
	case "local", "allow", "deny":
	default:
		c.add(k+"fallback", quote(r.Fallback)+` is not "local", "allow" or "deny"`)
	}
	if rc.FleetSize < 1 || rc.FleetSize > MaxFleetSize {
		c.add(k+"fleet_size", "the number of nodes sharing the limits is required, 1 to "+strconv.Itoa(MaxFleetSize))
	}
	scope := func(name, v string, out *bool) {
		switch v {
		case "", "fleet":
			*out = true
		case "local":
		default:
			c.add(k+"scopes."+name, quote(v)+` is not "fleet" or "local"`)
		}
	}
	s := &rc.Scopes
	scope("api", s.API, &r.API)
	scope("consumer", s.Consumer, &r.Consumer)
	scope("client_ip", s.ClientIP, &r.ClientIP)
	scope("quota", s.Quota, &r.Quota)
	scope("nonces", s.Nonces, &r.Nonces)
	if t := rc.TLS; t != nil {
		r.TLS = c.redisTLS(t)
	}
	return r
}

func (c *compiler) redisTLS(t *RedisTLSConfig) *tls.Config {
	const k = "state.redis.tls."
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			c.add(k+"ca_file", "cannot read "+quote(t.CAFile))
		} else {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				c.add(k+"ca_file", quote(t.CAFile)+" holds no PEM certificate")
			}
			cfg.RootCAs = pool
		}
	}
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		c.add(k+"cert_file", "cert_file and key_file go together")
	case t.CertFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			c.add(k+"cert_file", "cannot load the client certificate: "+err.Error())
		} else {
			cfg.Certificates = []tls.Certificate{cert}
		}
	}
	return cfg
}
