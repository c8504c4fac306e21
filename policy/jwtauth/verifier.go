package jwtauth

import (
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"
)

// Forward is one claim forwarded to the upstream as a request header.
type Forward struct {
	Claim  string
	Header string
	// Index is the claim's index for Verified.Claim.
	Index int
}

// Verifier checks tokens against one compiled Config. Immutable after
// Compile except for its token cache and the shared remote key set; safe for
// concurrent use. Call Close when the snapshot holding it is retired.
type Verifier struct {
	src        Source
	realm      string
	maxToken   int
	inline     *keyTable
	remote     *RemoteKeys // nil without jwks_url/oidc_issuer
	reg        *Registry
	leeway     int64
	issuer     string
	audiences  []string
	allowNoExp bool
	names      []string // exposed claims, by index
	forwards   []Forward
	rules      []rule
	cache      *tokenCache // nil when disabled
	closed     atomic.Bool
}

// Source is where requests carry the token, for Extract.
func (v *Verifier) Source() Source { return v.src }

// Realm is the configured WWW-Authenticate realm.
func (v *Verifier) Realm() string { return v.realm }

// RemoteKeys is the shared remote key set, or nil when only inline keys
// are configured.
func (v *Verifier) RemoteKeys() *RemoteKeys { return v.remote }

// ClaimIndex returns the index of an exposed claim for Verified.Claim, or -1.
// Exposed claims are "sub", every forwarded claim and every claim a rule
// names. Resolve indexes when compiling, not per request.
func (v *Verifier) ClaimIndex(name string) int {
	for i, n := range v.names {
		if n == name {
			return i
		}
	}
	return -1
}

// Forwards lists the claim-to-header forwards, sorted by claim name.
func (v *Verifier) Forwards() []Forward { return v.forwards }

// ApplyForwards sets each forwarded header from vd, and deletes it when the
// token lacks the claim, so a client cannot supply the header itself.
// Does not allocate in steady state.
func (v *Verifier) ApplyForwards(h *fasthttp.RequestHeader, vd *Verified) {
	for i := range v.forwards {
		f := &v.forwards[i]
		if val := vd.Claim(f.Index); val != nil {
			h.SetBytesV(f.Header, val)
		} else {
			h.Del(f.Header)
		}
	}
}

// AppendWWWAuthenticate appends the challenge for err (a *Error) with this
// verifier's realm; other errors are reported as invalid_token.
func (v *Verifier) AppendWWWAuthenticate(dst []byte, err error) []byte {
	e, ok := err.(*Error)
	if !ok {
		e = ErrTokenMalformed
	}
	return e.AppendWWWAuthenticate(dst, v.realm)
}

// Start begins refreshing the remote key set in the background. Compile
// does no network I/O (sluice check must open no socket); the data plane
// calls Start when it puts the snapshot holding this verifier into service.
// Idempotent; a no-op without remote keys or after Close.
func (v *Verifier) Start() {
	if v.remote != nil && !v.closed.Load() {
		v.reg.start(v.remote)
	}
}

// Close releases the verifier's reference to its remote key set. Compile the
// replacement before closing the old verifier on reload, so the set (and its
// fetched keys) is handed over instead of dropped. Idempotent.
func (v *Verifier) Close() {
	if v.remote != nil && v.closed.CompareAndSwap(false, true) {
		v.reg.release(v.remote)
	}
}

// Verify checks token at time now (unix seconds, a coarse clock is fine).
// On success it returns the shared, immutable *Verified. On ErrClaimRequired
// (answer 403) it returns the *Verified too, so the caller may log the
// subject; on every other error it returns nil. All errors are *Error.
//
// A token verified before (same bytes, not expired, key still current) is
// answered from the cache without parsing, signature check or allocation.
func (v *Verifier) Verify(now int64, token []byte) (*Verified, error) {
	if len(token) == 0 {
		return nil, ErrTokenMissing
	}
	if len(token) > v.maxToken {
		return nil, ErrTokenTooLarge
	}
	var h uint64
	if v.cache != nil {
		h = xxhash.Sum64(token)
		if e := v.cache.get(h, token); e != nil {
			if now >= e.notAfter {
				return nil, ErrTokenExpired
			}
			if now < e.notBefore {
				return nil, ErrTokenNotYetValid
			}
			if v.keyCurrent(e.key) {
				return e.v, e.err
			}
		}
	}
	return v.verifySlow(now, token, h)
}

func (v *Verifier) keyCurrent(k *Key) bool {
	if v.inline.has(k) {
		return true
	}
	return v.remote != nil && v.remote.table.Load().has(k)
}

var tokenPool = sync.Pool{New: func() any { return new(token) }}

func acquireToken() *token { return tokenPool.Get().(*token) }

func releaseToken(t *token) {
	t.reset()
	tokenPool.Put(t)
}

func (v *Verifier) verifySlow(now int64, src []byte, h uint64) (*Verified, error) {
	t := acquireToken()
	defer releaseToken(t)
	if err := parseToken(t, src); err != nil {
		return nil, err
	}
	key, err := v.verifySignature(t)
	if err != nil {
		return nil, err
	}
	vd, notBefore, notAfter, err := v.checkClaims(now, t.payload)
	if err != nil && err != ErrClaimRequired {
		return nil, err
	}
	if v.cache != nil {
		v.cache.put(&cacheEntry{
			hash:      h,
			token:     append([]byte(nil), src...),
			notBefore: notBefore,
			notAfter:  notAfter,
			key:       key,
			v:         vd,
			err:       err,
		})
	}
	return vd, err
}

// verifySignature finds the key(s) the token may use and checks the
// signature, refetching remote keys once (rate-limited) for an unknown kid.
func (v *Verifier) verifySignature(t *token) (*Key, error) {
	var buf [2 * maxKidlessTries]*Key
	cands, res := v.inline.lookup(buf[:0], t.kid, t.hasKid, t.alg)
	if res != lookFound && v.remote != nil {
		var rres lookupResult
		cands, rres = v.remote.table.Load().lookup(cands, t.kid, t.hasKid, t.alg)
		if rres == lookUnknown && v.remote.refetchEarly() {
			cands, rres = v.remote.table.Load().lookup(cands, t.kid, t.hasKid, t.alg)
		}
		if rres == lookUnknown && v.remote.table.Load() == nil && len(v.inline.all) == 0 {
			return nil, ErrKeysUnavailable
		}
		if rres != lookUnknown || res == lookUnknown {
			res = rres
		}
	}
	switch res {
	case lookAlgMismatch:
		return nil, ErrAlgNotAllowed
	case lookUnknown:
		if !t.hasKid {
			return nil, ErrAlgNotAllowed
		}
		return nil, ErrUnknownKid
	}
	for _, k := range cands {
		if k.verify(t.alg, t.signingInput, t.sig) {
			return k, nil
		}
	}
	return nil, ErrBadSignature
}
