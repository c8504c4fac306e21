package proxy

import "sync/atomic"

// swrrSequence expands weights into one full cycle of nginx's smooth weighted
// round-robin: each step adds every weight to its target's current value,
// picks the largest and subtracts the total from it. Precomputing the cycle
// turns the per-request pick into one atomic increment and an index, with no
// lock, while keeping the smooth interleaving (weights 5,1,1 give
// a a b a c a a, not a a a a a b c). Weights are divided by their gcd, so the
// cycle is at most the sum of weights (bounded by the 1000-per-target cap).
func swrrSequence(weights []int) []uint16 {
	g := 0
	for _, w := range weights {
		g = gcd(g, w)
	}
	if g == 0 {
		return nil
	}
	total := 0
	ws := make([]int, len(weights))
	for i, w := range weights {
		ws[i] = w / g
		total += ws[i]
	}
	cur := make([]int, len(ws))
	seq := make([]uint16, 0, total)
	for range total {
		best := -1
		for i, w := range ws {
			cur[i] += w
			if best < 0 || cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		seq = append(seq, uint16(best))
	}
	return seq
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// balancer picks the first target of an attempt sequence. Implementations
// are safe for concurrent use and allocate nothing per pick.
type balancer interface {
	pick() int
}

// swrr is smooth weighted round-robin over a precomputed cycle.
type swrr struct {
	seq  []uint16
	next atomic.Uint64
}

func newSWRR(weights []int) *swrr { return &swrr{seq: swrrSequence(weights)} }

func (b *swrr) pick() int { return int(b.seq[b.next.Add(1)%uint64(len(b.seq))]) }
