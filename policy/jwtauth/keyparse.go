package jwtauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/sluicegw/sluice/policy/jsonscan"
)

// maxJWKSKeys bounds how many keys one JWKS may contribute.
const maxJWKSKeys = 64

// parsePEMKey builds a key from a PEM public key or certificate.
func parsePEMKey(text string, alg algID, kid string) (*Key, error) {
	block, rest := pem.Decode([]byte(text))
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, errors.New("more than one PEM block; configure one key per entry")
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = c.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE") {
			return nil, errors.New("PEM holds a private key; configure the public key only")
		}
		return nil, fmt.Errorf("unsupported PEM block %q (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse PEM %s: %v", block.Type, err)
	}
	k := &Key{kid: kid, hasKid: kid != ""}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if err := checkRSA(p); err != nil {
			return nil, err
		}
		if alg == algInvalid {
			return nil, errors.New("RSA key needs alg (RS256, RS384, RS512, PS256, PS384 or PS512)")
		}
		k.rsa = p
	case *ecdsa.PublicKey:
		a, err := curveAlg(p.Curve)
		if err != nil {
			return nil, err
		}
		k.ec = p
		if alg == algInvalid {
			alg = a
		}
	case ed25519.PublicKey:
		k.ed = p
		if alg == algInvalid {
			alg = algEdDSA
		}
	default:
		return nil, fmt.Errorf("unsupported public key type %T", pub)
	}
	k.alg = alg
	if err := k.checkAlg(); err != nil {
		return nil, err
	}
	return k.finish(block.Bytes), nil
}

func checkRSA(p *rsa.PublicKey) error {
	if p.N.BitLen() < minRSABits {
		return fmt.Errorf("RSA key has %d bits; at least %d required", p.N.BitLen(), minRSABits)
	}
	if p.E < 3 || p.E&1 == 0 {
		return errors.New("RSA public exponent is invalid")
	}
	return nil
}

func curveAlg(c elliptic.Curve) (algID, error) {
	switch c {
	case elliptic.P256():
		return algES256, nil
	case elliptic.P384():
		return algES384, nil
	}
	return algInvalid, fmt.Errorf("unsupported EC curve %s (want P-256 or P-384)", c.Params().Name)
}

// checkAlg enforces that the pinned algorithm fits the key material.
func (k *Key) checkAlg() error {
	fam := algFamily(0)
	if k.alg != algInvalid {
		fam = algInfo[k.alg].fam
	}
	ok := false
	switch {
	case k.secret != nil:
		ok = fam == famHMAC
		if ok && len(k.secret) < algInfo[k.alg].size {
			return fmt.Errorf("%s secret has %d bytes; at least %d required", k.alg, len(k.secret), algInfo[k.alg].size)
		}
	case k.rsa != nil:
		ok = fam == famRSA || fam == famPSS
	case k.ec != nil:
		want, _ := curveAlg(k.ec.Curve)
		ok = k.alg == want
	case k.ed != nil:
		ok = fam == famEdDSA
	}
	if !ok {
		return fmt.Errorf("alg %s does not fit this key type", k.alg)
	}
	return nil
}

// errNotJSON is decodeJSON's answer to a document that is not RFC 8259 JSON.
var errNotJSON = errors.New("not valid JSON in UTF-8 (RFC 8259)")

// decodeJSON decodes a key or discovery document with goccy/go-json after
// checking it with the strict scanner: goccy alone accepts raw control
// characters in strings and keeps invalid UTF-8, which encoding/json
// refused or replaced, and a key document from the network gets the strict
// reading. The check allocates nothing and these documents are small and
// fetched rarely.
func decodeJSON(b []byte, v any) error {
	if !jsonscan.Valid(b, jsonscan.Rules{}) {
		return errNotJSON
	}
	return json.Unmarshal(b, v)
}

// jwk is the JSON form of RFC 7517 keys (only the members used here).
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    *string  `json:"kid"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	K      string   `json:"k"`
	D      string   `json:"d"`
	P      string   `json:"p"`
}

// errSkipKey marks a JWK that is well-formed but not meant for verifying
// signatures (use "enc", key_ops without "verify"); a JWKS drops it silently.
var errSkipKey = errors.New("key is not for signature verification")

// parseJWK builds a key from one JWK. kid/alg override the JWK's when set;
// rsaAlg is used for RSA keys without "alg"; allowOct admits symmetric keys
// (inline only: a shared secret never comes from a URL).
func parseJWK(raw []byte, kid string, alg, rsaAlg algID, allowOct bool) (*Key, error) {
	var j jwk
	if err := decodeJSON(raw, &j); err != nil {
		return nil, fmt.Errorf("parse JWK: %v", err)
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, errSkipKey
	}
	if j.KeyOps != nil && !contains(j.KeyOps, "verify") {
		return nil, errSkipKey
	}
	if j.D != "" || j.P != "" {
		return nil, errors.New("JWK holds private key material; publish the public key only")
	}
	k := &Key{kid: kid}
	if kid == "" && j.Kid != nil {
		k.kid = *j.Kid
	}
	k.hasKid = k.kid != ""
	if j.Alg != "" {
		ja := algByName([]byte(j.Alg))
		if ja == algInvalid {
			return nil, fmt.Errorf("JWK alg %q is not supported", j.Alg)
		}
		if alg != algInvalid && alg != ja {
			return nil, fmt.Errorf("configured alg %s conflicts with the JWK's alg %s", alg, ja)
		}
		alg = ja
	}
	var material []byte
	switch j.Kty {
	case "RSA":
		n, err1 := b64field(j.N, "n")
		e, err2 := b64field(j.E, "e")
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		if len(e) == 0 || len(e) > 4 || e[0] == 0 || n[0] == 0 {
			return nil, errors.New("JWK RSA n or e is not a minimal big-endian integer")
		}
		k.rsa = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if err := checkRSA(k.rsa); err != nil {
			return nil, err
		}
		if alg == algInvalid {
			alg = rsaAlg
		}
		material = append(n, e...)
	case "EC":
		var curve elliptic.Curve
		switch j.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		default:
			return nil, fmt.Errorf("JWK EC curve %q is not supported (want P-256 or P-384)", j.Crv)
		}
		x, err1 := b64field(j.X, "x")
		y, err2 := b64field(j.Y, "y")
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(x) != size || len(y) != size {
			return nil, fmt.Errorf("JWK EC x and y must be %d bytes", size)
		}
		point := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return nil, fmt.Errorf("JWK EC point: %v", err)
		}
		k.ec = pub
		if alg == algInvalid {
			alg, _ = curveAlg(curve)
		}
		material = point
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, fmt.Errorf("JWK OKP curve %q is not supported (want Ed25519)", j.Crv)
		}
		x, err := b64field(j.X, "x")
		if err != nil {
			return nil, err
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, errors.New("JWK Ed25519 x must be 32 bytes")
		}
		k.ed = ed25519.PublicKey(x)
		if alg == algInvalid {
			alg = algEdDSA
		}
		material = x
	case "oct":
		if !allowOct {
			return nil, errSkipKey
		}
		s, err := b64field(j.K, "k")
		if err != nil {
			return nil, err
		}
		if alg == algInvalid {
			return nil, errors.New("JWK oct key needs alg (HS256, HS384 or HS512)")
		}
		k.secret = s
		material = s
	default:
		return nil, fmt.Errorf("JWK kty %q is not supported", j.Kty)
	}
	k.alg = alg
	if err := k.checkAlg(); err != nil {
		return nil, err
	}
	return k.finish(material), nil
}

func b64field(s, name string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("JWK member %q is missing", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("JWK member %q is not base64url", name)
	}
	return b, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// parseJWKS parses a JWK Set from a remote endpoint. Unusable keys are
// skipped (an IdP may publish encryption keys or curves we do not support);
// a set without any usable key is an error so the last good set stays.
func parseJWKS(body []byte, rsaAlg algID) ([]*Key, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := decodeJSON(body, &set); err != nil {
		return nil, fmt.Errorf("parse JWKS: %v", err)
	}
	var keys []*Key
	var firstErr error
	for _, raw := range set.Keys {
		k, err := parseJWK(raw, "", algInvalid, rsaAlg, false)
		if err != nil {
			if firstErr == nil && err != errSkipKey {
				firstErr = err
			}
			continue
		}
		if len(keys) == maxJWKSKeys {
			return nil, fmt.Errorf("JWKS has more than %d usable keys", maxJWKSKeys)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		if firstErr != nil {
			return nil, fmt.Errorf("JWKS has no usable key: %v", firstErr)
		}
		return nil, errors.New("JWKS has no usable key")
	}
	return keys, nil
}
