package jwtauth

// Verified is the outcome of a successful verification, with the exposed
// claims already rendered. It is shared by every request presenting the same
// token: immutable, safe for concurrent use; callers must not modify the
// slices it returns.
type Verified struct {
	claims   [][]byte // by Verifier claim index; nil when absent
	notAfter int64
}

// Claim returns the rendered value of the claim at index i (from
// Verifier.ClaimIndex), or nil when the token lacks it or it cannot be
// rendered. Never allocates.
func (vd *Verified) Claim(i int) []byte {
	if uint(i) >= uint(len(vd.claims)) {
		return nil
	}
	return vd.claims[i]
}

// NotAfter is the first unix second at which the token counts as expired
// (exp plus leeway), or a far-future value when it has no exp.
func (vd *Verified) NotAfter() int64 { return vd.notAfter }
