package proxy

import (
	"crypto/tls"
	"errors"
	"net"
	"time"

	"github.com/sluicegw/sluice/policy"
	"github.com/valyala/fasthttp"
)

// HTTPS upstreams (issue 11): TLS is added at the pool's dial, so the pool
// (proxy/pool.go) keeps one code path for both schemes. A pool keeps the
// tls.Config of its first bind, and with it the client session cache: a
// new connection to the same origin resumes its TLS session.

// errUpstreamTLS is a failed TLS handshake with an origin; it travels
// inside the pool's dial error, so the retry layer moves on to the next
// target, and the client gets a 502 that says why.
type errUpstreamTLS struct{ err error }

func (e *errUpstreamTLS) Error() string { return "upstream TLS: " + e.err.Error() }
func (e *errUpstreamTLS) Unwrap() error { return e.err }

// tlsDial wraps base (nil: TCP with the connect timeout) with a client
// handshake bounded by the same connect timeout.
func tlsDial(base DialFunc, cfg *tls.Config, connectTimeout time.Duration) DialFunc {
	return func(addr string) (net.Conn, error) {
		var nc net.Conn
		var err error
		if base != nil {
			nc, err = base(addr)
		} else {
			nc, err = dialRaw(addr, connectTimeout) // proxy/rawconn.go
		}
		if err != nil {
			return nil, err
		}
		tc := tls.Client(nc, cfg)
		_ = tc.SetDeadline(time.Now().Add(connectTimeout))
		if err := tc.Handshake(); err != nil {
			_ = nc.Close()
			return nil, &errUpstreamTLS{err}
		}
		_ = tc.SetDeadline(time.Time{})
		return tc, nil
	}
}

// poolDial is the dial function of a target's pool and the part of its key
// TLS settings add.
func poolDial(base DialFunc, t policy.TargetSpec, b *policy.Backend) (DialFunc, string) {
	if t.TLS == nil {
		return base, ""
	}
	return tlsDial(base, t.TLS.Config, b.ConnectTimeout), "|tls:" + t.TLS.Key
}

// upstreamTLSError maps an origin's failed handshake to the client's answer.
func upstreamTLSError(err error) (int, string, string, bool) {
	var te *errUpstreamTLS
	if !errors.As(err, &te) {
		return 0, "", "", false
	}
	upstreamErrTLS.Inc()
	var ve *tls.CertificateVerificationError
	if errors.As(te.err, &ve) {
		return fasthttp.StatusBadGateway, CodeBadGateway, "the upstream's TLS certificate was not accepted: " + ve.Err.Error(), true
	}
	return fasthttp.StatusBadGateway, CodeBadGateway, "the TLS handshake with the upstream failed", true
}
