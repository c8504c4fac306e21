package proxy

import (
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"
	"github.com/sluicegw/sluice/policy"
)

// hashOf hashes the request's key for a hashing balancer or a sticky split;
// ok is false when the request has no such key (the caller then spreads it
// at random).
func hashOf(x *policy.Exchange, k *policy.HashKey) (uint64, bool) {
	var v []byte
	switch k.Source {
	case policy.HashClientIP:
		if !x.Client.IsValid() {
			return 0, false
		}
		ip := x.Client.As16()
		return xxhash.Sum64(ip[:]), true
	case policy.HashHeader:
		v = x.Req.Header.PeekBytes(k.NameB)
	case policy.HashCookie:
		v = x.Req.Header.CookieBytes(k.NameB)
	case policy.HashPathParam:
		if x.Params == nil {
			return 0, false
		}
		v, _ = x.Params.Get(k.Name, x.Path)
	case policy.HashQuery:
		v = x.Req.URI().QueryArgs().PeekBytes(k.NameB)
	default:
		return 0, false
	}
	if len(v) == 0 {
		return 0, false
	}
	return xxhash.Sum64(v), true
}

// maglev is Google's Maglev consistent hashing: a lookup table of prime
// size where each target fills slots along its own permutation, in turns
// proportional to its weight. A lookup is one hash and one index; removing
// one of N targets moves about 1/N of keys. Immutable once built.
type maglev struct {
	table []uint16
	key   policy.HashKey
	seq   []uint16 // weighted cycle for requests without a key
}

// maglevSize is the table size: a prime well above 100 x targets keeps
// the shares within about 1 % of the weights.
func maglevSize(n int) int {
	if n <= 50 {
		return 5003
	}
	return 65537
}

func newMaglev(weights []int, addrs []string, key policy.HashKey) *maglev {
	n := len(addrs)
	m := maglevSize(n)
	offset := make([]uint64, n)
	skip := make([]uint64, n)
	next := make([]uint64, n)
	for i, a := range addrs {
		h1 := xxhash.Sum64String(a)
		h2 := xxhash.Sum64String(a + "#skip")
		offset[i] = h1 % uint64(m)
		skip[i] = h2%uint64(m-1) + 1
	}
	g := 0
	for _, w := range weights {
		g = gcd(g, w)
	}
	table := make([]uint16, m)
	for i := range table {
		table[i] = 0xffff
	}
	filled := 0
	for filled < m {
		for i := 0; i < n && filled < m; i++ {
			for turn := 0; turn < weights[i]/g && filled < m; turn++ {
				for {
					slot := (offset[i] + next[i]*skip[i]) % uint64(m)
					next[i]++
					if table[slot] == 0xffff {
						table[slot] = uint16(i)
						filled++
						break
					}
				}
			}
		}
	}
	return &maglev{table: table, key: key, seq: swrrSequence(weights)}
}

func (b *maglev) pick(x *policy.Exchange) int {
	h, ok := hashOf(x, &b.key)
	if !ok {
		return int(b.seq[rand.N(len(b.seq))])
	}
	return int(b.table[h%uint64(len(b.table))])
}

// ring is a consistent-hash ring (ketama-like): each target owns points in
// proportion to its weight; a key goes to the first point at or after its
// hash. Removing one of N targets moves about 1/N of keys. Immutable.
type ring struct {
	hashes  []uint64
	targets []uint16
	key     policy.HashKey
	seq     []uint16
}

// ringPoints is the points per unit of (gcd-reduced) weight, and the ring
// holds at most ringMaxPoints in all.
const (
	ringPoints    = 160
	ringMaxPoints = 100_000
)

func newRing(weights []int, addrs []string, key policy.HashKey) *ring {
	g, total := 0, 0
	for _, w := range weights {
		g = gcd(g, w)
	}
	for _, w := range weights {
		total += w / g
	}
	per := max(1, min(ringPoints, ringMaxPoints/total))
	type point struct {
		h uint64
		t uint16
	}
	var pts []point
	for i, a := range addrs {
		for j := 0; j < per*weights[i]/g; j++ {
			pts = append(pts, point{xxhash.Sum64String(a + "-" + strconv.Itoa(j)), uint16(i)})
		}
	}
	slices.SortFunc(pts, func(a, b point) int {
		switch {
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return 0
	})
	r := &ring{key: key, seq: swrrSequence(weights)}
	for _, p := range pts {
		r.hashes = append(r.hashes, p.h)
		r.targets = append(r.targets, p.t)
	}
	return r
}

func (b *ring) pick(x *policy.Exchange) int {
	h, ok := hashOf(x, &b.key)
	if !ok {
		return int(b.seq[rand.N(len(b.seq))])
	}
	lo, hi := 0, len(b.hashes)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if b.hashes[mid] < h {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(b.hashes) {
		lo = 0
	}
	return int(b.targets[lo])
}
