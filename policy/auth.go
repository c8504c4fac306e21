package policy

import (
	"strconv"
	"time"

	"github.com/sluicegw/sluice/policy/casign"
	"github.com/sluicegw/sluice/policy/jwtauth"
)

// AuthMode is one way of proving identity.
type AuthMode uint8

// The authentication modes; room is left for mtls when TLS lands.
const (
	ModeAnonymous AuthMode = iota
	ModeKey
	ModeHMAC
	ModeJWT
	// ModeMTLS identifies the consumer by its verified client certificate
	// (policy/tls.go, consumers' client_certificates).
	ModeMTLS
)

var modeNames = map[string]AuthMode{"anonymous": ModeAnonymous, "key": ModeKey, "hmac": ModeHMAC, "jwt": ModeJWT, "mtls": ModeMTLS}

// String is the mode's config name, also used in logs and metrics.
func (m AuthMode) String() string {
	for k, v := range modeNames {
		if v == m {
			return k
		}
	}
	return "unknown"
}

// Auth is an API's compiled authentication and authorization.
type Auth struct {
	Modes              []AuthMode
	KeyHeader          string
	KeyQuery           string
	HMAC               *casign.Verifier
	DebugSignature     bool
	JWT                *jwtauth.Verifier
	JWTConsumerClaim   int // index into the verified token's claims
	AllowedConsumers   []string
	ForwardCredentials bool
}

// Allows reports whether the named consumer may call (authorization).
func (a *Auth) Allows(name []byte) bool {
	if len(a.AllowedConsumers) == 0 {
		return true
	}
	for _, n := range a.AllowedConsumers {
		if n == string(name) {
			return true
		}
	}
	return false
}

// Has reports whether m is one of the API's modes.
func (a *Auth) Has(m AuthMode) bool {
	for _, x := range a.Modes {
		if x == m {
			return true
		}
	}
	return false
}

func (c *compiler) auth(key string, cfg *AuthConfig, extraClaims []string) *Auth {
	if cfg == nil {
		return nil
	}
	a := &Auth{KeyHeader: cfg.KeyHeader, KeyQuery: cfg.KeyQuery, DebugSignature: cfg.DebugSignature,
		ForwardCredentials: cfg.ForwardCredentials, JWTConsumerClaim: -1}
	if a.KeyHeader == "" {
		a.KeyHeader = "X-Api-Key"
	}
	modes := cfg.Modes
	if len(modes) == 0 {
		modes = []string{"anonymous"}
	}
	seen := map[AuthMode]bool{}
	for i, m := range modes {
		mode, ok := modeNames[m]
		if !ok {
			c.add(key+".modes["+strconv.Itoa(i)+"]", "unknown auth mode "+quote(m)+": want anonymous, key, hmac, jwt or mtls")
			continue
		}
		if seen[mode] {
			c.add(key+".modes["+strconv.Itoa(i)+"]", "auth mode "+quote(m)+" listed twice")
			continue
		}
		if mode == ModeAnonymous && i != len(modes)-1 {
			c.add(key+".modes["+strconv.Itoa(i)+"]", "\"anonymous\" must be the last mode: the modes after it would never run")
		}
		seen[mode] = true
		a.Modes = append(a.Modes, mode)
	}
	for i, n := range cfg.AllowedConsumers {
		if _, ok := c.snap.consumers[n]; !ok && !seen[ModeJWT] {
			c.add(key+".allowed_consumers["+strconv.Itoa(i)+"]", "unknown consumer "+quote(n))
		}
	}
	a.AllowedConsumers = cfg.AllowedConsumers
	if seen[ModeHMAC] {
		v, err := casign.NewVerifier(casign.Config{
			Window:                 cfg.HMAC.Window.D(),
			AllowHmacSHA1:          cfg.HMAC.AllowHmacSHA1,
			AllowMissingNonce:      cfg.HMAC.AllowMissingNonce,
			AllowDuplicateParams:   cfg.HMAC.AllowDuplicateParams,
			AcceptListedHeaderCase: cfg.HMAC.AcceptListedHeaderCase,
		}, c.snap.appKeys, c.opt.Nonces)
		if err != nil {
			c.add(key+".hmac", err.Error())
		}
		if w := cfg.HMAC.Window; w != 0 {
			c.durationIn(key+".hmac.window", w, time.Second, 0)
		}
		if cfg.HMAC.Window.D() > 24*time.Hour {
			c.add(key+".hmac.window", "window over 24h makes replay protection meaningless")
		}
		a.HMAC = v
	}
	if seen[ModeJWT] {
		if cfg.JWT == nil {
			c.add(key+".jwt", "auth mode \"jwt\" needs a [jwt] table with keys, jwks_url or oidc_issuer")
			return a
		}
		jc := *cfg.JWT
		// Zero means the default; anything set must be usable (defect 5).
		for _, d := range []struct {
			name string
			v    Duration
			min  time.Duration
		}{{"refresh_interval", jc.RefreshInterval, 10 * time.Second},
			{"min_refetch_interval", jc.MinRefetchInterval, 100 * time.Millisecond},
			{"fetch_timeout", jc.FetchTimeout, 100 * time.Millisecond}} {
			if d.v != 0 {
				c.durationIn(key+".jwt."+d.name, d.v, d.min, 0)
			}
		}
		claim := cfg.JWTConsumerClaim
		if claim == "" {
			claim = "sub"
		}
		jc.ExposeClaims = append(append([]string{claim}, extraClaims...), jc.ExposeClaims...)
		reg := c.opt.JWT
		if reg == nil {
			reg = jwtauth.DefaultRegistry
		}
		v, err := reg.Compile(jc)
		if err != nil {
			c.add(key+".jwt", err.Error())
			return a
		}
		c.snap.jwtVerifiers = append(c.snap.jwtVerifiers, v)
		a.JWT = v
		a.JWTConsumerClaim = v.ClaimIndex(claim)
	} else if cfg.JWT != nil {
		c.add(key+".jwt", "a [jwt] table is set but \"jwt\" is not in modes")
	}
	if seen[ModeKey] && len(c.snap.apiKeys) == 0 {
		c.add(key+".modes", "auth mode \"key\" but no consumer has api_keys")
	}
	if seen[ModeHMAC] && len(c.snap.appKeys) == 0 {
		c.add(key+".modes", "auth mode \"hmac\" but no consumer has apps")
	}
	return a
}

// Start puts the snapshot into service: it starts what runs in the
// background for it (refreshing remote JWT key sets). Compile starts
// nothing and does no network I/O, so sluice check and a rejected reload
// open no socket; the data plane calls Start when it publishes the
// snapshot. Idempotent, and safe to call from several goroutines.
func (s *Snapshot) Start() {
	for _, v := range s.jwtVerifiers {
		v.Start()
	}
}

// Close releases what the snapshot holds outside itself (JWT key-set
// references). Call it on the old snapshot after a new one is published.
func (s *Snapshot) Close() {
	for _, v := range s.jwtVerifiers {
		v.Close()
	}
}
