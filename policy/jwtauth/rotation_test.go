package jwtauth

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// pollVerify calls Verify until it returns want or the deadline passes.
func pollVerify(t *testing.T, v *Verifier, tok []byte, want error, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
		if _, err = v.Verify(testNow, tok); err == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("Verify = %v, want %v within %v", err, want, within)
}

func TestJWKSRotation(t *testing.T) {
	testKeys(t)
	k1 := rsaJWK(&rsaKey.PublicKey, "k1", "RS256")
	k2 := rsaJWK(&rsaKey2.PublicKey, "k2", "RS256")
	srv := newJWKSServer(t, k1)
	const minGap = 400 * time.Millisecond
	v := mustCompile(t, NewRegistry(), Config{
		JWKSURL:            srv.url(),
		RefreshInterval:    Duration(time.Hour), // only early refetches in this test
		MinRefetchInterval: Duration(minGap),
		FetchTimeout:       Duration(2 * time.Second),
	})
	if !v.RemoteKeys().WaitReady(5 * time.Second) {
		t.Fatalf("keys not loaded: %v", v.RemoteKeys().LastError())
	}
	start := time.Now()
	tok1 := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", baseClaims())
	tok2 := sign(t, jwt.SigningMethodRS256, rsaKey2, "k2", baseClaims())
	expectOK(t, v, tok1)

	// Rotation: k2 appears. Within the minimum interval an unknown kid
	// must not cause a fetch.
	srv.set(k1, k2)
	if _, err := v.Verify(testNow, tok2); err != ErrUnknownKid && time.Since(start) < minGap {
		t.Fatalf("unknown kid inside the min interval: %v", err)
	}
	if time.Since(start) < minGap {
		if h := srv.hits.Load(); h != 1 {
			t.Fatalf("%d fetches, want 1 (early refetch inside the min interval)", h)
		}
	}
	// After the interval, one early refetch picks k2 up.
	pollVerify(t, v, tok2, nil, 5*time.Second)
	if h := srv.hits.Load(); h != 2 {
		t.Fatalf("%d fetches, want exactly 2", h)
	}
	expectOK(t, v, tok1)

	// k1 is removed. Its token is cached; once a refresh drops k1 the
	// cache entry dies with the key.
	srv.set(k2)
	time.Sleep(minGap)
	unknown := sign(t, jwt.SigningMethodRS256, rsaKey2, "k3", baseClaims())
	expectErr(t, v, unknown, ErrUnknownKid) // triggers the refetch
	if h := srv.hits.Load(); h != 3 {
		t.Fatalf("%d fetches, want 3", h)
	}
	expectErr(t, v, tok1, ErrUnknownKid)
	expectOK(t, v, tok2)

	// The endpoint goes away: the last good keys keep working, for cached
	// and freshly presented tokens alike.
	srv.Close()
	time.Sleep(minGap)
	expectErr(t, v, unknown, ErrUnknownKid) // refetch attempt fails
	if v.RemoteKeys().LastError() == nil {
		t.Fatal("failed fetch not recorded")
	}
	expectOK(t, v, tok2)
	c := baseClaims()
	c["sub"] = "fresh"
	vd := expectOK(t, v, sign(t, jwt.SigningMethodRS256, rsaKey2, "k2", c))
	if string(vd.Claim(v.ClaimIndex("sub"))) != "fresh" {
		t.Fatal("wrong claims")
	}
}

func TestJWKSBackgroundRefresh(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, rsaJWK(&rsaKey.PublicKey, "k1", "RS256"))
	v := mustCompile(t, NewRegistry(), Config{
		JWKSURL:            srv.url(),
		RefreshInterval:    Duration(150 * time.Millisecond),
		MinRefetchInterval: Duration(100 * time.Millisecond),
	})
	v.Start() // the refresh loop runs only for a snapshot in service
	v.RemoteKeys().WaitReady(5 * time.Second)
	srv.set(rsaJWK(&rsaKey2.PublicKey, "k2", "RS256"))
	// No Verify call drives this: the background loop must fetch.
	deadline := time.Now().Add(5 * time.Second)
	for len(v.RemoteKeys().Keys()) != 1 || v.RemoteKeys().Keys()[0].Kid() != "k2" {
		if time.Now().After(deadline) {
			t.Fatal("background refresh did not pick up the new key set")
		}
		time.Sleep(20 * time.Millisecond)
	}
	expectOK(t, v, sign(t, jwt.SigningMethodRS256, rsaKey2, "k2", baseClaims()))
}

func TestRegistryReuseAcrossReload(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, ecJWK(t, &ecKey.PublicKey, "e1"))
	reg := NewRegistry()
	cfg := Config{JWKSURL: srv.url()}
	old, err := reg.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	old.RemoteKeys().WaitReady(5 * time.Second)
	hits := srv.hits.Load()

	// Reload: compile the new verifier, then retire the old one.
	cfg.Leeway = Duration(time.Minute)
	nv, err := reg.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if nv.RemoteKeys() != old.RemoteKeys() {
		t.Fatal("reload did not reuse the key set")
	}
	old.Close()
	old.Close() // idempotent
	expectOK(t, nv, sign(t, jwt.SigningMethodES256, ecKey, "e1", baseClaims()))
	if srv.hits.Load() != hits {
		t.Fatal("reload refetched keys")
	}
	if reg.Len() != 1 {
		t.Fatalf("registry has %d sets, want 1", reg.Len())
	}
	nv.Close()
	if reg.Len() != 0 {
		t.Fatalf("registry has %d sets after the last close, want 0", reg.Len())
	}
}

func TestJWKSFetchLimits(t *testing.T) {
	testKeys(t)
	t.Run("body size", func(t *testing.T) {
		srv := newJWKSServer(t, ecJWK(t, &ecKey.PublicKey, "e1"))
		big := `{"keys":[],"pad":"` + strings.Repeat("x", 4096) + `"}`
		srv.body.Store(&big)
		v := mustCompile(t, NewRegistry(), Config{JWKSURL: srv.url(), MaxJWKSSize: 1024})
		if v.RemoteKeys().WaitReady(300 * time.Millisecond) {
			t.Fatal("oversized JWKS accepted")
		}
		if err := v.RemoteKeys().LastError(); err == nil || !strings.Contains(err.Error(), "exceeds 1024 bytes") {
			t.Fatalf("LastError = %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		srv := newJWKSServer(t, ecJWK(t, &ecKey.PublicKey, "e1"))
		srv.delay.Store(int64(3 * time.Second))
		v := mustCompile(t, NewRegistry(), Config{JWKSURL: srv.url(), FetchTimeout: Duration(150 * time.Millisecond)})
		v.Start()
		start := time.Now()
		for v.RemoteKeys().LastError() == nil && time.Since(start) < 2*time.Second {
			time.Sleep(20 * time.Millisecond)
		}
		if err := v.RemoteKeys().LastError(); err == nil || !strings.Contains(err.Error(), "deadline") {
			t.Fatalf("LastError = %v, want a deadline error", err)
		}
	})
	t.Run("bad document keeps nothing", func(t *testing.T) {
		srv := newJWKSServer(t)
		bad := `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`
		srv.body.Store(&bad)
		v := mustCompile(t, NewRegistry(), Config{JWKSURL: srv.url()})
		if v.RemoteKeys().WaitReady(200 * time.Millisecond) {
			t.Fatal("JWKS with only a 17-bit RSA key accepted")
		}
		if err := v.RemoteKeys().LastError(); err == nil || !strings.Contains(err.Error(), "no usable key") {
			t.Fatalf("LastError = %v", err)
		}
	})
}

// TestCompileOpensNoConnection: compiling a verifier with a jwks_url does no
// network I/O; the refresh loop starts with Start, once, and not after
// Close (issue 10, layering: sluice check must open no socket).
func TestCompileOpensNoConnection(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, rsaJWK(&rsaKey.PublicKey, "k1", "RS256"))
	reg := NewRegistry()
	v := mustCompile(t, reg, Config{JWKSURL: srv.url()})
	closed := mustCompile(t, reg, Config{JWKSURL: srv.url() + "/other"})
	closed.Close()
	closed.Start() // after Close: must not start anything
	reg.mu.Lock()
	running := v.remote.running || closed.remote.running
	reg.mu.Unlock()
	if running {
		t.Fatal("a refresh loop runs before Start (or after Close)")
	}
	if n := srv.hits.Load(); n != 0 {
		t.Fatalf("compile made %d fetches before Start", n)
	}
	v.Start()
	v.Start() // idempotent: one loop
	deadline := time.Now().Add(5 * time.Second)
	for len(v.RemoteKeys().Keys()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Start did not fetch the key set")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("%d fetches after two Starts, want 1", n)
	}
	v.Close()
}
