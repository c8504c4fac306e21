package casign

// Error is a verification failure with a stable code (used in the gateway's
// JSON error body and in metrics), a short reason safe to send to clients and
// the HTTP status to answer with. All Errors are package-level values: compare
// with == or errors.Is. Immutable, safe for concurrent use.
type Error struct {
	code   string
	reason string
	status int
}

// Verification errors. Status 401 unless noted.
var (
	ErrMissingKey       = &Error{"MissingKey", "X-Ca-Key header is missing", 401}
	ErrMissingSignature = &Error{"MissingSignature", "X-Ca-Signature header is missing", 401}
	ErrUnknownKey       = &Error{"UnknownKey", "X-Ca-Key is not a known app key", 401}
	ErrBadSignature     = &Error{"BadSignature", "signature does not match the request", 401}
	// ErrUnsupportedMethod: X-Ca-Signature-Method is neither HmacSHA256 nor an
	// enabled HmacSHA1. Status 400.
	ErrUnsupportedMethod = &Error{"UnsupportedMethod", "X-Ca-Signature-Method is not supported", 400}
	ErrMissingTimestamp  = &Error{"MissingTimestamp", "neither X-Ca-Timestamp nor Date is present", 401}
	// ErrInvalidTimestamp: X-Ca-Timestamp is not epoch milliseconds, or Date
	// is not an IMF-fixdate. Status 400.
	ErrInvalidTimestamp = &Error{"InvalidTimestamp", "X-Ca-Timestamp or Date cannot be parsed", 400}
	ErrStaleTimestamp   = &Error{"StaleTimestamp", "request timestamp is outside the accepted window", 401}
	ErrMissingNonce     = &Error{"MissingNonce", "X-Ca-Nonce header is missing", 401}
	// ErrInvalidNonce: X-Ca-Nonce is longer than MaxNonceLen. Status 400.
	ErrInvalidNonce  = &Error{"InvalidNonce", "X-Ca-Nonce is too long", 400}
	ErrReplayedNonce = &Error{"ReplayedNonce", "X-Ca-Nonce was already used", 401}
	// ErrUnsignedHeader: X-Ca-Timestamp or X-Ca-Nonce is sent but not listed
	// in X-Ca-Signature-Headers, so an attacker could change it freely.
	ErrUnsignedHeader = &Error{"UnsignedHeader", "X-Ca-Timestamp and X-Ca-Nonce must be listed in X-Ca-Signature-Headers", 401}
	// ErrBodyDigestMismatch: Content-MD5 is sent and is not base64(md5(body)).
	// Status 400.
	ErrBodyDigestMismatch = &Error{"BodyDigestMismatch", "Content-MD5 does not match the body", 400}
	// ErrDuplicateParameter: a parameter name occurs twice among the query and
	// form parameters; only the first would be signed. Status 400.
	ErrDuplicateParameter = &Error{"DuplicateParameter", "a parameter name occurs more than once", 400}
	// ErrTooManyParameters / ErrTooManySignedHeaders: limits of Config. Status 400.
	ErrTooManyParameters    = &Error{"TooManyParameters", "too many query and form parameters", 400}
	ErrTooManySignedHeaders = &Error{"TooManySignedHeaders", "too many names in X-Ca-Signature-Headers", 400}
)

func (e *Error) Error() string { return "casign: " + e.code + ": " + e.reason }

// Code is the stable machine-readable code, e.g. "StaleTimestamp".
func (e *Error) Code() string { return e.code }

// Reason is a short human-readable explanation, safe to send to clients.
func (e *Error) Reason() string { return e.reason }

// Status is the HTTP status to answer with (400 or 401).
func (e *Error) Status() int { return e.status }
