package proxy

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync/atomic"

	"github.com/sluicegw/sluice/policy"
)

// splitUpstream spreads an API's traffic over several backends (canaries):
// a matching route sends the request to its backend first; otherwise a
// sticky key, when configured, hashes the client onto a fixed side;
// otherwise the weights decide, by smooth weighted round-robin, so a 95/5
// split is 95/5 over every 100 requests. The member backends' own chains
// (retries, balancing, health) do the forwarding; a member's target index
// is shifted by the targets of the members before it, so Exchange.Target
// indexes the split backend's Targets. Immutable; safe for concurrent use.
type splitUpstream struct {
	members []policy.Upstream
	offsets []int
	seq     []uint16
	next    atomic.Uint64
	weights []int // cumulative, for sticky hashing
	total   uint64
	spec    *policy.Split
}

func newSplit(b *policy.Backend, sp *policy.Split) (*splitUpstream, error) {
	s := &splitUpstream{spec: sp, seq: swrrSequence(sp.Weights)}
	off, cum := 0, 0
	for i, m := range sp.Members {
		if m.Upstream == nil {
			return nil, errors.New("BUG: split member " + m.Name + " bound after the split")
		}
		s.members = append(s.members, m.Upstream)
		s.offsets = append(s.offsets, off)
		off += len(m.Targets)
		cum += sp.Weights[i]
		s.weights = append(s.weights, cum)
	}
	s.total = uint64(cum)
	if off != len(b.Targets) {
		return nil, errors.New("BUG: split targets do not match its members")
	}
	return s, nil
}

// member picks the backend for x.
func (s *splitUpstream) member(x *policy.Exchange) int {
	for i := range s.spec.Routes {
		r := &s.spec.Routes[i]
		var v []byte
		switch r.Source {
		case policy.HashHeader:
			v = x.Req.Header.PeekBytes(r.Name)
		case policy.HashCookie:
			v = x.Req.Header.CookieBytes(r.Name)
		case policy.HashQuery:
			v = x.Req.URI().QueryArgs().PeekBytes(r.Name)
		}
		if v != nil && bytes.Equal(v, r.Value) {
			return r.Member
		}
	}
	if s.spec.HashOn.Source != policy.HashNone {
		if h, ok := hashOf(x, &s.spec.HashOn); ok {
			p := int(h % s.total)
			for i, c := range s.weights {
				if p < c {
					return i
				}
			}
		}
		return int(s.seq[rand.N(len(s.seq))])
	}
	return int(s.seq[s.next.Add(1)%uint64(len(s.seq))])
}

// Do implements policy.Upstream.
func (s *splitUpstream) Do(x *policy.Exchange) error {
	m := s.member(x)
	err := s.members[m].Do(x)
	if x.Target >= 0 {
		x.Target += s.offsets[m]
	}
	return err
}
