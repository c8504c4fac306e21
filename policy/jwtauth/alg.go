package jwtauth

import (
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
)

// algID is a JWS algorithm this package can verify. The zero value is no
// algorithm: "none" and every unknown name map to it and are never accepted.
type algID uint8

const (
	algInvalid algID = iota
	algHS256
	algHS384
	algHS512
	algRS256
	algRS384
	algRS512
	algPS256
	algPS384
	algPS512
	algES256
	algES384
	algEdDSA
	algCount
)

type algFamily uint8

const (
	famHMAC algFamily = iota + 1
	famRSA
	famPSS
	famECDSA
	famEdDSA
)

var algInfo = [algCount]struct {
	name string
	fam  algFamily
	hash crypto.Hash
	size int // hash output bytes; for ECDSA also the size of r and s
}{
	algHS256: {"HS256", famHMAC, crypto.SHA256, 32},
	algHS384: {"HS384", famHMAC, crypto.SHA384, 48},
	algHS512: {"HS512", famHMAC, crypto.SHA512, 64},
	algRS256: {"RS256", famRSA, crypto.SHA256, 32},
	algRS384: {"RS384", famRSA, crypto.SHA384, 48},
	algRS512: {"RS512", famRSA, crypto.SHA512, 64},
	algPS256: {"PS256", famPSS, crypto.SHA256, 32},
	algPS384: {"PS384", famPSS, crypto.SHA384, 48},
	algPS512: {"PS512", famPSS, crypto.SHA512, 64},
	algES256: {"ES256", famECDSA, crypto.SHA256, 32},
	algES384: {"ES384", famECDSA, crypto.SHA384, 48},
	algEdDSA: {"EdDSA", famEdDSA, 0, 0},
}

// algByName maps a JOSE alg name (case-sensitive, RFC 7518) to its id.
// "Ed25519" is the fully-specified name of RFC 9864 for the same algorithm.
func algByName(name []byte) algID {
	for id := algHS256; id < algCount; id++ {
		if string(name) == algInfo[id].name {
			return id
		}
	}
	if string(name) == "Ed25519" {
		return algEdDSA
	}
	return algInvalid
}

func (a algID) String() string {
	if a == algInvalid || a >= algCount {
		return "invalid"
	}
	return algInfo[a].name
}

// digest hashes msg with the algorithm's hash into a stack array.
func (a algID) digest(msg []byte) (d [64]byte, n int) {
	switch algInfo[a].hash {
	case crypto.SHA256:
		s := sha256.Sum256(msg)
		copy(d[:], s[:])
		return d, 32
	case crypto.SHA384:
		s := sha512.Sum384(msg)
		copy(d[:], s[:])
		return d, 48
	case crypto.SHA512:
		return sha512.Sum512(msg), 64
	}
	panic("BUG: jwtauth: digest for " + a.String())
}
