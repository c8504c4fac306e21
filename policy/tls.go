package policy

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/store/certs"
)

// TLS at the edge (issue 11): the config tables, their validation and the
// compiled settings the data plane serves from. Certificates themselves
// live in store/certs, which outlives snapshots.

// Defaults of the TLS settings, stated again in configs/reference.toml.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxHandshakes    = 1024
	DefaultACMEStorage      = "/var/lib/sluice/acme"
	DefaultACMEDirectory    = "https://acme-v02.api.letsencrypt.org/directory"
	// CertExpiryWarning is how close to expiry check starts warning.
	CertExpiryWarning = 30 * 24 * time.Hour
)

// ListenerConfig is one [[server.listeners]] entry. Listeners written as
// tables serve beside the short `listen = [...]` form (plain HTTP); when
// only tables are written, the short form's default is not added.
type ListenerConfig struct {
	// Address is host:port (required).
	Address string `toml:"address"`
	// TLS serves HTTPS on this address with the [tls] settings and the
	// groups' certificates (default false: plain HTTP).
	TLS bool `toml:"tls"`
}

// TLSConfig is the [tls] table: what every TLS listener shares. Changes to
// certificates, ticket keys, client CAs, unknown_sni and handshake_timeout
// apply on reload; min_version and max_handshakes need a restart.
type TLSConfig struct {
	// MinVersion is the lowest protocol accepted: "1.2" or "1.3" (default
	// "1.2"; restart to change).
	MinVersion string `toml:"min_version"`
	// DefaultCertificate is presented to clients without SNI or with a name
	// no group owns (default none).
	DefaultCertificate *CertificateConfig `toml:"default_certificate"`
	// UnknownSNI is "default" (present the default certificate) or "refuse"
	// (fail the handshake, counted as unknown_sni) for a name no group owns
	// (default "default" when a default certificate is set, else "refuse").
	UnknownSNI string `toml:"unknown_sni"`
	// HandshakeTimeout bounds one TLS handshake, first byte to finished
	// (default 10s; applies to new connections on reload).
	HandshakeTimeout Duration `toml:"handshake_timeout"`
	// MaxHandshakes caps handshakes in progress at once across listeners;
	// further connections wait in the kernel's accept queue, so slow
	// handshakes cannot exhaust the server (default 1024).
	MaxHandshakes int `toml:"max_handshakes"`
	// SessionTicketKeys is a file ("file:/path") of session ticket keys, one
	// per line, 32 bytes as 64 hex digits or base64; the first encrypts.
	// Every node reading the same file resumes every other node's sessions.
	// Reloaded when it changes (default: per-process random keys).
	SessionTicketKeys string `toml:"session_ticket_keys"`
	// HTTPSPort is the port redirects to HTTPS name (default: the first TLS
	// listener's port; 443 is left out of the URL).
	HTTPSPort int `toml:"https_port"`
	// RejectMisdirected answers 421 to a TLS request whose Host belongs to
	// another group than its SNI name (default true).
	RejectMisdirected *bool `toml:"reject_misdirected"`
	// ACME, when set, obtains certificates for every group with hosts and
	// neither certificates nor an acme table of its own (default none).
	ACME *ACMEConfig `toml:"acme"`
}

// CertificateConfig is one certificate chain and its key, each "file:/path",
// "env:NAME" or inline PEM. Files are reloaded when they change on disk.
type CertificateConfig struct {
	// Cert is the PEM chain, leaf first (required).
	Cert string `toml:"cert"`
	// Key is the PEM private key matching the leaf (required).
	Key string `toml:"key"`
}

// ACMEConfig obtains and renews certificates automatically.
type ACMEConfig struct {
	// Email is the ACME account's contact (default none).
	Email string `toml:"email"`
	// Directory is the ACME server's directory URL (default Let's Encrypt production).
	Directory string `toml:"directory"`
	// Challenge is "http-01" (answered on a plain listener, port 80 as the
	// CA sees it) or "tls-alpn-01" (answered in the TLS handshake, port 443)
	// (default "tls-alpn-01").
	Challenge string `toml:"challenge"`
	// Storage is the directory for accounts, certificates and locks; fleet
	// nodes sharing it share certificates (default "/var/lib/sluice/acme").
	Storage string `toml:"storage"`
	// CARoot is a PEM bundle ("file:/path") to trust the ACME server's own
	// HTTPS with, for private ACME CAs (default: the system roots).
	CARoot string `toml:"ca_root"`
}

// GroupTLSConfig is embedded in [[groups]]: the group's HTTPS settings.
type GroupTLSConfig struct {
	// Certificates serve the group's hosts, chosen by SNI; the names in each
	// must cover at least one host (default none).
	Certificates []CertificateConfig `toml:"certificates"`
	// ACME obtains certificates for the group's exact hosts (default: [tls].acme).
	ACME *ACMEConfig `toml:"acme"`
	// RedirectHTTPS answers plain HTTP requests with 308 to the same URL on
	// HTTPS (default false).
	RedirectHTTPS bool `toml:"redirect_https"`
	// HSTS adds Strict-Transport-Security to the group's HTTPS answers (default none).
	HSTS *HSTSConfig `toml:"hsts"`
	// ClientAuth asks clients for a certificate: "request" (optional) or
	// "require" (401 without a valid one) (default none). Needs client_ca.
	ClientAuth string `toml:"client_auth"`
	// ClientCA is the PEM bundle client certificates must chain to ("file:/path").
	ClientCA string `toml:"client_ca"`
	// ClientIdentityHeader, when set, sends the verified client
	// certificate's identity upstream in this header ("cn=...;sha256=...");
	// a client's own copy is always removed (default none).
	ClientIdentityHeader string `toml:"client_identity_header"`
}

// HSTSConfig is a group's Strict-Transport-Security.
type HSTSConfig struct {
	// MaxAge is how long browsers remember to use HTTPS only (required, > 0).
	MaxAge Duration `toml:"max_age"`
	// IncludeSubdomains extends it to every subdomain (default false).
	IncludeSubdomains bool `toml:"include_subdomains"`
	// Preload adds the preload token (default false).
	Preload bool `toml:"preload"`
}

// UpstreamTLSConfig configures https:// targets: on a backend for all its
// targets, or on one target (replacing the backend's table entirely).
type UpstreamTLSConfig struct {
	// CA is a PEM bundle to verify the origin with (default: the system roots).
	CA string `toml:"ca"`
	// ServerName is the SNI and verified name (default: the target's host).
	ServerName string `toml:"server_name"`
	// ClientCert and ClientKey present a client certificate to origins
	// that require mutual TLS (default none).
	ClientCert string `toml:"client_cert"`
	ClientKey  string `toml:"client_key"`
	// InsecureSkipVerify accepts any origin certificate. check warns loudly
	// (default false).
	InsecureSkipVerify bool `toml:"insecure_skip_verify"`
}

// ClientAuth is a group's client-certificate mode.
type ClientAuth uint8

// Client certificate modes.
const (
	ClientAuthNone ClientAuth = iota
	ClientAuthRequest
	ClientAuthRequire
)

// TLSSettings is the compiled edge TLS of a snapshot; never nil after
// Compile. Immutable.
type TLSSettings struct {
	Listeners         []Listener
	MinVersion        uint16
	Default           *certs.Entry // nil: none
	RefuseUnknownSNI  bool
	HandshakeTimeout  time.Duration
	MaxHandshakes     int
	TicketKeys        *certs.TicketKeys // nil: per-process keys
	HTTPSPort         int
	RejectMisdirected bool
	// ACME lists every distinct ACME account and the names it manages.
	ACME []*ACMESettings
	// Warnings are problems check reports without failing (expiring
	// certificates, insecure_skip_verify).
	Warnings Errors
	// Active is set when a request can need the edge step at all (a TLS
	// listener, a redirect, client identity): plain-only configs skip it.
	Active bool

	mtlsSHA256 map[[32]byte]*Consumer
	mtlsSAN    map[string]*Consumer
	mtlsCN     map[string]*Consumer
}

// Listener is one compiled listener.
type Listener struct {
	Addr string
	TLS  bool
}

// GroupTLS is a group's compiled TLS settings; never nil after Compile.
type GroupTLS struct {
	Certs          []*certs.Entry
	ACME           *ACMESettings
	RedirectHTTPS  bool
	HSTS           []byte // the header value; nil: none
	ClientAuth     ClientAuth
	ClientCAs      *x509.CertPool
	IdentityHeader string
}

// ACMESettings is one ACME account configuration and the names it serves.
type ACMESettings struct {
	Email, Directory, Challenge, Storage string
	CARoot                               []byte // PEM; nil: system roots
	Names                                []string
	// Key identifies the account settings across reloads.
	Key string
}

// UpstreamTLS is a target's compiled client TLS. Config carries a session
// cache: pools keep the first Config they were built with, so sessions
// resume across reloads that keep Key.
type UpstreamTLS struct {
	Config *tls.Config
	Key    string
}

// GroupForSNI is the group owning an SNI name (exact, then one-label
// wildcard), without the default group's fallback; nil when none.
func (s *Snapshot) GroupForSNI(name string) *Group {
	var buf [256]byte
	if len(name) >= len(buf) {
		return nil
	}
	h := normalizeHost(buf[:0], []byte(name))
	if len(h) == 0 {
		return nil
	}
	if g, ok := s.hosts[string(h)]; ok {
		return g
	}
	for i, c := range h {
		if c == '.' {
			if g, ok := s.wildcards[string(h[i:])]; ok {
				return g
			}
			break
		}
	}
	return nil
}

// GroupFor is the group a Host header routes to (default group included).
func (s *Snapshot) GroupFor(host []byte) *Group { return s.groupFor(host) }

// ConsumerForCert finds the consumer a verified client certificate
// identifies: by SHA-256 fingerprint, then a SAN, then the subject CN.
// It does not allocate.
func (s *Snapshot) ConsumerForCert(fp *[32]byte, sans []string, cn string) *Consumer {
	t := s.TLS
	if c, ok := t.mtlsSHA256[*fp]; ok {
		return c
	}
	for _, n := range sans {
		if c, ok := t.mtlsSAN[n]; ok {
			return c
		}
	}
	if cn != "" {
		if c, ok := t.mtlsCN[cn]; ok {
			return c
		}
	}
	return nil
}

// tls compiles [tls], [[server.listeners]], the groups' TLS tables, the
// consumers' client certificates and checks auth mode "mtls" is usable.
// Runs after consumers, backends and groups.
func (c *compiler) tls() {
	cfg := c.p.Config
	t := &TLSSettings{MinVersion: tls.VersionTLS12, HandshakeTimeout: DefaultHandshakeTimeout,
		MaxHandshakes: DefaultMaxHandshakes, RejectMisdirected: true,
		mtlsSHA256: map[[32]byte]*Consumer{}, mtlsSAN: map[string]*Consumer{}, mtlsCN: map[string]*Consumer{}}
	if early := c.snap.TLS; early != nil {
		t.Warnings = early.Warnings // from backends (insecure_skip_verify)
	}
	c.snap.TLS = t
	store := c.opt.Certs
	if store == nil {
		store = certs.NewStore()
	}
	// Listeners: the short form unless only tables were written.
	_, wroteShort := c.p.pos.at["server.listen"]
	if len(cfg.Server.Listeners) == 0 || wroteShort {
		for _, a := range cfg.Server.Listen {
			t.Listeners = append(t.Listeners, Listener{Addr: a})
		}
	}
	seen := map[string]bool{}
	for _, l := range t.Listeners {
		seen[l.Addr] = true
	}
	anyTLS, firstTLS := false, ""
	for i, l := range cfg.Server.Listeners {
		key := "server.listeners[" + strconv.Itoa(i) + "]"
		if !validHostPort(l.Address) {
			c.add(key+".address", "invalid address "+strconv.Quote(l.Address)+": want host:port, e.g. \"0.0.0.0:443\"")
			continue
		}
		if seen[l.Address] {
			c.add(key+".address", "address "+strconv.Quote(l.Address)+" is listed twice")
			continue
		}
		seen[l.Address] = true
		if l.TLS && !anyTLS {
			anyTLS, firstTLS = true, key+".tls"
		}
		t.Listeners = append(t.Listeners, Listener{Addr: l.Address, TLS: l.TLS})
	}
	tc := cfg.TLS
	if tc == nil {
		tc = &TLSConfig{}
	}
	switch tc.MinVersion {
	case "", "1.2":
	case "1.3":
		t.MinVersion = tls.VersionTLS13
	default:
		c.add("tls.min_version", "must be \"1.2\" or \"1.3\", not "+strconv.Quote(tc.MinVersion))
	}
	if d := tc.HandshakeTimeout.D(); d != 0 {
		if d < 100*time.Millisecond || d > 5*time.Minute {
			c.add("tls.handshake_timeout", "must be between 100ms and 5m")
		}
		t.HandshakeTimeout = d
	}
	if n := tc.MaxHandshakes; n != 0 {
		if n < 1 || n > 1<<20 {
			c.add("tls.max_handshakes", "must be between 1 and 1048576")
		}
		t.MaxHandshakes = n
	}
	if tc.RejectMisdirected != nil {
		t.RejectMisdirected = *tc.RejectMisdirected
	}
	if dc := tc.DefaultCertificate; dc != nil {
		t.Default = c.certificate("tls.default_certificate", store, dc, nil)
	}
	switch tc.UnknownSNI {
	case "":
		t.RefuseUnknownSNI = tc.DefaultCertificate == nil
	case "default":
		if tc.DefaultCertificate == nil {
			c.add("tls.unknown_sni", "\"default\" needs [tls].default_certificate")
		}
	case "refuse":
		t.RefuseUnknownSNI = true
	default:
		c.add("tls.unknown_sni", "must be \"default\" or \"refuse\", not "+strconv.Quote(tc.UnknownSNI))
	}
	if ref := tc.SessionTicketKeys; ref != "" {
		tk, err := store.Tickets(c.ref(ref))
		if err != nil {
			c.add("tls.session_ticket_keys", err.Error())
		}
		t.TicketKeys = tk
	}
	t.HTTPSPort = tc.HTTPSPort
	if t.HTTPSPort < 0 || t.HTTPSPort > 65535 {
		c.add("tls.https_port", "must be a port between 1 and 65535")
	}
	if t.HTTPSPort == 0 {
		for _, l := range t.Listeners {
			if l.TLS {
				_, p, _ := net.SplitHostPort(l.Addr)
				t.HTTPSPort, _ = strconv.Atoi(p)
				break
			}
		}
	}
	var globalACME *ACMESettings
	if tc.ACME != nil {
		globalACME = c.acme("tls.acme", tc.ACME)
	}
	acmeByKey := map[string]*ACMESettings{}
	haveCerts := t.Default != nil
	for gi := range cfg.Groups {
		if gi >= len(c.snap.Groups) {
			break
		}
		g := &cfg.Groups[gi]
		cg := c.snap.Groups[gi]
		key := "groups[" + strconv.Itoa(gi) + "]"
		gt := &GroupTLS{RedirectHTTPS: g.RedirectHTTPS, IdentityHeader: g.ClientIdentityHeader}
		cg.TLS = gt
		for ci := range g.Certificates {
			ck := key + ".certificates[" + strconv.Itoa(ci) + "]"
			if e := c.certificate(ck, store, &g.Certificates[ci], g.Hosts); e != nil {
				gt.Certs = append(gt.Certs, e)
			}
		}
		var a *ACMESettings
		switch {
		case g.ACME != nil:
			a = c.acme(key+".acme", g.ACME)
		case globalACME != nil && len(g.Certificates) == 0 && len(g.Hosts) > 0:
			a = globalACME
		}
		if a != nil {
			names := 0
			for _, h := range g.Hosts {
				if strings.HasPrefix(h, "*.") {
					c.warn(key+".hosts", "ACME cannot obtain "+strconv.Quote(h)+" over HTTP-01 or TLS-ALPN-01; give it certificates")
					continue
				}
				names++
			}
			if names == 0 {
				c.add(key+".acme", "ACME needs at least one exact (non-wildcard) host in the group")
			}
			if shared, ok := acmeByKey[a.Key]; ok {
				a = shared
			} else {
				acmeByKey[a.Key] = a
				t.ACME = append(t.ACME, a)
			}
			for _, h := range g.Hosts {
				if !strings.HasPrefix(h, "*.") {
					a.Names = append(a.Names, strings.ToLower(h))
				}
			}
			gt.ACME = a
		}
		haveCerts = haveCerts || len(gt.Certs) > 0 || gt.ACME != nil
		if h := g.HSTS; h != nil {
			if h.MaxAge.D() < time.Second {
				c.add(key+".hsts.max_age", "must be at least 1s (browsers count whole seconds)")
			}
			v := "max-age=" + strconv.FormatInt(int64(h.MaxAge.D()/time.Second), 10)
			if h.IncludeSubdomains {
				v += "; includeSubDomains"
			}
			if h.Preload {
				v += "; preload"
			}
			gt.HSTS = []byte(v)
		}
		switch g.ClientAuth {
		case "":
		case "request":
			gt.ClientAuth = ClientAuthRequest
		case "require":
			gt.ClientAuth = ClientAuthRequire
		default:
			c.add(key+".client_auth", "must be \"request\" or \"require\", not "+strconv.Quote(g.ClientAuth))
		}
		if g.ClientCA != "" {
			pool, msg := c.pemPool(g.ClientCA)
			if msg != "" {
				c.add(key+".client_ca", msg)
			}
			gt.ClientCAs = pool
		} else if gt.ClientAuth != ClientAuthNone {
			c.add(key+".client_auth", "client_auth needs client_ca, the CA bundle client certificates chain to")
		}
		if hn := g.ClientIdentityHeader; hn != "" && !headerNameRE.MatchString(hn) {
			c.add(key+".client_identity_header", "invalid header name "+strconv.Quote(hn))
		}
		if g.RedirectHTTPS && t.HTTPSPort == 0 {
			c.add(key+".redirect_https", "no TLS listener to redirect to: add one to [[server.listeners]] or set [tls].https_port")
		}
		if g.RedirectHTTPS || gt.IdentityHeader != "" || gt.ClientAuth != ClientAuthNone {
			t.Active = true
		}
	}
	if anyTLS {
		t.Active = true
		if !haveCerts {
			c.add(firstTLS, "a TLS listener needs certificates: give groups certificates or acme, or set [tls].default_certificate")
		}
	}
	for _, api := range c.snap.APIs {
		if api.Auth != nil && api.Auth.Has(ModeMTLS) && (api.Group.TLS == nil || api.Group.TLS.ClientAuth == ClientAuthNone) {
			c.addOnce("groups.client_auth."+api.Group.Name, "group "+strconv.Quote(api.Group.Name)+
				" uses auth mode \"mtls\" but sets no client_auth (\"request\" or \"require\") and client_ca")
		}
	}
	c.clientCertIdentities()
}

// ref makes a relative "file:" path of a TLS key relative to the config
// file's directory, as nginx resolves certificate paths against its
// configuration: configs/examples/tls.toml then runs from anywhere.
func (c *compiler) ref(r string) string {
	path, ok := strings.CutPrefix(r, "file:")
	if !ok || path == "" || filepath.IsAbs(path) {
		return r
	}
	return "file:" + filepath.Join(filepath.Dir(c.p.File), path)
}

// warn records a warning for check; the snapshot still compiles.
func (c *compiler) warn(key, msg string) {
	if c.snap.TLS == nil {
		c.snap.TLS = &TLSSettings{} // backends compile before tls(), which keeps these
	}
	c.snap.TLS.Warnings = append(c.snap.TLS.Warnings, c.p.errAt(key, "warning: "+msg))
}

// certificate loads one chain and key and checks it against the group's
// hosts. Errors are placed on the key that names the bad file.
func (c *compiler) certificate(key string, store *certs.Store, cc *CertificateConfig, hosts []string) *certs.Entry {
	if cc.Cert == "" {
		c.add(key+".cert", "cert is required")
		return nil
	}
	if cc.Key == "" {
		c.add(key+".key", "key is required")
		return nil
	}
	e, err := store.Get(certs.Source{Cert: c.ref(cc.Cert), Key: c.ref(cc.Key)})
	if err != nil {
		msg := err.Error()
		where := key + ".cert"
		if strings.HasPrefix(msg, "private key") || strings.Contains(msg, "private key file") {
			where = key + ".key"
		}
		c.add(where, msg)
		return nil
	}
	leaf := e.Leaf()
	covered := 0
	for _, h := range hosts {
		if certs.Covers(leaf, strings.ToLower(h)) {
			covered++
		}
	}
	if len(hosts) > 0 && covered == 0 {
		c.add(key+".cert", "certificate for "+describeNames(leaf)+" covers none of the group's hosts "+quoteList(hosts))
		return nil
	}
	if covered < len(hosts) {
		c.warn(key+".cert", "certificate for "+describeNames(leaf)+" covers only some of the group's hosts "+quoteList(hosts))
	}
	now := time.Now()
	switch {
	case now.After(leaf.NotAfter):
		c.warn(key+".cert", "certificate for "+describeNames(leaf)+" expired on "+leaf.NotAfter.UTC().Format(time.DateOnly))
	case leaf.NotAfter.Sub(now) < CertExpiryWarning:
		c.warn(key+".cert", "certificate for "+describeNames(leaf)+" expires on "+leaf.NotAfter.UTC().Format(time.DateOnly)+", within 30 days")
	}
	return e
}

func describeNames(leaf *x509.Certificate) string {
	names := leaf.DNSNames
	if len(names) == 0 && leaf.Subject.CommonName != "" {
		names = []string{leaf.Subject.CommonName}
	}
	if len(names) == 0 {
		return "(no names)"
	}
	return quoteList(names)
}

// pemPool reads a PEM CA bundle into a pool.
func (c *compiler) pemPool(ref string) (*x509.CertPool, string) {
	b, err := ResolveSecret(c.ref(ref))
	if err != nil {
		return nil, err.Error()
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, "CA bundle holds no PEM certificate"
	}
	return pool, ""
}

func (c *compiler) acme(key string, a *ACMEConfig) *ACMESettings {
	s := &ACMESettings{Email: a.Email, Directory: a.Directory, Challenge: a.Challenge, Storage: a.Storage}
	if s.Directory == "" {
		s.Directory = DefaultACMEDirectory
	}
	if u, err := url.Parse(s.Directory); err != nil || u.Scheme != "https" || u.Host == "" {
		c.add(key+".directory", "directory must be an https:// URL, not "+strconv.Quote(s.Directory))
	}
	switch s.Challenge {
	case "":
		s.Challenge = "tls-alpn-01"
	case "http-01", "tls-alpn-01":
	default:
		c.add(key+".challenge", "must be \"http-01\" or \"tls-alpn-01\", not "+strconv.Quote(s.Challenge))
	}
	if s.Storage == "" {
		s.Storage = DefaultACMEStorage
	}
	if a.CARoot != "" {
		b, err := ResolveSecret(c.ref(a.CARoot))
		if err != nil {
			c.add(key+".ca_root", err.Error())
		} else if !x509.NewCertPool().AppendCertsFromPEM(b) {
			c.add(key+".ca_root", "CA bundle holds no PEM certificate")
		}
		s.CARoot = b
	}
	sum := sha256.Sum256(s.CARoot)
	s.Key = s.Directory + "|" + s.Email + "|" + s.Challenge + "|" + s.Storage + "|" + hex.EncodeToString(sum[:8])
	return s
}

// clientCertIdentities compiles consumers' client_certificates.
func (c *compiler) clientCertIdentities() {
	t := c.snap.TLS
	for i := range c.p.Config.Consumers {
		cc := &c.p.Config.Consumers[i]
		cons := c.snap.consumers[cc.Name]
		if cons == nil {
			continue
		}
		for j, id := range cc.ClientCertificates {
			key := "consumers[" + strconv.Itoa(i) + "].client_certificates[" + strconv.Itoa(j) + "]"
			kind, v, ok := strings.Cut(id, ":")
			if !ok || v == "" {
				c.add(key, "want \"sha256:<hex fingerprint>\", \"san:<name>\" or \"cn:<common name>\", not "+strconv.Quote(id))
				continue
			}
			var other *Consumer
			switch kind {
			case "sha256":
				hexv := strings.ReplaceAll(v, ":", "")
				var fp [32]byte
				if n, err := hex.Decode(fp[:], []byte(hexv)); err != nil || n != 32 || len(hexv) != 64 {
					c.add(key, "a SHA-256 fingerprint is 64 hex digits (colons allowed)")
					continue
				}
				if other = t.mtlsSHA256[fp]; other == nil {
					t.mtlsSHA256[fp] = cons
				}
			case "san":
				if other = t.mtlsSAN[v]; other == nil {
					t.mtlsSAN[v] = cons
				}
			case "cn":
				if other = t.mtlsCN[v]; other == nil {
					t.mtlsCN[v] = cons
				}
			default:
				c.add(key, "want \"sha256:\", \"san:\" or \"cn:\", not "+strconv.Quote(kind+":"))
				continue
			}
			if other != nil {
				c.add(key, "client certificate identity "+strconv.Quote(id)+" already belongs to consumer "+strconv.Quote(other.Name))
			}
		}
	}
}

// upstreamTLS compiles the TLS of an https:// target: the target's own
// table, else its backend's.
func (c *compiler) upstreamTLS(key string, b *BackendConfig, t *TargetConfig, spec *TargetSpec) {
	u := t.TLS
	ukey := key + ".tls"
	if u == nil {
		u, ukey = b.TLS, key[:strings.LastIndex(key, ".targets[")]+".tls"
	}
	if !spec.HTTPS {
		if t.TLS != nil {
			c.add(key+".tls", "a tls table needs an https:// target URL")
		}
		return
	}
	if u == nil {
		u = &UpstreamTLSConfig{}
	}
	h := sha256.New()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(256),
		NextProtos: []string{"http/1.1"}}
	host, _, _ := net.SplitHostPort(spec.Addr)
	cfg.ServerName = host
	if u.ServerName != "" {
		cfg.ServerName = u.ServerName
	}
	h.Write([]byte(cfg.ServerName + "\x00"))
	if u.CA != "" {
		pool, msg := c.pemPool(u.CA)
		if msg != "" {
			c.add(ukey+".ca", msg)
		}
		cfg.RootCAs = pool
		b, _ := ResolveSecret(c.ref(u.CA))
		h.Write(b)
	}
	if u.ClientCert != "" || u.ClientKey != "" {
		cert, err := certs.Load(certs.Source{Cert: c.ref(u.ClientCert), Key: c.ref(u.ClientKey)})
		if err != nil {
			c.add(ukey+".client_cert", err.Error())
		} else {
			cfg.Certificates = []tls.Certificate{*cert}
			for _, d := range cert.Certificate {
				h.Write(d)
			}
		}
	}
	if u.InsecureSkipVerify {
		cfg.InsecureSkipVerify = true
		h.Write([]byte("insecure"))
		c.warn(ukey+".insecure_skip_verify", "INSECURE: the origin's certificate is not verified; anyone on the path to "+
			strconv.Quote(spec.Addr)+" can read and change this traffic")
	}
	spec.TLS = &UpstreamTLS{Config: cfg, Key: hex.EncodeToString(h.Sum(nil)[:12])}
}

// parseHTTPSTarget accepts an https:// target: default port 443.
func parseHTTPSTarget(u *url.URL, raw string) (TargetSpec, string) {
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return TargetSpec{}, "target URL " + strconv.Quote(raw) + " must be only scheme, host and port (put paths in backend_path)"
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	return TargetSpec{URL: raw, Addr: addr, Host: u.Host, HTTPS: true}, ""
}
