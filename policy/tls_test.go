package policy

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/store/certs/certstest"
)

// TestTLSValidation: each TLS mistake is reported at its key.
func TestTLSValidation(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, "ca")
	ca.Issue(t, certstest.Options{DNS: []string{"a.test"}}).Write(t, dir, "a")
	certstest.WriteFile(t, filepath.Join(dir, "ca.pem"), ca.PEM)
	cert := `certificates = [{ cert = "file:` + dir + `/a.pem", key = "file:` + dir + `/a.key" }]`
	for _, c := range []struct{ name, src, key, want string }{
		{"min version", "[tls]\nmin_version = \"1.1\"\n", "tls.min_version", `must be "1.2" or "1.3"`},
		{"unknown_sni default without certificate", "[tls]\nunknown_sni = \"default\"\n", "tls.unknown_sni", "needs [tls].default_certificate"},
		{"TLS listener without certificates", "[[server.listeners]]\naddress = \"127.0.0.1:8443\"\ntls = true\n", "server.listeners[0].tls", "a TLS listener needs certificates"},
		{"listener address", "[[server.listeners]]\naddress = \"nowhere\"\n", "server.listeners[0].address", "invalid address"},
		{"client_auth without CA", "[[groups]]\nname = \"g\"\nhosts = [\"a.test\"]\n" + cert + "\nclient_auth = \"require\"\n", "groups[0].client_auth", "needs client_ca"},
		{"client_auth value", "[[groups]]\nname = \"g\"\nhosts = [\"a.test\"]\n" + cert + "\nclient_auth = \"always\"\nclient_ca = \"file:" + dir + "/ca.pem\"\n", "groups[0].client_auth", `must be "request" or "require"`},
		{"redirect without TLS", "[[groups]]\nname = \"g\"\nhosts = [\"a.test\"]\nredirect_https = true\n", "groups[0].redirect_https", "no TLS listener to redirect to"},
		{"hsts max_age", "[[groups]]\nname = \"g\"\nhosts = [\"a.test\"]\n" + cert + "\nhsts = { include_subdomains = true }\n", "groups[0].hsts.max_age", "at least 1s"},
		{"acme challenge", "[[groups]]\nname = \"g\"\nhosts = [\"a.test\"]\nacme = { challenge = \"dns-01\" }\n", "groups[0].acme.challenge", `must be "http-01" or "tls-alpn-01"`},
		{"acme directory", "[[groups]]\nname = \"g\"\nhosts = [\"a.test\"]\nacme = { directory = \"http://insecure/dir\" }\n", "groups[0].acme.directory", "must be an https:// URL"},
		{"acme wildcard only", "[[groups]]\nname = \"g\"\nhosts = [\"*.a.test\"]\nacme = { }\n", "groups[0].acme", "at least one exact"},
		{"client certificate identity", "[[consumers]]\nname = \"c\"\nclient_certificates = [\"sha256:abc\"]\n", "consumers[0].client_certificates[0]", "64 hex digits"},
		{"client certificate kind", "[[consumers]]\nname = \"c\"\nclient_certificates = [\"issuer:x\"]\n", "consumers[0].client_certificates[0]", `want "sha256:"`},
		{"identity twice", "[[consumers]]\nname = \"c\"\nclient_certificates = [\"cn:x\"]\n[[consumers]]\nname = \"d\"\nclient_certificates = [\"cn:x\"]\n", "consumers[1].client_certificates[0]", "already belongs to consumer"},
		{"mtls mode without client_auth", "[[backends]]\nname = \"b\"\nmock = {}\n[[groups]]\nname = \"g\"\nhosts = [\"a.test\"]\n[groups.auth]\nmodes = [\"mtls\"]\n[[groups.apis]]\nname = \"x\"\npath = \"/x\"\nbackend = \"b\"\n", "groups.client_auth.g", "sets no client_auth"},
		{"upstream CA unreadable", "[[backends]]\nname = \"b\"\ntargets = [{ url = \"https://x:1\", tls = { ca = \"file:" + dir + "/none.pem\" } }]\n", "backends[0].targets[0].tls.ca", "cannot read secret file"},
		{"upstream backend tls", "[[backends]]\nname = \"b\"\ntargets = [{ url = \"https://x:1\" }]\n[backends.tls]\nca = \"file:" + dir + "/a.key\"\n", "backends[0].tls.ca", "holds no PEM certificate"},
	} {
		_, err := compileString(t, c.src)
		var list Errors
		if !errors.As(err, &list) {
			t.Errorf("%s: no error (want %q)", c.name, c.want)
			continue
		}
		found := false
		for _, e := range list {
			if e.Key == c.key && strings.Contains(e.Msg, c.want) {
				found = true
				if e.Line == 0 && !strings.HasPrefix(c.key, "groups.client_auth.") {
					t.Errorf("%s: %v has no position", c.name, e)
				}
			}
		}
		if !found {
			t.Errorf("%s: got %v, want %s: %q", c.name, err, c.key, c.want)
		}
	}
}

// TestTLSCompiled: listeners, SNI lookup and client-certificate identities
// compile to what the data plane reads.
func TestTLSCompiled(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, "ca")
	ca.Issue(t, certstest.Options{DNS: []string{"a.test", "*.w.test"}}).Write(t, dir, "a")
	s := mustCompile(t, `
[[server.listeners]]
address = "127.0.0.1:9443"
tls = true
[[server.listeners]]
address = "127.0.0.1:9080"
[[consumers]]
name = "c"
client_certificates = ["cn:partner", "san:p.test", "sha256:`+strings.Repeat("AB:", 31)+`AB"]
[[groups]]
name = "g"
hosts = ["a.test", "*.w.test"]
certificates = [{ cert = "file:`+dir+`/a.pem", key = "file:`+dir+`/a.key" }]
redirect_https = true
hsts = { max_age = "1h", include_subdomains = true, preload = true }
`)
	tl := s.TLS
	if len(tl.Listeners) != 2 || !tl.Listeners[0].TLS || tl.Listeners[1].TLS || tl.HTTPSPort != 9443 || !tl.Active {
		t.Fatalf("listeners %+v port %d: only tables were written, so no default plain listener", tl.Listeners, tl.HTTPSPort)
	}
	g := s.Groups[0]
	if s.GroupForSNI("A.TEST") != g || s.GroupForSNI("x.w.test") != g || s.GroupForSNI("x.y.w.test") != nil || s.GroupForSNI("") != nil {
		t.Fatal("GroupForSNI")
	}
	if string(g.TLS.HSTS) != "max-age=3600; includeSubDomains; preload" || len(g.TLS.Certs) != 1 {
		t.Fatalf("group TLS %+v", g.TLS)
	}
	var fp [32]byte
	for i := range fp {
		fp[i] = 0xab
	}
	var zero [32]byte
	if s.ConsumerForCert(&fp, nil, "") == nil || s.ConsumerForCert(&zero, []string{"p.test"}, "") == nil ||
		s.ConsumerForCert(&zero, nil, "partner") == nil || s.ConsumerForCert(&zero, []string{"q.test"}, "other") != nil {
		t.Fatal("ConsumerForCert")
	}
}
