package cors

import (
	"strings"
	"testing"
)

// naiveMatch is the documented origin semantics written with strings.
func naiveMatch(patterns []string, origin string) bool {
	if origin == "" || len(origin) > maxOriginLen {
		return false
	}
	o := strings.ToLower(origin)
	for _, pat := range patterns {
		if pat == "*" {
			return origin != "null"
		}
	}
	for _, pat := range patterns {
		pl := strings.ToLower(pat)
		i := strings.Index(pl, "://*.")
		if i < 0 {
			if o == pl {
				return true
			}
			continue
		}
		scheme, suffix := pl[:i+3], pl[i+4:]
		if !strings.HasPrefix(o, scheme) || !strings.HasSuffix(o, suffix) || len(o) <= len(scheme)+len(suffix) {
			continue
		}
		ok := true
		for _, label := range strings.Split(o[len(scheme):len(o)-len(suffix)], ".") {
			if label == "" || strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func FuzzOriginMatch(f *testing.F) {
	f.Add("https://*.example.org", "https://a.b.example.org")
	f.Add("https://app.example.com", "HTTPS://APP.EXAMPLE.COM")
	f.Add("http://*.example.net:8443", "http://x.example.net:8443")
	f.Add("https://*.example.org", "https://.example.org")
	f.Add("*", "null")
	f.Add("http://[::1]:8080", "http://[::1]:8080")
	f.Add("https://*.example.org", "https://evil.com/.example.org")
	f.Fuzz(func(t *testing.T, pattern, origin string) {
		patterns := []string{pattern, "https://fixed.example.com"}
		p, err := Compile(Config{AllowOrigins: patterns})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "cors: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		got := p.OriginAllowed([]byte(origin))
		if want := naiveMatch(patterns, origin); got != want {
			t.Fatalf("OriginAllowed(%q) with %q = %v, oracle %v", origin, pattern, got, want)
		}
		// A configured exact origin always matches itself.
		if pattern != "*" && !strings.Contains(pattern, "*") && !p.OriginAllowed([]byte(pattern)) && len(pattern) <= maxOriginLen {
			t.Fatalf("exact origin %q does not match itself", pattern)
		}
	})
}
