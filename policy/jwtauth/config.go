package jwtauth

// Config configures one JWT verifier (one API's authentication step).
// Zero values are usable; defaults are filled in by Compile.
type Config struct {
	// Header names a request header that carries the token, either raw or as
	// "Bearer <t>", instead of "Authorization: Bearer <t>". Mutually
	// exclusive with Cookie. (default "": Authorization Bearer)
	Header string `toml:"header"`
	// Cookie names a cookie that carries the raw token. Mutually exclusive
	// with Header. (default "": no cookie)
	Cookie string `toml:"cookie"`

	// Keys are inline verification keys, tried before remote keys.
	// (default none)
	Keys []KeyConfig `toml:"keys"`
	// JWKSURL is a JSON Web Key Set fetched in the background and refreshed
	// every RefreshInterval. Mutually exclusive with OIDCIssuer. At least one
	// of Keys, JWKSURL, OIDCIssuer is required. (default "")
	JWKSURL string `toml:"jwks_url"`
	// OIDCIssuer is an OpenID Connect issuer; its JWKS is found through
	// <issuer>/.well-known/openid-configuration. It also becomes the
	// required "iss" when Issuer is empty. (default "")
	OIDCIssuer string `toml:"oidc_issuer"`
	// AllowHTTP permits http:// JWKS and issuer URLs on non-loopback hosts;
	// keys fetched in clear text can be swapped by anyone on the path.
	// Loopback hosts may always use http. (default false)
	AllowHTTP bool `toml:"allow_http"`
	// RefreshInterval is how long fetched keys are used before the
	// background refetch; after a failed fetch the next try comes after
	// MinRefetchInterval. (default "10m")
	RefreshInterval Duration `toml:"refresh_interval"`
	// MinRefetchInterval bounds early refetches triggered by tokens with an
	// unknown "kid": at most one fetch per interval. (default "30s")
	MinRefetchInterval Duration `toml:"min_refetch_interval"`
	// FetchTimeout bounds one discovery or JWKS request, and how long a
	// request with an unknown kid waits for the early refetch. (default "5s")
	FetchTimeout Duration `toml:"fetch_timeout"`
	// MaxJWKSSize bounds a discovery or JWKS response body. (default "1MiB")
	MaxJWKSSize Size `toml:"max_jwks_size"`
	// RSAAlg is the algorithm pinned to RSA keys from a JWKS whose JWK has
	// no "alg": one of RS256, RS384, RS512, PS256, PS384, PS512.
	// (default "RS256")
	RSAAlg string `toml:"rsa_alg"`

	// Leeway is the clock skew tolerated on exp, nbf and iat. (default "30s")
	Leeway Duration `toml:"leeway"`
	// Issuer is the required "iss" claim, compared exactly. (default "": the
	// OIDCIssuer if set, else not checked)
	Issuer string `toml:"issuer"`
	// Audiences: the token's "aud" (string or array) must contain at least
	// one of these. (default none: not checked)
	Audiences []string `toml:"audiences"`
	// AllowMissingExp accepts tokens without an "exp" claim. (default false)
	AllowMissingExp bool `toml:"allow_missing_exp"`
	// RequiredClaims are authorization rules, all of which must hold; a
	// failing rule answers 403. (default none)
	RequiredClaims []ClaimRule `toml:"required_claims"`
	// ForwardClaims maps a claim name to the request header its value is
	// forwarded in, e.g. { sub = "X-User-Id" }. Strings are forwarded
	// unescaped, numbers as written, booleans as true/false, arrays of those
	// comma-joined; objects, null and values with control characters are not
	// forwarded. (default none)
	ForwardClaims map[string]string `toml:"forward_claims"`
	// ExposeClaims are further claims the gateway reads (request transforms
	// using {claim.NAME}, the consumer claim); set by the policy compiler,
	// not written in TOML.
	ExposeClaims []string `toml:"-"`

	// MaxTokenSize rejects longer tokens before any parsing. (default "8KiB")
	MaxTokenSize Size `toml:"max_token_size"`
	// CacheSize is the number of verified tokens remembered; a repeated
	// token skips parsing and the signature check. Rounded up to a power of
	// two; negative disables the cache. (default 4096)
	CacheSize int `toml:"cache_size"`
	// Realm is the realm in WWW-Authenticate challenges. (default "sluice")
	Realm string `toml:"realm"`
}

// KeyConfig is one inline key. Exactly one of PEM, JWK, Secret, SecretEnv.
type KeyConfig struct {
	// Kid is matched against the token's "kid" header; a key without kid
	// matches tokens whose kid no other key claims. For JWK input it
	// overrides the JWK's own kid. (default "": the JWK's kid, if any)
	Kid string `toml:"kid"`
	// Alg is the one algorithm this key verifies. Required for RSA PEM keys
	// and secrets; derived from the curve for EC/Ed25519 keys and from the
	// JWK's "alg" when present (a conflicting value is an error).
	// (default "")
	Alg string `toml:"alg"`
	// PEM is a public key: PKIX "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY" or a
	// "CERTIFICATE" (only its key is used; validity is not checked).
	// Private keys are refused. (default "")
	PEM string `toml:"pem"`
	// JWK is one JSON Web Key (RSA, EC, OKP/Ed25519 or oct) as JSON text.
	// (default "")
	JWK string `toml:"jwk"`
	// Secret is an HMAC secret, at least as long as the hash output (32, 48
	// or 64 bytes for HS256/384/512). Prefer SecretEnv. (default "")
	Secret string `toml:"secret"`
	// SecretEnv names an environment variable holding the HMAC secret,
	// read at compile time. (default "")
	SecretEnv string `toml:"secret_env"`
}

// ClaimRule is one authorization requirement on a claim. Exactly one of
// Contains, OneOf, Equals must be set.
type ClaimRule struct {
	// Claim is the top-level claim name, e.g. "scope" or "role".
	Claim string `toml:"claim"`
	// Contains: every listed value must be present in the claim, which is a
	// space-separated string (OAuth "scope") or an array of strings.
	// (default none)
	Contains []string `toml:"contains"`
	// OneOf: the claim value, or any element when it is an array, must be
	// one of these. (default none)
	OneOf []string `toml:"one_of"`
	// Equals: the claim rendered as text (string, number as written,
	// true/false) must equal this value. (default "": rule not used)
	Equals string `toml:"equals"`
}
