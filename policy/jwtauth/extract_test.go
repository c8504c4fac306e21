package jwtauth

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func TestExtract(t *testing.T) {
	cases := []struct {
		name   string
		src    Source
		header [2]string
		cookie [2]string
		want   string
	}{
		{"bearer", Source{}, [2]string{"Authorization", "Bearer abc.def.ghi"}, [2]string{}, "abc.def.ghi"},
		{"bearer case and spaces", Source{}, [2]string{"Authorization", "bEaReR   abc  "}, [2]string{}, "abc"},
		{"other scheme", Source{}, [2]string{"Authorization", "Basic dXNlcjpwYXNz"}, [2]string{}, ""},
		{"bearer without token", Source{}, [2]string{"Authorization", "Bearer   "}, [2]string{}, ""},
		{"bearer no space", Source{}, [2]string{"Authorization", "Bearerabc"}, [2]string{}, ""},
		{"missing", Source{}, [2]string{}, [2]string{}, ""},
		{"header raw", Source{Kind: SourceHeader, Name: "X-Token"}, [2]string{"X-Token", " abc "}, [2]string{}, "abc"},
		{"header bearer", Source{Kind: SourceHeader, Name: "X-Token"}, [2]string{"x-token", "Bearer abc"}, [2]string{}, "abc"},
		{"header ignores authorization", Source{Kind: SourceHeader, Name: "X-Token"}, [2]string{"Authorization", "Bearer abc"}, [2]string{}, ""},
		{"cookie", Source{Kind: SourceCookie, Name: "session"}, [2]string{}, [2]string{"session", "abc"}, "abc"},
		{"cookie other", Source{Kind: SourceCookie, Name: "session"}, [2]string{}, [2]string{"sid", "abc"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var req fasthttp.Request
			if c.header[0] != "" {
				req.Header.Set(c.header[0], c.header[1])
			}
			if c.cookie[0] != "" {
				req.Header.SetCookie(c.cookie[0], c.cookie[1])
			}
			got := Extract(&req, c.src)
			if string(got) != c.want || (c.want == "" && got != nil) {
				t.Fatalf("Extract = %q, want %q", got, c.want)
			}
		})
	}
}

func TestApplyForwardsStripsSpoofedHeaders(t *testing.T) {
	v := hsVerifier(t, Config{ForwardClaims: map[string]string{"sub": "X-User", "tenant": "X-Tenant"}})
	vd := expectOK(t, v, hsToken(t, map[string]any{"exp": testNow + 60, "sub": "alice"}))
	var req fasthttp.Request
	req.Header.Set("X-User", "mallory")
	req.Header.Set("X-Tenant", "spoofed")
	v.ApplyForwards(&req.Header, vd)
	if got := string(req.Header.Peek("X-User")); got != "alice" {
		t.Fatalf("X-User = %q", got)
	}
	if got := req.Header.Peek("X-Tenant"); got != nil {
		t.Fatalf("X-Tenant = %q, want removed", got)
	}
}
