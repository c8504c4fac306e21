package certs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/store/certs"
	"github.com/sluicegw/sluice/store/certs/certstest"
)

// TestLoadErrors: every way a pair can be wrong has its own message that
// names the file, and never prints key material.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, "ca")
	c1, k1 := ca.Issue(t, certstest.Options{DNS: []string{"a.test"}}).Write(t, dir, "one")
	_, k2 := ca.Issue(t, certstest.Options{DNS: []string{"a.test"}}).Write(t, dir, "two")
	junk := filepath.Join(dir, "junk")
	certstest.WriteFile(t, junk, []byte("hello"))
	for _, c := range []struct {
		src  certs.Source
		want string
	}{
		{certs.Source{Cert: "file:" + c1, Key: "file:" + k2}, "does not match certificate " + c1},
		{certs.Source{Cert: "file:" + dir + "/absent.pem", Key: "file:" + k1}, "cannot read certificate file " + dir + "/absent.pem"},
		{certs.Source{Cert: "file:" + c1, Key: "file:" + dir + "/absent.key"}, "cannot read private key file"},
		{certs.Source{Cert: "file:" + junk, Key: "file:" + k1}, "holds no PEM CERTIFICATE block"},
		{certs.Source{Cert: "file:" + c1, Key: "file:" + junk}, "holds no PEM PRIVATE KEY block"},
		{certs.Source{Cert: "env:SLUICE_TEST_NO_SUCH_VAR", Key: "file:" + k1}, "SLUICE_TEST_NO_SUCH_VAR is not set"},
	} {
		_, err := certs.Load(c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.src, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE KEY-----") {
			t.Errorf("error leaks key material: %v", err)
		}
	}
	if c, err := certs.Load(certs.Source{Cert: "file:" + c1, Key: "file:" + k1}); err != nil || c.Leaf == nil {
		t.Fatalf("a good pair: %v", err)
	}
}

// TestPollReloadsChangedFiles: Poll picks up a replaced pair, keeps the old
// certificate when the new files do not load, and Retain stops watching.
func TestPollReloadsChangedFiles(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, "ca")
	first := ca.Issue(t, certstest.Options{DNS: []string{"a.test"}})
	c, k := first.Write(t, dir, "a")
	s := certs.NewStore()
	e, err := s.Get(certs.Source{Cert: "file:" + c, Key: "file:" + k})
	if err != nil {
		t.Fatal(err)
	}
	if s.Poll(); e.Leaf().SerialNumber.Cmp(first.Cert.SerialNumber) != 0 {
		t.Fatal("unchanged files reloaded to something else")
	}
	second := ca.Issue(t, certstest.Options{DNS: []string{"a.test"}})
	second.Write(t, dir, "a")
	s.Poll()
	if e.Leaf().SerialNumber.Cmp(second.Cert.SerialNumber) != 0 || s.Reloads.Load() != 1 {
		t.Fatalf("after renewal: serial %v, reloads %d", e.Leaf().SerialNumber, s.Reloads.Load())
	}
	var reported string
	s.OnError = func(src string, err error) { reported = src }
	certstest.WriteFile(t, c, third(t, ca).CertPEM) // new cert, old key: a torn renewal
	s.Poll()
	if e.Leaf().SerialNumber.Cmp(second.Cert.SerialNumber) != 0 || reported == "" || s.Failures.Load() != 1 {
		t.Fatalf("torn renewal: serial %v reported %q failures %d", e.Leaf().SerialNumber, reported, s.Failures.Load())
	}
	// A file that disappears (mid-renewal) is reported once, not every tick.
	if err := os.Remove(c); err != nil {
		t.Fatal(err)
	}
	s.Poll()
	s.Poll()
	if s.Failures.Load() != 2 || e.Leaf().SerialNumber.Cmp(second.Cert.SerialNumber) != 0 {
		t.Fatalf("missing file: failures %d (want 2: the torn write, then the removal once)", s.Failures.Load())
	}
	second.Write(t, dir, "a")
	s.Poll()
	s.Retain(nil, nil)
	second.Write(t, dir, "a")
	certstest.WriteFile(t, c, ca.Issue(t, certstest.Options{DNS: []string{"a.test"}}).CertPEM)
	before := s.Reloads.Load() + s.Failures.Load()
	s.Poll()
	if s.Reloads.Load()+s.Failures.Load() != before {
		t.Fatal("a retired entry is still watched")
	}
}

func third(t *testing.T, ca *certstest.CA) *certstest.Leaf {
	return ca.Issue(t, certstest.Options{DNS: []string{"a.test"}})
}

// TestTicketKeys: hex and base64 lines, comments, and the errors.
func TestTicketKeys(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "keys")
	certstest.WriteFile(t, p, []byte("# rotated weekly\n"+strings.Repeat("0f", 32)+"\n\n"+
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"))
	keys, err := certs.LoadTickets("file:" + p)
	if err != nil || len(keys) != 2 || keys[0][0] != 0x0f || keys[1][31] != 31 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	for content, want := range map[string]string{
		"":                              "holds no key",
		"abcd\n":                        "line 1 is not 32 bytes",
		strings.Repeat("0f", 31) + "\n": "line 1 is not 32 bytes",
	} {
		_ = os.WriteFile(p, []byte(content), 0o600)
		if _, err := certs.LoadTickets("file:" + p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", content, err, want)
		}
	}
}

// TestDefectSameTickRewriteMissed: a certificate rewritten in the same
// file-system clock tick as the version loaded, at the same size, left
// size and modification time unchanged, and the renewal was never served.
// The rewrite is simulated exactly: same size, the old mtime put back.
func TestDefectSameTickRewriteMissed(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, "ca")
	var first, second *certstest.Leaf
	for { // two certificates whose PEM has the same length
		first = ca.Issue(t, certstest.Options{DNS: []string{"a.test"}})
		second = ca.Issue(t, certstest.Options{DNS: []string{"a.test"}})
		if len(first.CertPEM) == len(second.CertPEM) && len(first.KeyPEM) == len(second.KeyPEM) {
			break
		}
	}
	c, k := first.Write(t, dir, "a")
	s := certs.NewStore()
	e, err := s.Get(certs.Source{Cert: "file:" + c, Key: "file:" + k})
	if err != nil {
		t.Fatal(err)
	}
	fc, _ := os.Stat(c)
	fk, _ := os.Stat(k)
	second.Write(t, dir, "a")
	if err := os.Chtimes(c, fc.ModTime(), fc.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(k, fk.ModTime(), fk.ModTime()); err != nil {
		t.Fatal(err)
	}
	s.Poll()
	if e.Leaf().SerialNumber.Cmp(second.Cert.SerialNumber) != 0 {
		t.Fatal("a same-size rewrite within one timestamp tick was not picked up")
	}
}
