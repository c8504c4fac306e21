// Package jwtauth verifies JSON Web Tokens (RFC 7519, compact JWS) for the
// Sluice gateway's authentication step.
//
// A Config is compiled once per snapshot into an immutable *Verifier. The
// request path calls Extract to find the token and Verifier.Verify to check
// it; a token seen before is answered from a bounded cache with neither a
// signature check nor an allocation. Keys fetched from a JWKS URL or through
// OpenID Connect discovery live in a Registry keyed by URL, so a config reload
// reuses them and keeps using the last good keys while the endpoint is down.
//
// Security stance: every key pins exactly one algorithm; "none" is never
// accepted; tokens carrying jku, x5u, x5c, jwk, crit, b64, zip or enc header
// parameters are rejected; JSON is parsed strictly (duplicate members,
// invalid UTF-8 and trailing data are errors).
//
// Signatures are checked with the standard library (crypto/hmac, crypto/rsa,
// crypto/ecdsa, crypto/ed25519) rather than golang-jwt/jwt/v5: that library
// parses into maps through encoding/json (dozens of allocations per token,
// duplicate members silently last-wins), ignores crit/jku/x5u headers instead
// of rejecting them, and chooses the key through a callback after trusting the
// header's alg, whereas here the key decides the algorithm before any
// cryptography runs. golang-jwt/jwt/v5 is used in the tests as an independent
// signer, so the verifier is checked against a second implementation.
package jwtauth
