package casign

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"hash"
	"sync"

	"github.com/sluicegw/sluice/policy/httpbytes"
)

// Algorithm is an X-Ca-Signature-Method.
type Algorithm uint8

// Supported algorithms and their header spelling.
const (
	HmacSHA256 Algorithm = iota // "HmacSHA256", the default when the header is absent
	HmacSHA1                    // "HmacSHA1", only when Config.AllowHmacSHA1
)

// String returns the X-Ca-Signature-Method spelling.
func (a Algorithm) String() string {
	if a == HmacSHA1 {
		return "HmacSHA1"
	}
	return "HmacSHA256"
}

// parseAlgorithm accepts the header value case-insensitively; empty means
// HmacSHA256.
func parseAlgorithm(b []byte) (Algorithm, bool) {
	switch {
	case len(b) == 0 || httpbytes.EqualFoldASCII(b, "hmacsha256"):
		return HmacSHA256, true
	case httpbytes.EqualFoldASCII(b, "hmacsha1"):
		return HmacSHA1, true
	}
	return 0, false
}

// Secret is one app secret with pooled, pre-keyed HMAC states, so signing and
// verifying do not allocate. Build it once per secret at snapshot compile time
// (NewSecret); it is immutable and safe for concurrent use. Its String and
// GoString never reveal the secret.
type Secret struct {
	pools [2]sync.Pool // by Algorithm
}

// macState is a keyed HMAC plus output buffers, pooled per Secret and
// Algorithm. The buffers live here, not on the stack, because they pass
// through the hash.Hash interface and would escape.
type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
	b64 [44]byte // base64 of a SHA-256 MAC; a SHA-1 one uses 28
}

// NewSecret copies secret into a new Secret.
func NewSecret(secret []byte) *Secret {
	key := append([]byte(nil), secret...)
	s := &Secret{}
	s.pools[HmacSHA256].New = func() any { return &macState{h: hmac.New(sha256.New, key)} }
	s.pools[HmacSHA1].New = func() any { return &macState{h: hmac.New(sha1.New, key)} }
	return s
}

func (s *Secret) String() string   { return "casign.Secret(redacted)" }
func (s *Secret) GoString() string { return "casign.Secret(redacted)" }

// AppendSignature appends base64(HMAC(secret, stringToSign)) to dst.
func (s *Secret) AppendSignature(dst []byte, alg Algorithm, stringToSign []byte) []byte {
	st := s.acquire(alg)
	dst = append(dst, st.mac(stringToSign)...)
	s.release(alg, st)
	return dst
}

// match reports in constant time whether sig is the signature of
// stringToSign under this secret.
func (s *Secret) match(alg Algorithm, stringToSign, sig []byte) int {
	st := s.acquire(alg)
	ok := subtle.ConstantTimeCompare(st.mac(stringToSign), sig)
	s.release(alg, st)
	return ok
}

func (s *Secret) acquire(alg Algorithm) *macState { return s.pools[alg].Get().(*macState) }

func (s *Secret) release(alg Algorithm, st *macState) { s.pools[alg].Put(st) }

// mac returns the base64 MAC in st's buffer, valid until st is released.
func (st *macState) mac(msg []byte) []byte {
	st.h.Reset()
	st.h.Write(msg)
	sum := st.h.Sum(st.sum[:0])
	n := base64.StdEncoding.EncodedLen(len(sum))
	base64.StdEncoding.Encode(st.b64[:n], sum)
	return st.b64[:n]
}

// Credential is what an app key resolves to: the consumer's name and its
// secrets. Several secrets make rotation work: a request signed with any of
// them verifies, and all are tried so the time taken does not tell which one
// matched. Immutable once built; safe for concurrent use.
type Credential struct {
	Consumer string    // consumer name, for logs and downstream headers
	Secrets  []*Secret // at least one
	// Owner is the caller's own handle for the consumer (the gateway's
	// compiled consumer), so a verified request needs no lookup by name.
	Owner any
}

// match computes the MAC under every secret and reports whether any matched.
func (c *Credential) match(alg Algorithm, stringToSign, sig []byte) bool {
	ok := 0
	for _, s := range c.Secrets {
		ok |= s.match(alg, stringToSign, sig)
	}
	return ok == 1
}

// KeyStore resolves an app key (X-Ca-Key) to its credential. LookupKey must
// not retain appKey, must return nil for unknown keys, must not allocate on
// the hot path, and must be safe for concurrent use.
type KeyStore interface {
	LookupKey(appKey []byte) *Credential
}

// StaticKeys is a KeyStore over a map built at snapshot compile time.
// Read-only after construction, hence safe for concurrent use.
type StaticKeys map[string]*Credential

// LookupKey implements KeyStore without allocating.
func (m StaticKeys) LookupKey(appKey []byte) *Credential { return m[string(appKey)] }
