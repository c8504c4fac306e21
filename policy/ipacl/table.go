package ipacl

import (
	"math/bits"
	"slices"
	"sort"
)

// span is one closed address range [lo, hi].
type span struct{ lo, hi u128 }

// table answers "is k inside any of these ranges" for one address family.
//
// Why sorted, merged ranges plus a bucket index rather than a trie: a set
// only has to answer membership, and merging turns any list of overlapping
// or nested CIDRs into the smallest exact description of that membership
// (two words per range, no per-node pointers, one contiguous array that
// stays in cache). The bucket index on the bits right below the prefix all
// ranges share narrows a lookup to the ranges of one bucket, sized so that a
// bucket holds about one range for uniformly spread lists; what is left is a
// binary search over that handful. A lookup is therefore two array loads and
// a couple of comparisons whether the list has 10 or 10 000 entries, and the
// worst case (every range crowded into one bucket) degrades only to the
// plain O(log n) binary search. A stride-8 multibit trie would give the
// same flat cost but needs a 256-way node per populated prefix byte, which
// for 10 000 host routes is tens of megabytes per set.
//
// A table is immutable after build and safe for concurrent use.
type table struct {
	r     []span
	width uint   // 32 or 128
	shift uint   // right shift that brings the bucket bits to the bottom
	mask  uint64 // bucket bits mask (0 with idx == nil)
	// idx[b] is the first range whose hi reaches bucket b's first address;
	// idx[len-1] is the last range. nil for small tables.
	idx []uint32
}

// maxIndexBits caps the bucket table at 2^16+1 uint32 (256 KiB).
const maxIndexBits = 16

// smallTable is the size under which a plain binary search is as fast as
// the index and not worth its memory.
const smallTable = 8

func buildTable(in []span, width uint) table {
	t := table{width: width}
	if len(in) == 0 {
		return t
	}
	s := slices.Clone(in)
	slices.SortFunc(s, func(a, b span) int {
		switch {
		case a.lo.less(b.lo):
			return -1
		case b.lo.less(a.lo):
			return 1
		}
		return 0
	})
	merged := s[:1]
	for _, x := range s[1:] {
		last := &merged[len(merged)-1]
		next, overflow := last.hi.addOne()
		if overflow || !next.less(x.lo) { // overlapping or adjacent
			if last.hi.less(x.hi) {
				last.hi = x.hi
			}
			continue
		}
		merged = append(merged, x)
	}
	t.r = slices.Clip(merged)
	n := len(t.r)
	if n <= smallTable {
		return t
	}
	c := commonPrefixLen(t.r[0].lo, t.r[n-1].hi, width)
	k := uint(bits.Len(uint(n)))
	k = min(k, maxIndexBits, width-c)
	if k == 0 {
		return t
	}
	t.shift = width - c - k
	t.mask = 1<<k - 1
	base := t.r[0].lo.and(lowMask(width - c).not())
	t.idx = make([]uint32, 1<<k+1)
	for b := range uint64(1 << k) {
		start := base.or(u128{0, b}.shl(t.shift))
		i := sort.Search(n, func(i int) bool { return !t.r[i].hi.less(start) })
		t.idx[b] = uint32(min(i, n-1))
	}
	t.idx[1<<k] = uint32(n - 1)
	return t
}

// contains reports whether k lies in one of the ranges. Zero allocations.
func (t *table) contains(k u128) bool {
	n := len(t.r)
	if n == 0 || k.less(t.r[0].lo) || t.r[n-1].hi.less(k) {
		return false
	}
	a, b := 0, n-1
	if t.idx != nil {
		bk := k.shr(t.shift).lo & t.mask
		a, b = int(t.idx[bk]), int(t.idx[bk+1])
	}
	// Smallest i in [a, b] with r[i].hi >= k; it exists because k <= r[n-1].hi.
	for a < b {
		m := int(uint(a+b) >> 1)
		if t.r[m].hi.less(k) {
			a = m + 1
		} else {
			b = m
		}
	}
	return !k.less(t.r[a].lo)
}
