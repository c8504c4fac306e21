package jwtauth

// Error is a verification failure with a stable code (used in the gateway's
// JSON error body and in metrics), a human reason and the HTTP status the
// caller answers with. All Errors are package-level values: compare with ==
// or errors.Is. Immutable, safe for concurrent use.
type Error struct {
	code   string
	reason string
	status int
	// oauth is the RFC 6750 §3.1 error code, empty when the request carried
	// no token at all (the RFC says not to include an error code then).
	oauth string
	www   []byte // WWW-Authenticate value for the default realm
}

func newError(code string, status int, oauth, reason string) *Error {
	e := &Error{code: code, reason: reason, status: status, oauth: oauth}
	e.www = e.AppendWWWAuthenticate(nil, DefaultRealm)
	return e
}

// Verification errors. Status 401 unless noted.
var (
	ErrTokenMissing     = newError("TokenMissing", 401, "", "no bearer token in the request")
	ErrTokenTooLarge    = newError("TokenTooLarge", 401, "invalid_token", "token exceeds the size limit")
	ErrTokenMalformed   = newError("TokenMalformed", 401, "invalid_token", "token is not a well-formed compact JWS")
	ErrForbiddenHeader  = newError("ForbiddenHeader", 401, "invalid_token", "token header carries a forbidden parameter")
	ErrAlgNotAllowed    = newError("AlgNotAllowed", 401, "invalid_token", "token algorithm is not allowed for its key")
	ErrUnknownKid       = newError("UnknownKid", 401, "invalid_token", "token key id is unknown")
	ErrBadSignature     = newError("BadSignature", 401, "invalid_token", "token signature is invalid")
	ErrTokenExpired     = newError("TokenExpired", 401, "invalid_token", "token has expired")
	ErrTokenNotYetValid = newError("TokenNotYetValid", 401, "invalid_token", "token is not valid yet")
	ErrBadIssuer        = newError("BadIssuer", 401, "invalid_token", "token issuer is not accepted")
	ErrBadAudience      = newError("BadAudience", 401, "invalid_token", "token audience is not accepted")
	ErrClaimMissing     = newError("ClaimMissing", 401, "invalid_token", "token lacks the exp claim")
	ErrClaimInvalid     = newError("ClaimInvalid", 401, "invalid_token", "token claim has an invalid type or value")
	// ErrClaimRequired is authorization, not authentication: the token is
	// genuine but lacks a required scope/role/value. Status 403.
	ErrClaimRequired = newError("ClaimRequired", 403, "insufficient_scope", "token lacks a required claim")
	// ErrKeysUnavailable means no key has ever been fetched from the
	// configured JWKS/OIDC endpoint. Status 503: the gateway, not the client,
	// is at fault.
	ErrKeysUnavailable = newError("KeysUnavailable", 503, "", "signing keys are not available yet")
)

// DefaultRealm is the realm used in WWW-Authenticate when none is configured.
const DefaultRealm = "sluice"

func (e *Error) Error() string { return "jwtauth: " + e.code + ": " + e.reason }

// Code is the stable machine-readable code, e.g. "TokenExpired".
func (e *Error) Code() string { return e.code }

// Reason is a short human-readable explanation, safe to send to clients.
func (e *Error) Reason() string { return e.reason }

// Status is the HTTP status to answer with (401, 403 or 503).
func (e *Error) Status() int { return e.status }

// WWWAuthenticate returns the precomputed RFC 6750 challenge for the default
// realm. The caller must not modify it. Empty for 503 errors.
func (e *Error) WWWAuthenticate() []byte {
	if e.status == 503 {
		return nil
	}
	return e.www
}

// AppendWWWAuthenticate appends the RFC 6750 §3 challenge, e.g.
// `Bearer realm="sluice", error="invalid_token", error_description="token has expired"`.
// realm must already be a valid quoted-string body (Compile checks it).
func (e *Error) AppendWWWAuthenticate(dst []byte, realm string) []byte {
	dst = append(dst, `Bearer realm="`...)
	dst = append(dst, realm...)
	dst = append(dst, '"')
	if e.oauth == "" {
		return dst
	}
	dst = append(dst, `, error="`...)
	dst = append(dst, e.oauth...)
	dst = append(dst, `", error_description="`...)
	// Reasons are package constants without quotes or backslashes.
	dst = append(dst, e.reason...)
	return append(dst, '"')
}
