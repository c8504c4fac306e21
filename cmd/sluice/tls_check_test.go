package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/store/certs/certstest"
)

// TestCheckCertificates is acceptance 3 of issue 11: check reports a key
// that does not match its certificate, a certificate that covers none of
// its group's hosts and an unreadable file, each at the file:line:col of
// the key that names the bad file.
func TestCheckCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, "check CA")
	ca.Issue(t, certstest.Options{DNS: []string{"a.test"}}).Write(t, dir, "a")
	ca.Issue(t, certstest.Options{DNS: []string{"a.test"}}).Write(t, dir, "other")
	ca.Issue(t, certstest.Options{DNS: []string{"elsewhere.test"}}).Write(t, dir, "b")
	lines := []string{
		`[[groups]]`,
		`name = "a"`,
		`hosts = ["a.test"]`,
		`certificates = [{ cert = "file:` + dir + `/a.pem", key = "file:` + dir + `/other.key" }]`,
		`[[groups]]`,
		`name = "b"`,
		`hosts = ["b.test", "*.b.test"]`,
		`certificates = [{ cert = "file:` + dir + `/b.pem", key = "file:` + dir + `/b.key" }]`,
		`[[groups]]`,
		`name = "c"`,
		`hosts = ["c.test"]`,
		`certificates = [{ cert = "file:` + dir + `/missing.pem", key = "file:` + dir + `/b.key" }]`,
	}
	path := writeTemp(t, "tls.toml", strings.Join(lines, "\n")+"\n")
	col := func(line int, key string) string {
		return strconv.Itoa(line) + ":" + strconv.Itoa(strings.Index(lines[line-1], key+" =")+1)
	}
	_, stderr, code := runSluice(t, "check", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, stderr)
	}
	errorLines(t, stderr, path, [][3]string{
		{col(4, "key"), "groups[0].certificates[0].key: ", "does not match certificate " + dir + "/a.pem"},
		{col(8, "cert"), "groups[1].certificates[0].cert: ", `covers none of the group's hosts "b.test", "*.b.test"`},
		{col(12, "cert"), "groups[2].certificates[0].cert: ", "cannot read certificate file " + dir + "/missing.pem"},
	})
}

// TestCheckCertificateWarnings: a certificate expiring within 30 days and
// insecure_skip_verify are warnings with positions; check still passes.
func TestCheckCertificateWarnings(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, "check CA")
	ca.Issue(t, certstest.Options{DNS: []string{"a.test"}, NotAfter: time.Now().Add(10 * 24 * time.Hour)}).Write(t, dir, "a")
	src := `[[backends]]
name = "b"
targets = [{ url = "https://origin.internal:8443", tls = { insecure_skip_verify = true } }]
[[groups]]
name = "a"
hosts = ["a.test"]
certificates = [{ cert = "file:` + dir + `/a.pem", key = "file:` + dir + `/a.key" }]
`
	path := writeTemp(t, "warn.toml", src)
	stdout, stderr, code := runSluice(t, "check", path)
	if code != 0 || !strings.Contains(stdout, ": ok: ") {
		t.Fatalf("exit %d stdout %q stderr %q, want 0 and ok", code, stdout, stderr)
	}
	errorLines(t, stderr, path, [][3]string{
		{"3:" + strconv.Itoa(strings.Index(src[strings.Index(src, "targets"):], "insecure")+1), "backends[0].targets[0].tls.insecure_skip_verify: ", "warning: INSECURE"},
		{"7:19", "groups[0].certificates[0].cert: ", "within 30 days"},
	})
}
