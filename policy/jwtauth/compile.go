package jwtauth

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// Defaults filled in by Compile for zero Config fields.
const (
	DefaultRefreshInterval    = 10 * time.Minute
	DefaultMinRefetchInterval = 30 * time.Second
	DefaultFetchTimeout       = 5 * time.Second
	DefaultMaxJWKSSize        = 1 << 20
	DefaultLeeway             = 30 * time.Second
	DefaultMaxTokenSize       = 8 << 10
	DefaultCacheSize          = 4096
)

// Compile builds a Verifier using DefaultRegistry for remote keys.
func Compile(cfg Config) (*Verifier, error) { return DefaultRegistry.Compile(cfg) }

// Compile builds a Verifier whose remote key set, if any, is shared through
// r. It never touches the network itself: the first fetch runs in the
// background (see RemoteKeys.WaitReady).
func (r *Registry) Compile(cfg Config) (*Verifier, error) {
	v, err := r.compile(cfg)
	if err != nil {
		return nil, fmt.Errorf("jwt: %w", err)
	}
	return v, nil
}

func (r *Registry) compile(cfg Config) (*Verifier, error) {
	v := &Verifier{
		realm:      cfg.Realm,
		maxToken:   int(cfg.MaxTokenSize),
		leeway:     int64(time.Duration(cfg.Leeway) / time.Second),
		issuer:     cfg.Issuer,
		allowNoExp: cfg.AllowMissingExp,
		reg:        r,
	}
	if v.realm == "" {
		v.realm = DefaultRealm
	}
	for _, c := range v.realm {
		if c < 0x20 || c == 0x7f || c == '"' || c == '\\' {
			return nil, fmt.Errorf("realm %q must not contain quotes, backslashes or control characters", cfg.Realm)
		}
	}
	if v.maxToken == 0 {
		v.maxToken = DefaultMaxTokenSize
	}
	if cfg.Leeway == 0 {
		v.leeway = int64(DefaultLeeway / time.Second)
	}

	switch {
	case cfg.Header != "" && cfg.Cookie != "":
		return nil, errors.New("header and cookie are mutually exclusive")
	case cfg.Header != "":
		if !validToken(cfg.Header) {
			return nil, fmt.Errorf("header %q is not a valid header name", cfg.Header)
		}
		v.src = Source{Kind: SourceHeader, Name: cfg.Header}
	case cfg.Cookie != "":
		if !validToken(cfg.Cookie) {
			return nil, fmt.Errorf("cookie %q is not a valid cookie name", cfg.Cookie)
		}
		v.src = Source{Kind: SourceCookie, Name: cfg.Cookie}
	}

	rsaAlg := algRS256
	if cfg.RSAAlg != "" {
		rsaAlg = algByName([]byte(cfg.RSAAlg))
		if f := algInfo[rsaAlg].fam; rsaAlg == algInvalid || (f != famRSA && f != famPSS) {
			return nil, fmt.Errorf("rsa_alg %q: want RS256, RS384, RS512, PS256, PS384 or PS512", cfg.RSAAlg)
		}
	}

	keys := make([]*Key, 0, len(cfg.Keys))
	for i, kc := range cfg.Keys {
		k, err := compileKey(kc, rsaAlg)
		if err != nil {
			return nil, fmt.Errorf("keys[%d]: %v", i, err)
		}
		keys = append(keys, k)
	}
	v.inline = newKeyTable(keys)

	if cfg.JWKSURL != "" && cfg.OIDCIssuer != "" {
		return nil, errors.New("jwks_url and oidc_issuer are mutually exclusive (discovery finds the JWKS)")
	}
	if len(keys) == 0 && cfg.JWKSURL == "" && cfg.OIDCIssuer == "" {
		return nil, errors.New("no keys: set keys, jwks_url or oidc_issuer")
	}
	if cfg.OIDCIssuer != "" && v.issuer == "" {
		v.issuer = cfg.OIDCIssuer
	}

	for i, a := range cfg.Audiences {
		if a == "" {
			return nil, fmt.Errorf("audiences[%d] is empty", i)
		}
	}
	v.audiences = append([]string(nil), cfg.Audiences...)

	v.names = []string{"sub"}
	for _, c := range cfg.ExposeClaims {
		if c != "" {
			v.nameIndex(c)
		}
	}
	claims := make([]string, 0, len(cfg.ForwardClaims))
	for c := range cfg.ForwardClaims {
		claims = append(claims, c)
	}
	sort.Strings(claims)
	seenHeader := map[string]string{}
	for _, c := range claims {
		h := cfg.ForwardClaims[c]
		if c == "" {
			return nil, errors.New("forward_claims: empty claim name")
		}
		if !validToken(h) {
			return nil, fmt.Errorf("forward_claims.%s: %q is not a valid header name", c, h)
		}
		lh := strings.ToLower(h)
		if other, dup := seenHeader[lh]; dup {
			return nil, fmt.Errorf("forward_claims: claims %q and %q both set header %q", other, c, h)
		}
		seenHeader[lh] = c
		v.forwards = append(v.forwards, Forward{Claim: c, Header: h, Index: v.nameIndex(c)})
	}

	for i, rc := range cfg.RequiredClaims {
		rl, err := v.compileRule(rc)
		if err != nil {
			return nil, fmt.Errorf("required_claims[%d]: %v", i, err)
		}
		v.rules = append(v.rules, rl)
	}

	switch {
	case cfg.CacheSize == 0:
		v.cache = newTokenCache(DefaultCacheSize)
	case cfg.CacheSize > 1<<24:
		return nil, fmt.Errorf("cache_size %d exceeds %d", cfg.CacheSize, 1<<24)
	case cfg.CacheSize > 0:
		v.cache = newTokenCache(cfg.CacheSize)
	}

	if src := firstNonEmpty(cfg.JWKSURL, cfg.OIDCIssuer); src != "" {
		if err := checkFetchURL(src, cfg.AllowHTTP); err != nil {
			if cfg.JWKSURL != "" {
				return nil, fmt.Errorf("jwks_url: %v", err)
			}
			return nil, fmt.Errorf("oidc_issuer: %v", err)
		}
		o := &fetchOpts{
			refresh:    orDefault(cfg.RefreshInterval, DefaultRefreshInterval),
			minRefetch: orDefault(cfg.MinRefetchInterval, DefaultMinRefetchInterval),
			timeout:    orDefault(cfg.FetchTimeout, DefaultFetchTimeout),
			maxBody:    int64(cfg.MaxJWKSSize),
			allowHTTP:  cfg.AllowHTTP,
		}
		if o.maxBody == 0 {
			o.maxBody = DefaultMaxJWKSSize
		}
		if o.minRefetch > o.refresh {
			return nil, fmt.Errorf("min_refetch_interval %v exceeds refresh_interval %v", o.minRefetch, o.refresh)
		}
		v.remote = r.acquire(src, cfg.OIDCIssuer != "", rsaAlg, o)
	}
	return v, nil
}

func compileKey(kc KeyConfig, rsaAlg algID) (*Key, error) {
	alg := algInvalid
	if kc.Alg != "" {
		if alg = algByName([]byte(kc.Alg)); alg == algInvalid {
			return nil, fmt.Errorf("alg %q is not supported", kc.Alg)
		}
	}
	n := 0
	for _, s := range []string{kc.PEM, kc.JWK, kc.Secret, kc.SecretEnv} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("set exactly one of pem, jwk, secret, secret_env")
	}
	switch {
	case kc.PEM != "":
		return parsePEMKey(kc.PEM, alg, kc.Kid)
	case kc.JWK != "":
		k, err := parseJWK([]byte(kc.JWK), kc.Kid, alg, rsaAlg, true)
		if err == errSkipKey {
			return nil, errors.New("JWK is not a signature verification key (use/key_ops)")
		}
		return k, err
	}
	secret := kc.Secret
	if kc.SecretEnv != "" {
		secret = os.Getenv(kc.SecretEnv)
		if secret == "" {
			return nil, fmt.Errorf("environment variable %s is empty or unset", kc.SecretEnv)
		}
	}
	if alg == algInvalid {
		return nil, errors.New("secret needs alg (HS256, HS384 or HS512)")
	}
	k := &Key{kid: kc.Kid, hasKid: kc.Kid != "", alg: alg, secret: []byte(secret)}
	if err := k.checkAlg(); err != nil {
		return nil, err
	}
	return k.finish(k.secret), nil
}

func (v *Verifier) compileRule(rc ClaimRule) (rule, error) {
	if rc.Claim == "" {
		return rule{}, errors.New("claim is empty")
	}
	rl := rule{idx: v.nameIndex(rc.Claim)}
	n := 0
	if len(rc.Contains) > 0 {
		rl.kind, rl.values, n = ruleContains, rc.Contains, n+1
	}
	if len(rc.OneOf) > 0 {
		rl.kind, rl.values, n = ruleOneOf, rc.OneOf, n+1
	}
	if rc.Equals != "" {
		rl.kind, rl.values, n = ruleEquals, []string{rc.Equals}, n+1
	}
	if n != 1 {
		return rule{}, fmt.Errorf("claim %q: set exactly one of contains, one_of, equals", rc.Claim)
	}
	for _, s := range rl.values {
		if s == "" || (rl.kind == ruleContains && strings.ContainsRune(s, ' ')) {
			return rule{}, fmt.Errorf("claim %q: value %q is empty or (for contains) has a space", rc.Claim, s)
		}
	}
	rl.values = append([]string(nil), rl.values...)
	return rl, nil
}

// nameIndex returns the exposed-claim index of name, adding it if new.
func (v *Verifier) nameIndex(name string) int {
	if i := v.ClaimIndex(name); i >= 0 {
		return i
	}
	v.names = append(v.names, name)
	return len(v.names) - 1
}

// validToken reports whether s is an RFC 9110 token (header/cookie name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func orDefault(d Duration, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}
