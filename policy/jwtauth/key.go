package jwtauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"hash"
	"sync"
)

// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3 requires
// 2048 bits for RS*/PS*).
const minRSABits = 2048

// Key is one verification key pinned to exactly one algorithm. Immutable
// after construction, safe for concurrent use.
type Key struct {
	kid    string
	hasKid bool
	alg    algID
	secret []byte // HMAC
	macs   *sync.Pool
	rsa    *rsa.PublicKey
	ec     *ecdsa.PublicKey
	ed     ed25519.PublicKey
	// fp identifies kid+alg+material, so a JWKS refresh that returns the
	// same key keeps the same *Key and cached tokens stay valid.
	fp [32]byte
}

// Kid is the key id ("" when the key has none).
func (k *Key) Kid() string { return k.kid }

// Alg is the one JWS algorithm this key verifies.
func (k *Key) Alg() string { return k.alg.String() }

func (k *Key) finish(material []byte) *Key {
	h := sha256.New()
	h.Write([]byte(k.kid))
	h.Write([]byte{0, byte(k.alg), boolByte(k.hasKid)})
	h.Write(material)
	h.Sum(k.fp[:0])
	if k.secret != nil {
		s, fn := k.secret, algInfo[k.alg].hash.New
		k.macs = &sync.Pool{New: func() any { return hmac.New(fn, s) }}
	}
	return k
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// verify checks sig over input. The caller has already matched alg to k.alg;
// the family switch below is a second, independent guard, so an HMAC token
// can never be checked against public-key material as a secret.
func (k *Key) verify(alg algID, input, sig []byte) bool {
	if alg != k.alg {
		return false
	}
	info := &algInfo[alg]
	switch info.fam {
	case famHMAC:
		if k.secret == nil || len(sig) != info.size {
			return false
		}
		m := k.macs.Get().(hash.Hash)
		m.Reset()
		m.Write(input)
		var sum [64]byte
		ok := hmac.Equal(m.Sum(sum[:0]), sig)
		k.macs.Put(m)
		return ok
	case famRSA, famPSS:
		if k.rsa == nil || len(sig) != k.rsa.Size() {
			return false
		}
		d, n := alg.digest(input)
		if info.fam == famRSA {
			return rsa.VerifyPKCS1v15(k.rsa, info.hash, d[:n], sig) == nil
		}
		// RFC 7518 §3.5: the salt is as long as the hash output.
		opts := rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: info.hash}
		return rsa.VerifyPSS(k.rsa, info.hash, d[:n], sig, &opts) == nil
	case famECDSA:
		if k.ec == nil || len(sig) != 2*info.size {
			return false
		}
		d, n := alg.digest(input)
		var der [2*48 + 8]byte
		return ecdsa.VerifyASN1(k.ec, d[:n], appendECDSADER(der[:0], sig[:info.size], sig[info.size:]))
	case famEdDSA:
		if k.ed == nil || len(sig) != ed25519.SignatureSize {
			return false
		}
		return ed25519.Verify(k.ed, input, sig)
	}
	return false
}

// appendECDSADER encodes the JWS r||s form (RFC 7518 §3.4) as the ASN.1
// SEQUENCE{INTEGER r, INTEGER s} that crypto/ecdsa verifies.
func appendECDSADER(dst, r, s []byte) []byte {
	r, s = trimZeros(r), trimZeros(s)
	lr, ls := intLen(r), intLen(s)
	dst = append(dst, 0x30, byte(2+lr+2+ls))
	dst = appendInt(dst, r, lr)
	return appendInt(dst, s, ls)
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

func intLen(b []byte) int {
	if len(b) == 0 || b[0]&0x80 != 0 {
		return len(b) + 1
	}
	return len(b)
}

func appendInt(dst, b []byte, l int) []byte {
	dst = append(dst, 0x02, byte(l))
	if l > len(b) {
		dst = append(dst, 0)
	}
	return append(dst, b...)
}
