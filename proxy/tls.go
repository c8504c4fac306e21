package proxy

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluicegw/sluice/policy"
	"github.com/sluicegw/sluice/store/certs"
	"github.com/valyala/fasthttp"
)

// TLS at the edge (issue 11). Sluice owns the TLS listener instead of
// handing fasthttp a tls.NewListener: the handshake runs in its own
// goroutine, bounded in time and in number, before fasthttp ever sees the
// connection, so a failed or slow handshake never reaches the pipeline and
// cannot hold one of fasthttp's workers. Certificates are looked up per
// handshake from the current snapshot and store/certs, so they change
// without a restart.

// Error codes of the TLS edge.
const (
	CodeMisdirected         = "MisdirectedRequest"
	CodeClientCertRequired  = "ClientCertificateRequired"
	CodeInvalidClientCert   = "InvalidClientCertificate"
	CodeUnknownClientCert   = "UnknownClientCertificate"
	headerHSTS              = "Strict-Transport-Security"
	acmeChallengePathPrefix = "/.well-known/acme-challenge/"
	authMTLS                = "mtls"
	plainHTTPOnTLSPortBody  = "This port speaks HTTPS: a plain HTTP request was sent to it. Use https://.\n"
)

// plainHTTPOnTLSPortAnswer is written, whole, to a plain HTTP request on a
// TLS port, as nginx does, before the connection is closed.
var plainHTTPOnTLSPortAnswer = []byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Connection: close\r\nContent-Length: " + strconv.Itoa(len(plainHTTPOnTLSPortBody)) + "\r\n\r\n" + plainHTTPOnTLSPortBody)

// Handshake failures by reason, and client certificates by outcome.
var (
	tlsHandshakes         = metrics.NewCounter(`sluice_tls_handshakes_total`)
	tlsResumed            = metrics.NewCounter(`sluice_tls_handshakes_resumed_total`)
	tlsFailUnknownSNI     = metrics.NewCounter(`sluice_tls_handshake_errors_total{reason="unknown_sni"}`)
	tlsFailVersion        = metrics.NewCounter(`sluice_tls_handshake_errors_total{reason="protocol_version"}`)
	tlsFailClientCert     = metrics.NewCounter(`sluice_tls_handshake_errors_total{reason="bad_client_certificate"}`)
	tlsFailPlainHTTP      = metrics.NewCounter(`sluice_tls_handshake_errors_total{reason="plain_http"}`)
	tlsFailTimeout        = metrics.NewCounter(`sluice_tls_handshake_errors_total{reason="timeout"}`)
	tlsFailOther          = metrics.NewCounter(`sluice_tls_handshake_errors_total{reason="other"}`)
	tlsClientCertMissing  = metrics.NewCounter(`sluice_tls_client_certificates_total{outcome="missing"}`)
	tlsClientCertRejected = metrics.NewCounter(`sluice_tls_client_certificates_total{outcome="rejected"}`)
	tlsClientCertVerified = metrics.NewCounter(`sluice_tls_client_certificates_total{outcome="verified"}`)
	tlsCertReloads        = metrics.NewCounter(`sluice_tls_certificate_reloads_total`)
	tlsCertReloadErrors   = metrics.NewCounter(`sluice_tls_certificate_reload_errors_total`)
	tlsMisdirected        = metrics.NewCounter(`sluice_requests_rejected_total{reason="misdirected"}`)
	upstreamErrTLS        = metrics.NewCounter(`sluice_upstream_errors_total{kind="tls"}`)
)

// errUnknownSNI fails a handshake for a name no group owns when there is
// no default certificate to present.
var errUnknownSNI = errors.New("tls: no certificate for this server name")

// edgeState is the Server's TLS state that outlives snapshots: the
// certificate store, the listeners (to install new ticket keys), the
// handshake bound and the watcher. The zero value is ready; safe for
// concurrent use.
type edgeState struct {
	once    sync.Once
	store   *certs.Store
	mu      sync.Mutex
	lns     []*edgeListener
	sem     chan struct{}
	stopc   chan struct{}
	tickets atomic.Pointer[certs.TicketKeys]
	acme    *acmeManagers
}

func (e *edgeState) init(s *Server) {
	e.once.Do(func() {
		e.store = certs.NewStore()
		e.store.OnError = func(src string, err error) {
			tlsCertReloadErrors.Inc()
			s.log.Warn("certificate file changed but does not load; the previous one stays in service", "file", src, "error", err)
		}
		e.stopc = make(chan struct{})
		e.acme = newACMEManagers(s)
	})
}

// certStore is the store compile loads certificates into.
func (s *Server) certStore() *certs.Store {
	s.edge.init(s)
	return s.edge.store
}

// edgePublish puts a snapshot's TLS into service: ticket keys, ACME
// management of its names. Called with the snapshot already current.
func (s *Server) edgePublish(snap *policy.Snapshot) {
	s.edge.init(s)
	t := snap.TLS
	if t == nil {
		return
	}
	s.edge.tickets.Store(t.TicketKeys)
	s.installTicketKeys()
	s.edge.acme.publish(t.ACME)
	// Certificates the new snapshot serves: watched for renewal on disk
	// and exported as their expiry per name.
	var entries []*certs.Entry
	if t.Default != nil {
		entries = append(entries, t.Default)
	}
	for _, g := range snap.Groups {
		if g.TLS != nil {
			entries = append(entries, g.TLS.Certs...)
		}
	}
	s.edge.store.Retain(entries, t.TicketKeys)
	expiry := map[string]func() (time.Time, bool){}
	for _, e := range entries {
		for _, name := range e.Leaf().DNSNames {
			expiry[name] = func() (time.Time, bool) { return e.Leaf().NotAfter, true }
		}
	}
	for _, a := range t.ACME {
		for _, name := range a.Names {
			expiry[name] = func() (time.Time, bool) { return s.edge.acme.expiry(a, name) }
		}
	}
	certExpiry.Store(&expiry)
	for name := range expiry {
		expiryGauge(name)
	}
}

// certExpiry is what the expiry gauges read: the certificates of the
// snapshot published last. Metrics are process-wide, like the snapshot a
// process serves (tests run several Servers; the latest one is reported).
var (
	certExpiry   atomic.Pointer[map[string]func() (time.Time, bool)]
	expiryMu     sync.Mutex
	expiryGauges = map[string]bool{}
)

// expiryGauge exports sluice_tls_certificate_expiry_timestamp_seconds{name}: the
// NotAfter of the certificate served for name now (0 when none yet, as
// before ACME obtained one). Names come from the config, never from
// requests.
func expiryGauge(name string) {
	expiryMu.Lock()
	defer expiryMu.Unlock()
	if expiryGauges[name] {
		return
	}
	expiryGauges[name] = true
	metrics.GetOrCreateGauge(`sluice_tls_certificate_expiry_timestamp_seconds{name="`+name+`"}`, func() float64 {
		m := certExpiry.Load()
		if m == nil {
			return 0
		}
		f, ok := (*m)[name]
		if !ok {
			return 0
		}
		if t, ok := f(); ok {
			return float64(t.Unix())
		}
		return 0
	})
}

// installTicketKeys gives every TLS listener the current ticket keys.
func (s *Server) installTicketKeys() {
	tk := s.edge.tickets.Load()
	if tk == nil {
		return
	}
	keys := tk.Keys()
	s.edge.mu.Lock()
	defer s.edge.mu.Unlock()
	for _, l := range s.edge.lns {
		l.cfg.SetSessionTicketKeys(keys)
	}
}

// watchCerts polls certificate and ticket-key files every interval, so a
// renewal on disk is served within two intervals.
func (s *Server) watchCerts(every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	var reloads uint64
	for {
		select {
		case <-s.edge.stopc:
			return
		case <-tick.C:
		}
		if s.edge.store.Poll() {
			s.installTicketKeys()
		}
		if n := s.edge.store.Reloads.Load(); n != reloads {
			tlsCertReloads.Add(int(n - reloads))
			reloads = n
		}
	}
}

// edgeStop stops the watcher and ACME maintenance (Shutdown).
func (s *Server) edgeStop() {
	s.edge.mu.Lock()
	defer s.edge.mu.Unlock()
	if s.edge.stopc != nil {
		select {
		case <-s.edge.stopc:
		default:
			close(s.edge.stopc)
		}
	}
	if s.edge.acme != nil {
		s.edge.acme.stop()
	}
}

// certWatchInterval is how often certificate files are checked: a renewal
// on disk is served within two intervals.
var certWatchInterval = 500 * time.Millisecond

// ListenTLS wraps a bound listener so it serves TLS with the current
// snapshot's [tls] settings and certificates. Serve it like any listener.
func (s *Server) ListenTLS(ln net.Listener) net.Listener {
	s.edge.init(s)
	snap := s.current.Load()
	if snap == nil {
		panic("BUG: TLS listener before a snapshot was published")
	}
	t := snap.TLS
	l := &edgeListener{ln: ln, srv: s, conns: make(chan net.Conn), done: make(chan struct{})}
	l.cfg = &tls.Config{
		MinVersion:         t.MinVersion,
		NextProtos:         []string{"http/1.1", acmeALPNProto},
		GetCertificate:     l.getCertificate,
		GetConfigForClient: l.configForClient,
	}
	l.clientCfg = l.cfg.Clone()
	l.clientCfg.ClientAuth = tls.RequestClientCert
	l.clientCfg.GetConfigForClient = nil
	s.edge.mu.Lock()
	if s.edge.sem == nil {
		s.edge.sem = make(chan struct{}, t.MaxHandshakes)
		go s.watchCerts(certWatchInterval)
	}
	l.sem = s.edge.sem
	s.edge.lns = append(s.edge.lns, l)
	s.edge.mu.Unlock()
	s.installTicketKeys()
	go l.acceptLoop()
	return l
}

// edgeListener accepts TCP connections, handshakes each in its own
// goroutine (at most sem at once, each within the handshake timeout) and
// hands only finished TLS connections to Accept.
type edgeListener struct {
	ln        net.Listener
	srv       *Server
	cfg       *tls.Config // base; holds the ticket keys
	clientCfg *tls.Config // the same, asking for a client certificate
	sem       chan struct{}
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	err       atomic.Pointer[error]
}

func (l *edgeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		if p := l.err.Load(); p != nil {
			return nil, *p
		}
		return nil, net.ErrClosed
	}
}

func (l *edgeListener) Close() error {
	err := l.ln.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

func (l *edgeListener) Addr() net.Addr { return l.ln.Addr() }

func (l *edgeListener) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors and the like: wait, bounded.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			l.err.Store(&err)
			l.closeOnce.Do(func() { close(l.done) })
			return
		}
		backoff = 0
		c = wrapRawConn(c) // TLS reads and writes raw too: proxy/rawconn.go
		select {
		case l.sem <- struct{}{}:
		case <-l.done:
			_ = c.Close()
			return
		}
		go l.handshake(c)
	}
}

// handshake runs one server handshake, bounded by the handshake timeout,
// and passes the connection on only when it succeeded.
func (l *edgeListener) handshake(c net.Conn) {
	defer func() { <-l.sem }()
	snap := l.srv.current.Load()
	_ = c.SetDeadline(time.Now().Add(snap.TLS.HandshakeTimeout))
	pc := &peekConn{Conn: c}
	if n, err := c.Read(pc.first[:1]); n != 1 || err != nil {
		if isTimeout(err) {
			tlsFailTimeout.Inc()
		}
		_ = c.Close()
		return
	}
	pc.n = 1
	if pc.first[0] != 0x16 { // not a TLS handshake record
		if b := pc.first[0]; b >= 'A' && b <= 'Z' {
			// A plain HTTP request on the TLS port: say so, as nginx does,
			// instead of letting the client wait for an answer.
			tlsFailPlainHTTP.Inc()
			_, _ = c.Write(plainHTTPOnTLSPortAnswer)
		} else {
			tlsFailOther.Inc()
		}
		_ = c.Close()
		return
	}
	tc := tls.Server(pc, l.cfg)
	if err := tc.Handshake(); err != nil {
		switch {
		case pc.reason != nil:
			pc.reason.Inc()
		case isTimeout(err):
			tlsFailTimeout.Inc()
		case strings.Contains(err.Error(), "version"):
			tlsFailVersion.Inc()
		case strings.Contains(err.Error(), "client certificate"):
			tlsFailClientCert.Inc()
		default:
			tlsFailOther.Inc()
		}
		_ = c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	tlsHandshakes.Inc()
	if st.DidResume {
		tlsResumed.Inc()
	}
	ec := &edgeConn{Conn: tc, sni: strings.ToLower(st.ServerName)}
	if len(st.PeerCertificates) > 0 {
		ec.chain = st.PeerCertificates
		ec.fp = sha256.Sum256(ec.chain[0].Raw)
		leaf := ec.chain[0]
		ec.cn = leaf.Subject.CommonName
		ec.sans = append(ec.sans, leaf.DNSNames...)
		ec.sans = append(ec.sans, leaf.EmailAddresses...)
		for _, u := range leaf.URIs {
			ec.sans = append(ec.sans, u.String())
		}
	}
	select {
	case l.conns <- ec:
	case <-l.done:
		_ = tc.Close()
	}
}

// peekConn replays the first byte read to tell TLS from plain HTTP, and
// carries the failure reason the certificate callback found.
type peekConn struct {
	net.Conn
	first  [1]byte
	n      int
	reason *metrics.Counter
}

func (c *peekConn) Read(p []byte) (int, error) {
	if c.n > 0 && len(p) > 0 {
		p[0] = c.first[0]
		c.n = 0
		return 1, nil
	}
	return c.Conn.Read(p)
}

// configForClient asks for a client certificate only when the SNI names a
// group that uses them; others never see a certificate request.
func (l *edgeListener) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	snap := l.srv.current.Load()
	if g := snap.GroupForSNI(hello.ServerName); g != nil && g.TLS != nil && g.TLS.ClientAuth != policy.ClientAuthNone {
		return l.clientCfg, nil
	}
	return nil, nil
}

// getCertificate picks the certificate by SNI: the group owning the name
// (exact, then wildcard host), one of its certificates that covers the name
// and that the client supports, or its ACME certificate; else the default
// certificate, or a refused handshake.
func (l *edgeListener) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	snap := l.srv.current.Load()
	t := snap.TLS
	if isACMEChallenge(hello) {
		return l.srv.edge.acme.challengeCertificate(hello)
	}
	if g := snap.GroupForSNI(hello.ServerName); g != nil && g.TLS != nil {
		if c := pickCertificate(hello, g.TLS.Certs); c != nil {
			return c, nil
		}
		if g.TLS.ACME != nil {
			c, err := l.srv.edge.acme.certificate(g.TLS.ACME, hello)
			if err != nil {
				// Not obtained yet (or failing): not the client's fault.
				if pc, ok := hello.Conn.(*peekConn); ok {
					pc.reason = tlsFailOther
				}
			}
			return c, err
		}
	}
	if t.Default != nil && !t.RefuseUnknownSNI {
		return t.Default.Certificate(), nil
	}
	if pc, ok := hello.Conn.(*peekConn); ok {
		pc.reason = tlsFailUnknownSNI
	}
	return nil, errUnknownSNI
}

func pickCertificate(hello *tls.ClientHelloInfo, entries []*certs.Entry) *tls.Certificate {
	var fallback *tls.Certificate
	name := strings.ToLower(hello.ServerName)
	for _, e := range entries {
		c := e.Certificate()
		if c.Leaf != nil && c.Leaf.VerifyHostname(name) != nil {
			continue
		}
		if hello.SupportsCertificate(c) == nil {
			return c
		}
		if fallback == nil {
			fallback = c
		}
	}
	return fallback
}

// edgeConn is a client connection whose TLS handshake is done, with what
// the gateway learned from it. fasthttp serves one request at a time per
// connection, so the verification cache needs no lock.
type edgeConn struct {
	net.Conn // *tls.Conn
	sni      string
	chain    []*x509.Certificate
	fp       [32]byte
	cn       string
	sans     []string
	// verification against one group's CA pool, cached per connection.
	verifiedWith *x509.CertPool
	verified     bool
	identity     []byte // client_identity_header value
}

// clientCert says what a request's connection proves for a group.
type clientCert uint8

const (
	certNone clientCert = iota
	certVerified
	certInvalid
)

// verify checks the peer chain against pool once per connection and pool
// (a reload with a new bundle verifies again).
func (c *edgeConn) verify(pool *x509.CertPool) clientCert {
	if len(c.chain) == 0 {
		return certNone
	}
	if c.verifiedWith != pool || pool == nil {
		c.verifiedWith = pool
		c.verified = false
		if pool != nil {
			inter := x509.NewCertPool()
			for _, ic := range c.chain[1:] {
				inter.AddCert(ic)
			}
			_, err := c.chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			c.verified = err == nil
		}
		if c.verified {
			tlsClientCertVerified.Inc()
			id := append([]byte(nil), "cn="...)
			id = append(id, sanitizeIdentity(c.cn)...)
			id = append(id, ";sha256="...)
			id = hex.AppendEncode(id, c.fp[:])
			c.identity = id
		} else {
			tlsClientCertRejected.Inc()
		}
	}
	if c.verified {
		return certVerified
	}
	return certInvalid
}

func sanitizeIdentity(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == ';' {
			return '_'
		}
		return r
	}, s)
}

// edgeConnOf is the request's TLS connection, nil for plain HTTP.
func edgeConnOf(ctx *fasthttp.RequestCtx) *edgeConn {
	c := ctx.Conn()
	if cc, ok := c.(*countedConn); ok {
		c = cc.Conn
	}
	ec, _ := c.(*edgeConn)
	return ec
}

// forwardedProto is X-Forwarded-Proto for the request's connection.
func forwardedProto(ctx *fasthttp.RequestCtx) string {
	if edgeConnOf(ctx) != nil {
		return "https"
	}
	return "http"
}

// edgeStep runs in step 0, after the client's hop-by-hop headers are gone
// and before routing: ACME HTTP-01 answers, HTTP -> HTTPS redirects, the
// SNI/Host check (421), the group's client certificate requirement (401)
// and the verified identity header. Plain-only configs skip it at once.
func (s *Server) edgeStep(ctx *fasthttp.RequestCtx, st *reqState) outcome {
	t := st.snap.TLS
	if t == nil || !t.Active && !s.edge.acme.activeHTTP() {
		return proceed
	}
	ec := edgeConnOf(ctx)
	g := st.snap.GroupFor(ctx.Host())
	if ec == nil {
		if s.edge.acme.activeHTTP() && hasPrefix(ctx.Path(), acmeChallengePathPrefix) && s.edge.acme.serveHTTP(ctx) {
			return answered
		}
		if g == nil || g.TLS == nil {
			return proceed
		}
		if g.TLS.IdentityHeader != "" {
			ctx.Request.Header.Del(g.TLS.IdentityHeader)
		}
		if g.TLS.RedirectHTTPS {
			s.redirectHTTPS(ctx, st, t.HTTPSPort)
			return answered
		}
		return proceed
	}
	if t.RejectMisdirected && ec.sni != "" {
		if sg := st.snap.GroupForSNI(ec.sni); sg != nil && sg != g {
			tlsMisdirected.Inc()
			s.reject(ctx, st, fasthttp.StatusMisdirectedRequest, CodeMisdirected,
				"this connection's TLS server name belongs to another host; open a new connection for this Host")
			return answered
		}
	}
	if g == nil || g.TLS == nil {
		return proceed
	}
	gt := g.TLS
	if gt.IdentityHeader != "" {
		ctx.Request.Header.Del(gt.IdentityHeader)
	}
	if gt.ClientAuth == policy.ClientAuthNone {
		return proceed
	}
	switch ec.verify(gt.ClientCAs) {
	case certNone:
		if gt.ClientAuth == policy.ClientAuthRequire {
			tlsClientCertMissing.Inc()
			s.reject(ctx, st, fasthttp.StatusUnauthorized, CodeClientCertRequired, "a client certificate is required")
			ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `ClientCertificate realm="sluice"`)
			return answered
		}
	case certInvalid:
		s.reject(ctx, st, fasthttp.StatusUnauthorized, CodeInvalidClientCert,
			"the client certificate is not issued by a trusted CA, expired, or not for client authentication")
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `ClientCertificate realm="sluice"`)
		return answered
	case certVerified:
		if gt.IdentityHeader != "" {
			ctx.Request.Header.SetBytesV(gt.IdentityHeader, ec.identity)
		}
	}
	return proceed
}

// redirectHTTPS answers 308 to the same host, path and query over HTTPS.
func (s *Server) redirectHTTPS(ctx *fasthttp.RequestCtx, st *reqState, port int) {
	b := append(st.tbuf[:0], "https://"...)
	host := ctx.Host()
	// Drop the plain port; add the HTTPS one unless it is 443.
	if i := lastByte(host, ':'); i >= 0 && lastByte(host, ']') < i {
		host = host[:i]
	}
	b = append(b, host...)
	if port != 443 && port != 0 {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(port), 10)
	}
	b = append(b, ctx.Request.Header.RequestURI()...)
	st.tbuf = b
	resp := &ctx.Response
	resp.Reset()
	resp.SetStatusCode(fasthttp.StatusPermanentRedirect)
	resp.Header.SetBytesV(fasthttp.HeaderLocation, b)
}

// edgeRespond adds Strict-Transport-Security to a group's HTTPS answers
// (only over TLS: RFC 6797 forbids it on plain HTTP).
func (s *Server) edgeRespond(ctx *fasthttp.RequestCtx, st *reqState) {
	t := st.snap.TLS
	if t == nil || !t.Active {
		return
	}
	if edgeConnOf(ctx) == nil {
		return
	}
	var g *policy.Group
	if st.api != nil {
		g = st.api.Group
	} else {
		g = st.snap.GroupFor(ctx.Host())
	}
	if g != nil && g.TLS != nil && g.TLS.HSTS != nil {
		ctx.Response.Header.SetBytesV(headerHSTS, g.TLS.HSTS)
	}
}

// authMTLS is auth mode "mtls": the consumer named by the connection's
// verified client certificate. A connection without one passes to the next
// mode; a certificate that names no consumer fails with 401.
func (s *Server) authMTLS(ctx *fasthttp.RequestCtx, st *reqState) (outcome, bool) {
	ec := edgeConnOf(ctx)
	if ec == nil || len(ec.chain) == 0 {
		return proceed, false
	}
	g := st.api.Group
	if g.TLS == nil || ec.verify(g.TLS.ClientCAs) != certVerified {
		return s.authFail(ctx, st, fasthttp.StatusUnauthorized, CodeInvalidClientCert,
			"the client certificate is not issued by a trusted CA", ""), true
	}
	c := st.snap.ConsumerForCert(&ec.fp, ec.sans, ec.cn)
	if c == nil {
		return s.authFail(ctx, st, fasthttp.StatusUnauthorized, CodeUnknownClientCert,
			"the client certificate identifies no consumer", ""), true
	}
	st.consumer, st.consumerName, st.authOutcome = c, st.setName(c.Name), authMTLS
	return s.authorize(ctx, st), true
}

func hasPrefix(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }

func lastByte(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// tlsRestartOnly names the TLS settings read only when listeners start.
func tlsRestartOnly(old, cur *policy.Snapshot) []string {
	o, n := old.TLS, cur.TLS
	if o == nil || n == nil {
		return nil
	}
	var keys []string
	if !slices.Equal(o.Listeners, n.Listeners) {
		keys = append(keys, "server.listeners")
	}
	if o.MinVersion != n.MinVersion || o.MaxHandshakes != n.MaxHandshakes {
		keys = append(keys, "tls.min_version/max_handshakes")
	}
	return keys
}
