package ipacl

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"
)

// BenchmarkAllowed shows the lookup cost does not grow with the list: each
// size is probed with the same mix of hitting and missing addresses.
func BenchmarkAllowed(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		for _, fam := range []string{"v4", "v6"} {
			b.Run(fam+"/"+strconv.Itoa(n), func(b *testing.B) {
				r := rand.New(rand.NewPCG(uint64(n), 1))
				var cfg Config
				for len(cfg.Allow) < n {
					if s := randPrefix(r, false); (s[0] == ':' || !containsColon(s)) == (fam == "v4") {
						cfg.Allow = append(cfg.Allow, s)
					}
				}
				acl := mustCompile(b, cfg)
				ips := make([]netip.Addr, 1024)
				for i := range ips {
					ips[i] = randAddr(r, fam == "v6")
				}
				b.ReportAllocs()
				b.ResetTimer()
				var hits int
				for i := 0; i < b.N; i++ {
					if acl.Allowed(ips[i&1023]) {
						hits++
					}
				}
				_ = hits
			})
		}
	}
}

func containsColon(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return true
		}
	}
	return false
}

func BenchmarkClientIP(b *testing.B) {
	trusted, _ := NewSet("trusted_proxies", []string{"10.0.0.0/8", "172.16.0.0/12"})
	xff := [][]byte{[]byte("203.0.113.1, 198.51.100.2, 172.16.4.4, 10.1.1.1")}
	peer := netip.MustParseAddr("10.0.0.1")
	plain := Prefixes{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12")}
	b.Run("Set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = ClientIP(peer, xff, trusted)
		}
	})
	b.Run("Prefixes", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = ClientIP(peer, xff, plain)
		}
	})
}

func BenchmarkParseAddr(b *testing.B) {
	for _, s := range []string{"203.0.113.1", "2001:db8::1:2"} {
		in := []byte(s)
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = ParseAddr(in)
			}
		})
	}
}
