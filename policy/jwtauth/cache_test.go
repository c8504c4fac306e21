package jwtauth

import (
	"fmt"
	"sync"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/golang-jwt/jwt/v5"
)

func TestCacheHitReturnsSameVerified(t *testing.T) {
	v := hsVerifier(t, Config{})
	tok := hsToken(t, jwt.MapClaims{"exp": testNow + 60, "sub": "a"})
	a := expectOK(t, v, tok)
	b := expectOK(t, v, append([]byte(nil), tok...))
	if a != b {
		t.Fatal("second Verify was not served from the cache")
	}
	off := hsVerifier(t, Config{CacheSize: -1})
	if expectOK(t, off, tok) == expectOK(t, off, tok) {
		t.Fatal("disabled cache still caches")
	}
}

// TestCacheComparesBytes plants an entry whose hash matches a token but
// whose bytes differ: it must not be trusted.
func TestCacheComparesBytes(t *testing.T) {
	c := newTokenCache(16)
	tok := []byte("a.b.c")
	h := xxhash.Sum64(tok)
	c.put(&cacheEntry{hash: h, token: []byte("x.y.z"), notAfter: maxTime})
	if c.get(h, tok) != nil {
		t.Fatal("hash-equal, byte-different entry returned")
	}
	c.put(&cacheEntry{hash: h, token: tok, notAfter: maxTime})
	if c.get(h, tok) == nil {
		t.Fatal("entry not found")
	}
}

// TestCacheEvictionBounded fills a tiny cache far beyond its size: it stays
// at its fixed slot count, evicts the soonest-expiring entry of a full set,
// and everything still verifies.
func TestCacheEvictionBounded(t *testing.T) {
	c := newTokenCache(5) // rounds up to 8 slots, 2 sets
	if len(c.slots) != 8 {
		t.Fatalf("%d slots, want 8", len(c.slots))
	}
	h := uint64(0) // all in set 0
	for i := 0; i < 4; i++ {
		c.put(&cacheEntry{hash: h, token: []byte{byte(i)}, notAfter: int64(100 + i)})
	}
	c.put(&cacheEntry{hash: h, token: []byte{9}, notAfter: 500})
	if c.get(h, []byte{0}) != nil {
		t.Fatal("soonest-expiring entry was not the one evicted")
	}
	for _, k := range []byte{1, 2, 3, 9} {
		if c.get(h, []byte{k}) == nil {
			t.Fatalf("entry %d evicted", k)
		}
	}

	v := hsVerifier(t, Config{CacheSize: 8})
	toks := make([][]byte, 64)
	for i := range toks {
		toks[i] = hsToken(t, jwt.MapClaims{"exp": testNow + 60, "sub": fmt.Sprint(i)})
	}
	for round := 0; round < 2; round++ {
		for i, tok := range toks {
			vd := expectOK(t, v, tok)
			if string(vd.Claim(0)) != fmt.Sprint(i) {
				t.Fatalf("token %d: sub %q", i, vd.Claim(0))
			}
		}
	}
}

func TestCacheConcurrent(t *testing.T) {
	v := hsVerifier(t, Config{CacheSize: 16})
	toks := make([][]byte, 40)
	for i := range toks {
		toks[i] = hsToken(t, jwt.MapClaims{"exp": testNow + 60, "sub": fmt.Sprint(i)})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for n := 0; n < 300; n++ {
				i := (n*7 + g) % len(toks)
				vd, err := v.Verify(testNow, toks[i])
				if err != nil || string(vd.Claim(0)) != fmt.Sprint(i) {
					errs <- fmt.Errorf("token %d: %v %q", i, err, vd.Claim(0))
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
