package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/caddyserver/certmagic"
	"github.com/sluicegw/sluice/policy"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"go.uber.org/zap"
)

// acmeALPNProto is the ALPN protocol of TLS-ALPN-01 validation (RFC 8737).
const acmeALPNProto = "acme-tls/1"

var (
	acmeObtained = metrics.NewCounter(`sluice_acme_certificates_total{outcome="obtained"}`)
	acmeFailed   = metrics.NewCounter(`sluice_acme_certificates_total{outcome="failed"}`)
)

// acmeManagers runs one certmagic configuration per distinct ACME account
// setting ([tls].acme, a group's acme). They outlive snapshots: a reload
// that keeps the settings keeps the manager, its cache and its renewal
// timers; names added by a reload are put under management. Certificates,
// accounts and locks live in the storage directory, so fleet nodes sharing
// it share certificates and never obtain the same one twice at once.
// Management starts only once the listeners are bound: certmagic would
// otherwise bind the challenge ports itself. Safe for concurrent use.
type acmeManagers struct {
	s       *Server
	mu      sync.Mutex
	byKey   map[string]*acmeManager
	pending []*policy.ACMESettings
	bound   bool
	plain   string // the first plain listener's address (HTTP-01)
	secure  string // the first TLS listener's address (TLS-ALPN-01)
	http    atomic.Pointer[[]*certmagic.ACMEIssuer]
	ctx     context.Context
	cancel  context.CancelFunc
}

type acmeManager struct {
	settings *policy.ACMESettings
	cfg      *certmagic.Config
	issuer   *certmagic.ACMEIssuer
	cache    *certmagic.Cache
	managed  map[string]bool
}

func newACMEManagers(s *Server) *acmeManagers {
	ctx, cancel := context.WithCancel(context.Background())
	return &acmeManagers{s: s, byKey: map[string]*acmeManager{}, ctx: ctx, cancel: cancel}
}

// publish records the snapshot's ACME settings and manages their names
// once the listeners are bound.
func (a *acmeManagers) publish(list []*policy.ACMESettings) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pending = list
	if a.bound {
		a.startLocked()
	}
}

// listenersBound tells the managers where the challenges are answered.
func (a *acmeManagers) listenersBound(plain, secure string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.plain == "" {
		a.plain = plain
	}
	if a.secure == "" {
		a.secure = secure
	}
	a.bound = true
	a.startLocked()
}

func (a *acmeManagers) startLocked() {
	var httpIssuers []*certmagic.ACMEIssuer
	for _, st := range a.pending {
		m := a.byKey[st.Key]
		if m == nil {
			var err error
			m, err = a.newManager(st)
			if err != nil {
				a.s.log.Error("ACME: cannot configure", "directory", st.Directory, "error", err)
				continue
			}
			a.byKey[st.Key] = m
		}
		var names []string
		for _, n := range st.Names {
			if !m.managed[n] {
				m.managed[n] = true
				names = append(names, n)
			}
		}
		if len(names) > 0 {
			if err := m.cfg.ManageAsync(a.ctx, names); err != nil {
				a.s.log.Error("ACME: cannot manage names", "names", names, "error", err)
			}
		}
		if st.Challenge == "http-01" {
			httpIssuers = append(httpIssuers, m.issuer)
		}
	}
	a.http.Store(&httpIssuers)
}

func (a *acmeManagers) newManager(st *policy.ACMESettings) (*acmeManager, error) {
	m := &acmeManager{settings: st, managed: map[string]bool{}}
	logger := zap.NewNop()
	a.s.log.Info("ACME: managing certificates", "directory", st.Directory, "challenge", st.Challenge, "storage", st.Storage)
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return m.cfg, nil },
		Logger:           logger,
	})
	m.cfg = certmagic.New(m.cache, certmagic.Config{
		Storage: &certmagic.FileStorage{Path: st.Storage},
		Logger:  logger,
		OnEvent: func(ctx context.Context, event string, data map[string]any) error {
			switch event {
			case "cert_obtained":
				acmeObtained.Inc()
				if id, ok := data["identifier"].(string); ok {
					a.s.log.Info("ACME: certificate obtained", "name", id, "renewal", data["renewal"])
				}
			case "cert_failed":
				acmeFailed.Inc()
				a.s.log.Warn("ACME: obtaining a certificate failed", "data", data["error"])
			}
			return nil
		},
	})
	tmpl := certmagic.ACMEIssuer{
		CA:                      st.Directory,
		Email:                   st.Email,
		Agreed:                  true,
		DisableHTTPChallenge:    st.Challenge != "http-01",
		DisableTLSALPNChallenge: st.Challenge != "tls-alpn-01",
		Logger:                  logger,
	}
	if len(st.CARoot) > 0 {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(st.CARoot)
		tmpl.TrustedRoots = pool
	}
	// The challenge ports are ours: certmagic finds them in use and leaves
	// answering to the gateway (HTTP-01 in edgeStep, TLS-ALPN-01 in
	// getCertificate).
	if h, p, err := net.SplitHostPort(a.plain); err == nil {
		tmpl.ListenHost = h
		tmpl.AltHTTPPort, _ = strconv.Atoi(p)
	}
	if h, p, err := net.SplitHostPort(a.secure); err == nil {
		if tmpl.ListenHost == "" {
			tmpl.ListenHost = h
		}
		tmpl.AltTLSALPNPort, _ = strconv.Atoi(p)
	}
	if st.Challenge == "http-01" && tmpl.AltHTTPPort == 0 {
		return nil, errors.New("challenge http-01 needs a plain listener")
	}
	if st.Challenge == "tls-alpn-01" && tmpl.AltTLSALPNPort == 0 {
		return nil, errors.New("challenge tls-alpn-01 needs a TLS listener")
	}
	m.issuer = certmagic.NewACMEIssuer(m.cfg, tmpl)
	m.cfg.Issuers = []certmagic.Issuer{m.issuer}
	return m, nil
}

// activeHTTP reports whether any manager answers HTTP-01.
func (a *acmeManagers) activeHTTP() bool {
	if a == nil {
		return false
	}
	p := a.http.Load()
	return p != nil && len(*p) > 0
}

// serveHTTP answers an HTTP-01 validation request; false when it was none
// (the request then routes as usual). Validation requests are rare; the
// net/http adaptor's allocations are acceptable here.
func (a *acmeManagers) serveHTTP(ctx *fasthttp.RequestCtx) bool {
	issuers := *a.http.Load()
	handled := false
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, iss := range issuers {
			if iss.HandleHTTPChallenge(w, r) {
				handled = true
				return
			}
		}
	})
	fasthttpadaptor.NewFastHTTPHandler(h)(ctx)
	if !handled {
		ctx.Response.Reset()
	}
	return handled
}

// isACMEChallenge reports a TLS-ALPN-01 validation handshake.
func isACMEChallenge(hello *tls.ClientHelloInfo) bool {
	return len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acmeALPNProto
}

// challengeCertificate answers a TLS-ALPN-01 validation.
func (a *acmeManagers) challengeCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	a.mu.Lock()
	ms := make([]*acmeManager, 0, len(a.byKey))
	for _, m := range a.byKey {
		ms = append(ms, m)
	}
	a.mu.Unlock()
	for _, m := range ms {
		if m.settings.Challenge == "tls-alpn-01" {
			return m.cfg.GetCertificate(hello)
		}
	}
	return nil, errors.New("acme: no TLS-ALPN-01 challenge in progress")
}

// certificate is the managed certificate for hello's name.
func (a *acmeManagers) certificate(st *policy.ACMESettings, hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	a.mu.Lock()
	m := a.byKey[st.Key]
	a.mu.Unlock()
	if m == nil {
		return nil, errors.New("acme: certificates are not managed yet")
	}
	return m.cfg.GetCertificate(hello)
}

// expiry is the NotAfter of the managed certificate for name, if any.
func (a *acmeManagers) expiry(st *policy.ACMESettings, name string) (time.Time, bool) {
	a.mu.Lock()
	m := a.byKey[st.Key]
	a.mu.Unlock()
	if m == nil {
		return time.Time{}, false
	}
	for _, c := range m.cache.AllMatchingCertificates(name) {
		if c.Leaf != nil {
			return c.Leaf.NotAfter, true
		}
	}
	return time.Time{}, false
}

// renew renews name now (force: even when not due).
func (a *acmeManagers) renew(ctx context.Context, name string, force bool) error {
	a.mu.Lock()
	var m *acmeManager
	for _, x := range a.byKey {
		if x.managed[name] {
			m = x
		}
	}
	a.mu.Unlock()
	if m == nil {
		return errors.New("acme: " + name + " is not managed")
	}
	old := m.cache.AllMatchingCertificates(name)
	if err := m.cfg.RenewCertSync(ctx, name, force); err != nil {
		return err
	}
	// certmagic's own maintenance swaps a renewed certificate into its
	// cache; a renewal asked for from outside must do so itself.
	nc, err := m.cfg.CacheManagedCertificate(ctx, name)
	if err != nil {
		return err
	}
	var stale []string
	for _, c := range old {
		if c.Hash() != nc.Hash() {
			stale = append(stale, c.Hash())
		}
	}
	m.cache.Remove(stale)
	return nil
}

func (a *acmeManagers) stop() {
	a.cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range a.byKey {
		m.cache.Stop()
	}
}

// RenewCertificate renews an ACME-managed name at once (force renews even
// when not due): operators' and tests' handle on renewal.
func (s *Server) RenewCertificate(ctx context.Context, name string, force bool) error {
	s.edge.init(s)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return s.edge.acme.renew(ctx, name, force)
}
