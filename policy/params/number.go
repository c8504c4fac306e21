package params

import (
	"math"
	"strconv"
	"unsafe"
)

// ParseInt parses a base-10 int64: an optional '-', then one or more ASCII
// digits (leading zeros allowed), nothing else: no '+', spaces, '_' or
// base prefixes. Overflow is an error. Zero allocations.
func ParseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if u > (math.MaxUint64-9)/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
		if u > 1<<63 {
			return 0, false
		}
	}
	if neg {
		return -int64(u), true // -(1<<63) wraps to MinInt64, as wanted
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// ParseNumber parses a decimal number: -?digits(.digits)?([eE][+-]?digits)?
// (leading zeros allowed, no "inf", "nan", hex or '_'). Values whose
// magnitude overflows float64 are an error. Zero allocations for accepted
// input.
func ParseNumber(b []byte) (float64, bool) {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	s := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == s {
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		s = i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == s {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		s = i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == s {
			return 0, false
		}
	}
	if i != len(b) {
		return 0, false
	}
	// The grammar above is a subset of what strconv accepts, so the only
	// error left is ErrRange; strconv clones its input into that error, so
	// the unsafe view of b is never retained.
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// ParseBool accepts "true", "1", "false" and "0" (exact case).
func ParseBool(b []byte) (v, ok bool) {
	switch string(b) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}
