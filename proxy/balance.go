package proxy

import (
	"math/rand/v2"
	"sync/atomic"

	"github.com/sluicegw/sluice/policy"
)

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

// balancer picks the first target of an attempt sequence; the chain moves
// on from it past targets that are ejected, down, or already tried. One
// small type per policy (balance_*.go). Implementations are safe for
// concurrent use and allocate nothing per pick.
type balancer interface {
	pick(x *policy.Exchange) int
}

// newBalancer builds the backend's balancing policy.
func newBalancer(b policy.Balance, weights []int, addrs []string, targets []*target) balancer {
	switch b.Policy {
	case policy.BalanceLeastRequest:
		return newP2C(weights, targets)
	case policy.BalanceMaglev:
		return newMaglev(weights, addrs, b.HashOn)
	case policy.BalanceRingHash:
		return newRing(weights, addrs, b.HashOn)
	case policy.BalanceRandom:
		return newRandom(weights)
	}
	return newSWRR(weights)
}

// swrr is smooth weighted round-robin over a precomputed cycle.
type swrr struct {
	seq  []uint16
	next atomic.Uint64
}

func newSWRR(weights []int) *swrr { return &swrr{seq: swrrSequence(weights)} }

func (b *swrr) pick(*policy.Exchange) int { return int(b.seq[b.next.Add(1)%uint64(len(b.seq))]) }

// random picks a target at random, weighted: a uniform index into the
// weighted cycle. The runtime's per-thread generator is lock-free.
type random struct{ seq []uint16 }

func newRandom(weights []int) *random { return &random{seq: swrrSequence(weights)} }

func (b *random) pick(*policy.Exchange) int { return int(b.seq[rand.N(len(b.seq))]) }

// p2c is least-request with two random choices (Envoy's default choice
// count): two targets drawn by weight, the one with fewer active requests
// per unit of weight wins. It avoids the herd a global minimum causes and
// sends less to a slow target, whose requests pile up.
type p2c struct {
	seq     []uint16
	weights []int64
	targets []*target
}

func newP2C(weights []int, targets []*target) *p2c {
	w := make([]int64, len(weights))
	for i, v := range weights {
		w[i] = int64(v)
	}
	return &p2c{seq: swrrSequence(weights), weights: w, targets: targets}
}

func (b *p2c) pick(*policy.Exchange) int {
	n := len(b.seq)
	a := int(b.seq[rand.N(n)])
	c := int(b.seq[rand.N(n)])
	// a's load per weight against c's, cross-multiplied to stay integral.
	if b.targets[c].inflight.Load()*b.weights[a] < b.targets[a].inflight.Load()*b.weights[c] {
		return c
	}
	return a
}
