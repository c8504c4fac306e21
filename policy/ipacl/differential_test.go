package ipacl

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// naiveACL is the linear oracle: the documented semantics written the
// obvious way over netip.Prefix.Contains.
type naiveACL struct{ allow, deny []netip.Prefix }

func naivePrefix(s string) netip.Prefix {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a := netip.MustParseAddr(s)
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

func newNaive(cfg Config) *naiveACL {
	n := &naiveACL{}
	for _, s := range cfg.Allow {
		n.allow = append(n.allow, naivePrefix(s))
	}
	for _, s := range cfg.Deny {
		n.deny = append(n.deny, naivePrefix(s))
	}
	return n
}

func naiveIn(list []netip.Prefix, ip netip.Addr) bool {
	for _, p := range list {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (n *naiveACL) Allowed(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap().WithZone("") // zones are ignored by design
	if naiveIn(n.deny, ip) {
		return false
	}
	return len(n.allow) == 0 || naiveIn(n.allow, ip)
}

func randAddr(r *rand.Rand, v6 bool) netip.Addr {
	if !v6 {
		var b [4]byte
		u := r.Uint32()
		// crowd half the addresses into 10/8 so prefixes overlap and nest
		if r.IntN(2) == 0 {
			u = 10<<24 | u&0xffffff
		}
		b[0], b[1], b[2], b[3] = byte(u>>24), byte(u>>16), byte(u>>8), byte(u)
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	hi, lo := r.Uint64(), r.Uint64()
	if r.IntN(2) == 0 {
		hi = 0x20010db8<<32 | hi&0xffffffff
	}
	for i := range 8 {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	return netip.AddrFrom16(b)
}

func randPrefix(r *rand.Rand, huge bool) string {
	v6 := r.IntN(3) == 0
	a := randAddr(r, v6)
	var bits int
	switch {
	case r.IntN(4) == 0:
		bits = a.BitLen() // host route, written bare
		return a.String()
	case v6:
		bits = 24 + r.IntN(105)
	default:
		bits = 12 + r.IntN(21)
	}
	if huge && r.IntN(50) == 0 {
		bits = r.IntN(4) // rare huge ranges, including /0
	}
	p, _ := a.Prefix(bits)
	s := p.String()
	if !v6 && r.IntN(10) == 0 {
		// some entries spelled as IPv4-mapped IPv6
		s = "::ffff:" + p.Addr().String() + "/" + itoa(p.Bits()+96)
	}
	return s
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [4]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// probes returns addresses at and around the edges of the list's prefixes,
// plus random ones, in both plain and IPv4-mapped form.
func probes(r *rand.Rand, cfg Config, n int) []netip.Addr {
	var out []netip.Addr
	edges := func(s string) {
		p := naivePrefix(s)
		sp := prefixSpan(p)
		for _, k := range []u128{sp.lo, sp.hi} {
			for _, d := range []int{-1, 0, 1} {
				v := k
				switch d {
				case -1:
					v = u128{v.hi, v.lo - 1}
					if k.lo == 0 {
						v.hi--
					}
				case 1:
					v, _ = v.addOne()
				}
				out = append(out, fromU128(v, p.Addr().Is4()))
			}
		}
	}
	nEdge := 500
	if raceEnabled {
		nEdge = 50
	}
	for i := 0; i < nEdge && i < len(cfg.Allow); i++ {
		edges(cfg.Allow[r.IntN(len(cfg.Allow))])
	}
	for i := 0; i < nEdge && i < len(cfg.Deny); i++ {
		edges(cfg.Deny[r.IntN(len(cfg.Deny))])
	}
	for range n {
		out = append(out, randAddr(r, r.IntN(3) == 0))
	}
	for i := range len(out) / 4 {
		if a := out[i]; a.Is4() {
			out = append(out, netip.AddrFrom16(a.As16()))
		}
	}
	return out
}

func fromU128(v u128, is4 bool) netip.Addr {
	if is4 {
		x := uint32(v.lo)
		return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
	}
	var b [16]byte
	for i := range 8 {
		b[i] = byte(v.hi >> (56 - 8*i))
		b[8+i] = byte(v.lo >> (56 - 8*i))
	}
	return netip.AddrFrom16(b)
}

func TestDifferentialRandomCIDRs(t *testing.T) {
	for _, sc := range []struct {
		name          string
		nAllow, nDeny int
		seed          uint64
		huge          bool // allow /0../3 entries
	}{
		{"allow10000", 10000, 0, 1, false},
		{"deny10000", 0, 10000, 2, false},
		{"both5000", 5000, 5000, 3, false},
		{"small", 7, 3, 4, true},
		{"medium", 300, 40, 5, true},
		{"medium-allow-huge-deny", 40, 300, 6, true},
	} {
		t.Run(sc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(sc.seed, 0x5eed))
			var cfg Config
			for range sc.nAllow {
				cfg.Allow = append(cfg.Allow, randPrefix(r, sc.huge))
			}
			for range sc.nDeny {
				cfg.Deny = append(cfg.Deny, randPrefix(r, sc.huge))
			}
			acl := mustCompile(t, cfg)
			oracle := newNaive(cfg)
			nProbe := 3000
			if testing.Short() || raceEnabled {
				nProbe = 200
			}
			hits := 0
			for _, ip := range probes(r, cfg, nProbe) {
				want := oracle.Allowed(ip)
				if got := acl.Allowed(ip); got != want {
					t.Fatalf("Allowed(%s) = %v, oracle %v", ip, got, want)
				}
				if want {
					hits++
				}
			}
			t.Logf("%d allowed of probes", hits)
		})
	}
}
