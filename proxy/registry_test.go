package proxy

import (
	"strings"
	"testing"

	"github.com/sluicegw/sluice/policy"
)

func loadConfig(t *testing.T, s *Server, cfg string) {
	t.Helper()
	p, err := policy.Parse("registry.toml", []byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(p); err != nil {
		t.Fatal(err)
	}
}

const registryConfig = `
[[backends]]
name = "b"
targets = [{ url = "http://a.internal:8000" }, { url = "http://b.internal:8000" }]
[[groups]]
name = "g"
[[groups.apis]]
name = "one"
path = "/one"
backend = "b"
`

// TestRegistryKeepsTargetStateAcrossReloads: per-target state is keyed by
// address alone, survives a reload that changes something unrelated (even
// the pool settings), and is reset once the address leaves the config.
func TestRegistryKeepsTargetStateAcrossReloads(t *testing.T) {
	s := New(Options{})
	loadConfig(t, s, registryConfig)
	a := s.ups.reg.lookup("a.internal:8000")
	if a == nil {
		t.Fatal("target a not registered")
	}
	a.consecutiveFailures.Store(3)

	changed := strings.Replace(registryConfig, `name = "one"`, `name = "renamed"`, 1) + "pool_size = 7\n"
	changed = strings.Replace(changed, "[[groups]]", "pool_size = 7\n[[groups]]", 1)
	changed = strings.TrimSuffix(changed, "pool_size = 7\n")
	loadConfig(t, s, changed)
	if got := s.ups.reg.lookup("a.internal:8000"); got != a || got.consecutiveFailures.Load() != 3 {
		t.Fatalf("target state lost on an unrelated reload: %p vs %p", got, a)
	}

	loadConfig(t, s, strings.Replace(registryConfig, `{ url = "http://a.internal:8000" }, `, "", 1))
	if s.ups.reg.lookup("a.internal:8000") != nil {
		t.Fatal("a target whose address left the config kept its state")
	}
	loadConfig(t, s, registryConfig)
	if got := s.ups.reg.lookup("a.internal:8000"); got == a || got.consecutiveFailures.Load() != 0 {
		t.Fatal("a returning address must start with fresh state")
	}
}
