package ipacl

import "math/bits"

// u128 is an address as an unsigned 128-bit integer. IPv4 addresses use only
// the low 32 bits of lo; the two families live in separate tables.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func (a u128) shr(n uint) u128 {
	switch {
	case n == 0:
		return a
	case n >= 128:
		return u128{}
	case n >= 64:
		return u128{0, a.hi >> (n - 64)}
	default:
		return u128{a.hi >> n, a.lo>>n | a.hi<<(64-n)}
	}
}

func (a u128) shl(n uint) u128 {
	switch {
	case n == 0:
		return a
	case n >= 128:
		return u128{}
	case n >= 64:
		return u128{a.lo << (n - 64), 0}
	default:
		return u128{a.hi<<n | a.lo>>(64-n), a.lo << n}
	}
}

func (a u128) or(b u128) u128  { return u128{a.hi | b.hi, a.lo | b.lo} }
func (a u128) and(b u128) u128 { return u128{a.hi & b.hi, a.lo & b.lo} }
func (a u128) not() u128       { return u128{^a.hi, ^a.lo} }

// addOne returns a+1 and whether it overflowed 128 bits.
func (a u128) addOne() (u128, bool) {
	lo, c := bits.Add64(a.lo, 1, 0)
	hi, c2 := bits.Add64(a.hi, 0, c)
	return u128{hi, lo}, c2 != 0
}

// lowMask returns a value with the low n bits set.
func lowMask(n uint) u128 {
	if n == 0 {
		return u128{}
	}
	return u128{^uint64(0), ^uint64(0)}.shr(128 - n)
}

// commonPrefixLen returns how many of the top `width` bits a and b share.
func commonPrefixLen(a, b u128, width uint) uint {
	x := u128{a.hi ^ b.hi, a.lo ^ b.lo}
	var lz uint
	if x.hi != 0 {
		lz = uint(bits.LeadingZeros64(x.hi))
	} else {
		lz = 64 + uint(bits.LeadingZeros64(x.lo))
	}
	// lz counts from bit 127; a 32-bit family has 96 leading bits that are
	// always zero in both values.
	lz -= 128 - width
	if lz > width {
		lz = width
	}
	return lz
}
