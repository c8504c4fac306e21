// Package certs holds TLS state that outlives configuration snapshots:
// certificates loaded from PEM files (or env:/inline), reloaded when their
// files change on disk, and session ticket keys shared by a fleet.
//
// A snapshot holds *Entry handles; the store keeps one Entry per source, so
// a reload that names the same files keeps the same Entry, and a renewal by
// an external tool (certbot, cert-manager) is picked up by Poll without a
// config reload and without touching open connections: a handshake reads
// the Entry's current certificate once, an established connection never
// looks again.
package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Source names one certificate chain and its private key, each as
// "file:/path", "env:NAME" or inline PEM.
type Source struct {
	Cert string
	Key  string
}

// Entry is one certificate kept current: Certificate returns the latest
// successfully loaded version. Safe for concurrent use; never copied.
type Entry struct {
	src   Source
	cur   atomic.Pointer[tls.Certificate]
	stamp atomic.Pointer[stamp] // file stamps of the loaded version
	// lastErr is the last reload error reported; only Poll touches it.
	lastErr string
}

// Certificate is the certificate to present now.
func (e *Entry) Certificate() *tls.Certificate { return e.cur.Load() }

// Source is what the entry was loaded from.
func (e *Entry) Source() Source { return e.src }

// Leaf is the parsed end-entity certificate of the current version.
func (e *Entry) Leaf() *x509.Certificate { return e.cur.Load().Leaf }

// Static wraps an already loaded certificate (tests, ACME-free tools).
func Static(c *tls.Certificate) *Entry {
	e := &Entry{}
	e.cur.Store(c)
	return e
}

// stamp identifies the on-disk version of a source's files: size and
// modification time of each, plus a content hash to catch a same-second,
// same-size replacement.
type stamp struct {
	files  [2]fileStamp
	sum    [32]byte
	readAt time.Time
}

type fileStamp struct {
	path  string
	size  int64
	mtime time.Time
}

// Store keeps one Entry per Source and one TicketKeys per file across
// reloads. Safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	entries map[Source]*Entry
	tickets map[string]*TicketKeys
	// reloads and failures count file reloads done by Poll (metrics read them).
	Reloads  atomic.Uint64
	Failures atomic.Uint64
	// OnError is told about a changed file that did not load (the old
	// certificate stays in service). Nil ignores.
	OnError func(src string, err error)
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{entries: map[Source]*Entry{}, tickets: map[string]*TicketKeys{}}
}

// Get loads src (always reading the files again: a config reload is also a
// certificate reload) and returns its entry, shared with every snapshot
// that names the same source. On error the entry, if any, keeps its last
// good certificate.
func (s *Store) Get(src Source) (*Entry, error) {
	c, st, err := load(src)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[src]
	if !ok {
		e = &Entry{src: src}
		s.entries[src] = e
	}
	e.cur.Store(c)
	e.stamp.Store(st)
	return e, nil
}

// Retain forgets entries and ticket files a new snapshot no longer names,
// so Poll stops watching them. Snapshots still serving keep their handles.
func (s *Store) Retain(entries []*Entry, tickets *TicketKeys) {
	keep := make(map[*Entry]bool, len(entries))
	for _, e := range entries {
		keep[e] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for src, e := range s.entries {
		if !keep[e] {
			delete(s.entries, src)
		}
	}
	for ref, t := range s.tickets {
		if t != tickets {
			delete(s.tickets, ref)
		}
	}
}

// Poll reloads every certificate and ticket-key file that changed on disk
// since it was loaded. A file that changed but does not load is reported
// to OnError and the previous version stays. It reports whether ticket keys
// changed (the listeners then install them).
func (s *Store) Poll() (ticketsChanged bool) {
	s.mu.Lock()
	entries := make([]*Entry, 0, len(s.entries))
	for _, e := range s.entries {
		entries = append(entries, e)
	}
	tickets := make([]*TicketKeys, 0, len(s.tickets))
	for _, t := range s.tickets {
		tickets = append(tickets, t)
	}
	s.mu.Unlock()
	for _, e := range entries {
		old := e.stamp.Load()
		if old == nil || !old.changed() {
			continue
		}
		c, st, err := load(e.src)
		if st != nil {
			// Remember what was read, good or bad: the same broken
			// version is reported once, not every tick.
			e.stamp.Store(st)
		}
		if st != nil && st.sum == old.sum {
			continue // touched or re-read, not changed
		}
		if err != nil {
			if msg := err.Error(); msg != e.lastErr { // a missing file: once, not every tick
				e.lastErr = msg
				s.Failures.Add(1)
				if s.OnError != nil {
					s.OnError(e.src.Cert, err)
				}
			}
			continue
		}
		e.lastErr = ""
		e.cur.Store(c)
		s.Reloads.Add(1)
	}
	for _, t := range tickets {
		if t.poll(s) {
			ticketsChanged = true
		}
	}
	return ticketsChanged
}

// changed reports whether any file may have changed: its size or
// modification time moved, or it was modified so close to when it was read
// that a second write in the same file-system clock tick (a few ms) would
// leave both unchanged ("racy" stamps, as git calls them). Those are read
// again until the stamp is old enough; load compares contents by hash.
func (st *stamp) changed() bool {
	for _, f := range st.files {
		if f.path == "" {
			continue
		}
		fi, err := os.Stat(f.path)
		if err != nil {
			return true
		}
		if fi.Size() != f.size || !fi.ModTime().Equal(f.mtime) || !f.mtime.Before(st.readAt.Add(-racyWindow)) {
			return true
		}
	}
	return false
}

// racyWindow is how close to a read a modification time must be for the
// stamp to be distrusted: well over any file system's timestamp granularity.
const racyWindow = time.Second

// read resolves a reference and records the file's stamp when it is one.
func read(ref, what string, fs *fileStamp) ([]byte, error) {
	switch {
	case strings.HasPrefix(ref, "file:"):
		path := strings.TrimPrefix(ref, "file:")
		fi, err := os.Stat(path)
		if err != nil {
			return nil, errors.New("cannot read " + what + " file " + path + ": " + unwrapPath(err))
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, errors.New("cannot read " + what + " file " + path + ": " + unwrapPath(err))
		}
		*fs = fileStamp{path: path, size: fi.Size(), mtime: fi.ModTime()}
		return b, nil
	case strings.HasPrefix(ref, "env:"):
		name := strings.TrimPrefix(ref, "env:")
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			return nil, errors.New(what + ": environment variable " + name + " is not set or empty")
		}
		return []byte(v), nil
	case ref == "":
		return nil, errors.New(what + " is required")
	}
	return []byte(ref), nil
}

func unwrapPath(err error) string {
	if u := errors.Unwrap(err); u != nil {
		return u.Error()
	}
	return err.Error()
}

// Load reads and checks one source: both parse, the key matches the
// certificate, and the chain's leaf is parsed into Leaf. Messages name the
// file and say what is wrong, never the key's bytes.
func Load(src Source) (*tls.Certificate, error) {
	c, _, err := load(src)
	return c, err
}

func load(src Source) (*tls.Certificate, *stamp, error) {
	st := &stamp{readAt: time.Now()}
	certPEM, err := read(src.Cert, "certificate", &st.files[0])
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := read(src.Key, "private key", &st.files[1])
	if err != nil {
		return nil, nil, err
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write(keyPEM)
	h.Sum(st.sum[:0])
	name := describe(src.Cert)
	var chain [][]byte
	rest := certPEM
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			chain = append(chain, b.Bytes)
		}
	}
	if len(chain) == 0 {
		return nil, st, errors.New("certificate " + name + " holds no PEM CERTIFICATE block")
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, st, errors.New("certificate " + name + " does not parse: " + err.Error())
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, st, errors.New("private key " + describe(src.Key) + ": " + err.Error())
	}
	if !keyMatches(leaf.PublicKey, key) {
		return nil, st, errors.New("private key " + describe(src.Key) + " does not match certificate " + name)
	}
	return &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, st, nil
}

func describe(ref string) string {
	switch {
	case strings.HasPrefix(ref, "file:"):
		return strings.TrimPrefix(ref, "file:")
	case strings.HasPrefix(ref, "env:"):
		return "from $" + strings.TrimPrefix(ref, "env:")
	}
	return "(inline)"
}

func parseKey(data []byte) (crypto.Signer, error) {
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("holds no PEM PRIVATE KEY block")
		}
		switch b.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, errors.New("does not parse: " + err.Error())
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, errors.New("unsupported key type")
			}
			return s, nil
		case "EC PRIVATE KEY":
			k, err := x509.ParseECPrivateKey(b.Bytes)
			if err != nil {
				return nil, errors.New("does not parse: " + err.Error())
			}
			return k, nil
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
			if err != nil {
				return nil, errors.New("does not parse: " + err.Error())
			}
			return k, nil
		}
	}
}

func keyMatches(pub any, key crypto.Signer) bool {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		return p.Equal(key.Public())
	case *rsa.PublicKey:
		return p.Equal(key.Public())
	case ed25519.PublicKey:
		return p.Equal(key.Public())
	}
	return false
}

// Covers reports whether the certificate serves host: an exact name, or a
// "*.example.com" group host served by a certificate with that same
// wildcard name.
func Covers(leaf *x509.Certificate, host string) bool {
	if strings.HasPrefix(host, "*.") {
		for _, n := range leaf.DNSNames {
			if strings.EqualFold(n, host) {
				return true
			}
		}
		return false
	}
	return leaf.VerifyHostname(host) == nil
}

// TicketKeys is a session ticket key file: one key per line, 32 bytes as
// 64 hex digits or base64; the first line encrypts new tickets, every line
// decrypts. An operator rotates by writing a new first line and dropping the
// oldest; every node reading the same file resumes every other node's
// sessions. Safe for concurrent use.
type TicketKeys struct {
	ref     string
	keys    atomic.Pointer[[][32]byte]
	stamp   atomic.Pointer[stamp]
	lastErr string // only Poll touches it
}

// Keys are the current keys, first the one that encrypts.
func (t *TicketKeys) Keys() [][32]byte {
	if k := t.keys.Load(); k != nil {
		return *k
	}
	return nil
}

// Tickets loads ref and returns its shared handle.
func (s *Store) Tickets(ref string) (*TicketKeys, error) {
	keys, st, err := loadTickets(ref)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[ref]
	if !ok {
		t = &TicketKeys{ref: ref}
		s.tickets[ref] = t
	}
	t.keys.Store(&keys)
	t.stamp.Store(st)
	return t, nil
}

func (t *TicketKeys) poll(s *Store) bool {
	old := t.stamp.Load()
	if old == nil || !old.changed() {
		return false
	}
	keys, st, err := loadTickets(t.ref)
	if st != nil {
		t.stamp.Store(st)
	}
	if st != nil && st.sum == old.sum {
		return false
	}
	if err != nil {
		if msg := err.Error(); msg != t.lastErr {
			t.lastErr = msg
			s.Failures.Add(1)
			if s.OnError != nil {
				s.OnError(t.ref, err)
			}
		}
		return false
	}
	t.lastErr = ""
	t.keys.Store(&keys)
	s.Reloads.Add(1)
	return true
}

// LoadTickets parses a ticket key file (check uses it).
func LoadTickets(ref string) ([][32]byte, error) {
	k, _, err := loadTickets(ref)
	return k, err
}

func loadTickets(ref string) ([][32]byte, *stamp, error) {
	st := &stamp{readAt: time.Now()}
	data, err := read(ref, "session ticket key", &st.files[0])
	if err != nil {
		return nil, nil, err
	}
	st.sum = sha256.Sum256(data)
	var keys [][32]byte
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		var k [32]byte
		if n, err := hex.Decode(k[:], line); err == nil && n == 32 && len(line) == 64 {
			keys = append(keys, k)
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(string(line))
		if err != nil || len(raw) != 32 {
			return nil, st, errors.New("session ticket key file " + describe(ref) + ": line " + itoa(i+1) +
				" is not 32 bytes as 64 hex digits or base64")
		}
		copy(k[:], raw)
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, st, errors.New("session ticket key file " + describe(ref) + " holds no key")
	}
	return keys, st, nil
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
