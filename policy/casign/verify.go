package casign

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/policy/httpbytes"
	"github.com/sluicegw/sluice/store/nonce"
)

// Config tunes a Verifier. The zero value is usable and secure.
type Config struct {
	// Window is how far X-Ca-Timestamp (or Date) may be from the gateway's
	// clock, in either direction. Nonces are remembered for twice this long,
	// the longest a request could be replayed within the window (default 15m).
	Window time.Duration `toml:"window"`
	// AllowHmacSHA1 accepts X-Ca-Signature-Method: HmacSHA1 (default false:
	// such requests fail with UnsupportedMethod).
	AllowHmacSHA1 bool `toml:"allow_hmac_sha1"`
	// AllowMissingNonce accepts requests without X-Ca-Nonce, which then have
	// no replay protection beyond the timestamp window (default false).
	AllowMissingNonce bool `toml:"allow_missing_nonce"`
	// AllowDuplicateParams accepts a parameter name repeated among query and
	// form parameters, signing only its first value as Alibaba does (default
	// false: DuplicateParameter, since later values would reach the backend
	// unsigned).
	AllowDuplicateParams bool `toml:"allow_duplicate_params"`
	// AcceptListedHeaderCase also accepts signatures computed with the signed
	// header names written as listed instead of lower-cased, as the
	// first-generation Alibaba demo SDKs do; costs one more HMAC per secret
	// on such requests (default false).
	AcceptListedHeaderCase bool `toml:"accept_listed_header_case"`
	// MaxParams caps query plus form parameters (default 128).
	MaxParams int `toml:"max_params"`
	// MaxSignedHeaders caps the names in X-Ca-Signature-Headers (default 32).
	MaxSignedHeaders int `toml:"max_signed_headers"`
}

// Defaults applied by NewVerifier to zero fields.
const (
	DefaultWindow           = 15 * time.Minute
	DefaultMaxParams        = 128
	DefaultMaxSignedHeaders = 32
	// MaxNonceLen bounds X-Ca-Nonce; a UUID needs 36.
	MaxNonceLen = 256
)

func (c Config) withDefaults() Config {
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.MaxParams <= 0 {
		c.MaxParams = DefaultMaxParams
	}
	if c.MaxSignedHeaders <= 0 {
		c.MaxSignedHeaders = DefaultMaxSignedHeaders
	}
	return c
}

// Verifier checks Alibaba-style app signatures. It is immutable after
// NewVerifier and safe for concurrent use; the nonce store it holds is state
// that outlives a snapshot.
type Verifier struct {
	cfg    Config
	keys   KeyStore
	nonces nonce.Store
}

// NewVerifier returns a Verifier. nonces may be nil only when
// cfg.AllowMissingNonce is set, and then no replay detection happens at all.
func NewVerifier(cfg Config, keys KeyStore, nonces nonce.Store) (*Verifier, error) {
	if keys == nil {
		return nil, errors.New("casign: NewVerifier needs a KeyStore")
	}
	if nonces == nil && !cfg.AllowMissingNonce {
		return nil, errors.New("casign: NewVerifier needs a nonce store unless allow_missing_nonce is set")
	}
	return &Verifier{cfg: cfg.withDefaults(), keys: keys, nonces: nonces}, nil
}

// Config returns the effective configuration, defaults filled in.
func (v *Verifier) Config() Config { return v.cfg }

// Request is everything a verification reads: the string-to-sign parts and
// the protocol headers, as views into the HTTP request. Pool it with
// AcquireRequest/ReleaseRequest; not safe for concurrent use.
type Request struct {
	Input
	AppKey          []byte // X-Ca-Key
	Signature       []byte // X-Ca-Signature, base64
	SignatureMethod []byte // X-Ca-Signature-Method
	Timestamp       []byte // X-Ca-Timestamp, epoch milliseconds
	Nonce           []byte // X-Ca-Nonce
	Body            []byte // for Content-MD5

	sts      []byte        // scratch: string to sign
	nonceKey []byte        // scratch: store key
	form     fasthttp.Args // scratch: parsed form body
}

// Reset clears all views and keeps scratch capacity.
func (r *Request) Reset() {
	r.Input.Reset()
	r.AppKey, r.Signature, r.SignatureMethod, r.Timestamp, r.Nonce, r.Body = nil, nil, nil, nil, nil, nil
	r.sts = r.sts[:0]
	r.nonceKey = r.nonceKey[:0]
	r.form.Reset()
}

var requestPool sync.Pool

// AcquireRequest returns an empty Request from a pool.
func AcquireRequest() *Request {
	if v := requestPool.Get(); v != nil {
		return v.(*Request)
	}
	return &Request{}
}

// ReleaseRequest resets r and returns it to the pool.
func ReleaseRequest(r *Request) {
	r.Reset()
	requestPool.Put(r)
}

// Verify checks r at time now (Unix nanoseconds) and returns the matching
// credential or one of this package's *Error values. Checks run cheapest
// first; the nonce is recorded only after the signature and body digest
// pass, so unauthenticated traffic can neither fill the nonce store nor burn
// a legitimate client's nonce. After ErrBadSignature, r's Input still
// describes the request, ready for AppendDebugStringToSign.
func (v *Verifier) Verify(r *Request, now int64) (*Credential, error) {
	if len(r.AppKey) == 0 {
		return nil, ErrMissingKey
	}
	if len(r.Signature) == 0 {
		return nil, ErrMissingSignature
	}
	if len(r.Query)+len(r.Form) > v.cfg.MaxParams {
		return nil, ErrTooManyParameters
	}
	if len(r.Headers) > v.cfg.MaxSignedHeaders {
		return nil, ErrTooManySignedHeaders
	}
	alg, ok := parseAlgorithm(r.SignatureMethod)
	if !ok || (alg == HmacSHA1 && !v.cfg.AllowHmacSHA1) {
		return nil, ErrUnsupportedMethod
	}
	if err := v.checkTime(r, now); err != nil {
		return nil, err
	}
	if len(r.Nonce) > MaxNonceLen {
		return nil, ErrInvalidNonce
	}
	if len(r.Nonce) == 0 {
		if !v.cfg.AllowMissingNonce {
			return nil, ErrMissingNonce
		}
	} else if !signsHeader(&r.Input, "x-ca-nonce") {
		return nil, ErrUnsignedHeader
	}
	cred := v.keys.LookupKey(r.AppKey)
	if cred == nil || len(cred.Secrets) == 0 {
		return nil, ErrUnknownKey
	}

	r.HeaderNamesAsListed = false
	r.sts = AppendStringToSign(r.sts[:0], &r.Input)
	if r.dupKey && !v.cfg.AllowDuplicateParams {
		return nil, ErrDuplicateParameter
	}
	if !cred.match(alg, r.sts, r.Signature) {
		if !v.cfg.AcceptListedHeaderCase || !listsUpperCase(&r.Input) {
			return nil, ErrBadSignature
		}
		r.HeaderNamesAsListed = true
		r.sts = AppendStringToSign(r.sts[:0], &r.Input)
		if !cred.match(alg, r.sts, r.Signature) {
			r.HeaderNamesAsListed = false
			return nil, ErrBadSignature
		}
	}

	if len(r.ContentMD5) > 0 && !bodyMD5Matches(r.Body, r.ContentMD5) {
		return nil, ErrBodyDigestMismatch
	}
	if len(r.Nonce) > 0 && v.nonces != nil {
		// Length-prefixed so that no app key/nonce pair can alias another
		// (the key is a configured one, found above, so far below 64 KiB).
		k := append(r.nonceKey[:0], byte(len(r.AppKey)>>8), byte(len(r.AppKey)))
		k = append(k, r.AppKey...)
		k = append(k, r.Nonce...)
		r.nonceKey = k
		if v.nonces.Seen(now, k, 2*v.cfg.Window) {
			return nil, ErrReplayedNonce
		}
	}
	return cred, nil
}

// checkTime reads X-Ca-Timestamp, else Date, and checks the window. A sent
// X-Ca-Timestamp must be signed; Date always is (it has its own line).
func (v *Verifier) checkTime(r *Request, now int64) error {
	var t int64
	var ok bool
	switch {
	case len(r.Timestamp) > 0:
		if t, ok = parseMillis(r.Timestamp); !ok {
			return ErrInvalidTimestamp
		}
		if !signsHeader(&r.Input, "x-ca-timestamp") {
			return ErrUnsignedHeader
		}
	case len(r.Date) > 0:
		if t, ok = parseHTTPDate(r.Date); !ok {
			return ErrInvalidTimestamp
		}
	default:
		return ErrMissingTimestamp
	}
	d := now - t
	if d < 0 {
		d = -d
	}
	if d > int64(v.cfg.Window) {
		return ErrStaleTimestamp
	}
	return nil
}

func signsHeader(in *Input, name string) bool {
	for _, h := range in.Headers {
		if httpbytes.EqualFoldASCII(h.Name, name) { // name is a lower-case literal
			return true
		}
	}
	return false
}

func listsUpperCase(in *Input) bool {
	for _, h := range in.Headers {
		for _, c := range h.Name {
			if 'A' <= c && c <= 'Z' {
				return true
			}
		}
	}
	return false
}

func bodyMD5Matches(body, want []byte) bool {
	sum := md5.Sum(body)
	var b64 [24]byte
	base64.StdEncoding.Encode(b64[:], sum[:])
	return subtle.ConstantTimeCompare(b64[:], want) == 1
}
