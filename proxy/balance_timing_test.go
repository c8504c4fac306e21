package proxy

import (
	"net/netip"
	"testing"

	"github.com/sluicegw/sluice/policy"
	"github.com/valyala/fasthttp"
)

// BenchmarkBalancerPick is the per-request cost of each balancing policy
// alone (the pipeline benchmark's noise on a shared machine hides it).
func BenchmarkBalancerPick(b *testing.B) {
	addrs := []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80", "10.0.0.5:80"}
	weights := []int{1, 2, 1, 1, 3}
	targets := make([]*target, len(addrs))
	for i, a := range addrs {
		targets[i] = &target{addr: a}
	}
	ipKey := policy.HashKey{Source: policy.HashClientIP}
	x := &policy.Exchange{Req: &fasthttp.Request{}, Client: netip.MustParseAddr("203.0.113.7")}
	x.Req.Header.Set("X-Key", "user-12345")
	for _, bc := range []struct {
		name string
		bal  balancer
	}{
		{"round_robin", newSWRR(weights)},
		{"random", newRandom(weights)},
		{"least_request_p2c", newP2C(weights, targets)},
		{"maglev_client_ip", newMaglev(weights, addrs, ipKey)},
		{"maglev_header", newMaglev(weights, addrs, headerKey)},
		{"ring_hash_header", newRing(weights, addrs, headerKey)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			s := 0
			for i := 0; i < b.N; i++ {
				s += bc.bal.pick(x)
			}
			if s < 0 {
				b.Fatal(s)
			}
		})
	}
}
