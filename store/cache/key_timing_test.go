package cache

import (
	"testing"
)

func BenchmarkAppendKey(b *testing.B) {
	s := NewKeySpec(false, []string{"id", "page", "sort"}, []string{"X-Tenant"})
	h := hdr("X-Tenant", "acme", "Accept-Encoding", "gzip, br")
	in := &KeyInput{Method: []byte("GET"), Host: []byte("api.example.com"), Stage: []byte("prod"), Path: []byte("/v1/users"), Query: []byte("sort=name&page=2&id=7&utm=x"), Header: h}
	buf := make([]byte, 0, 512)
	vary, consumer := []byte("Accept-Encoding"), []byte("consumer-1")
	b.ReportAllocs()
	for b.Loop() {
		k, _, _ := s.AppendKey(buf[:0], in)
		k, _ = AppendVariantKey(k, nil, vary, consumer, h)
		buf = k[:0]
	}
}
