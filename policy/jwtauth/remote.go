package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Fetch outcome counters for JWKS and discovery fetches, all remote key sets.
var (
	jwksFetchOK    = metrics.NewCounter(`sluice_jwt_jwks_fetches_total{result="ok"}`)
	jwksFetchError = metrics.NewCounter(`sluice_jwt_jwks_fetches_total{result="error"}`)
	jwksEarly      = metrics.NewCounter(`sluice_jwt_jwks_early_refetches_total`)
)

// fetchOpts are the latest settings of the configs using a key set; the
// newest Compile wins, so a reload that changes the TTL takes effect.
type fetchOpts struct {
	refresh    time.Duration
	minRefetch time.Duration
	timeout    time.Duration
	maxBody    int64
	allowHTTP  bool
}

// RemoteKeys is a key set fetched from a JWKS URL, directly or through
// OpenID Connect discovery, refreshed by a background goroutine. It is
// reload-surviving state: the Registry gives every Verifier compiled with the
// same source the same *RemoteKeys, so a new snapshot starts with the keys
// the old one fetched. After a failed fetch the last good keys stay in use.
// Safe for concurrent use.
type RemoteKeys struct {
	reg    *Registry
	id     string
	src    string // JWKS URL or OIDC issuer
	oidc   bool
	rsaAlg algID

	opts  atomic.Pointer[fetchOpts]
	table atomic.Pointer[keyTable]

	refs    int  // guarded by reg.mu
	running bool // the refresh loop was started; guarded by reg.mu

	mu          sync.Mutex    // guards the fields below
	inflight    chan struct{} // closed when the running fetch ends; nil when idle
	lastAttempt time.Time
	lastErr     error
	stopped     bool
	stop        chan struct{}
}

// Source is the JWKS URL or OIDC issuer this set is fetched from.
func (ks *RemoteKeys) Source() string { return ks.src }

// Keys returns the current keys (nil before the first successful fetch).
func (ks *RemoteKeys) Keys() []*Key {
	if t := ks.table.Load(); t != nil {
		return t.all
	}
	return nil
}

// LastError is the error of the latest fetch, nil when it succeeded.
func (ks *RemoteKeys) LastError() error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.lastErr
}

// WaitReady waits until keys are loaded or the timeout passes, reporting
// whether keys are available. For startup checks and tests.
func (ks *RemoteKeys) WaitReady(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for ks.table.Load() == nil {
		ch := ks.start(false)
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		if ch == nil {
			ch = make(chan struct{})
			left = min(left, 10*time.Millisecond)
		}
		t := time.NewTimer(left)
		select {
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	}
	return true
}

// run refreshes the set every refresh interval, retrying after the minimum
// refetch interval while fetches fail, until stopped.
func (ks *RemoteKeys) run() {
	for {
		if ch := ks.start(true); ch != nil {
			select {
			case <-ch:
			case <-ks.stop:
				return
			}
		}
		o := ks.opts.Load()
		wait := o.refresh
		if ks.LastError() != nil {
			wait = o.minRefetch
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ks.stop:
			t.Stop()
			return
		}
	}
}

// start begins a fetch unless one is running (whose channel is returned)
// or, when not forced, the last attempt is younger than the minimum refetch
// interval (nil is returned).
func (ks *RemoteKeys) start(force bool) <-chan struct{} {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.inflight != nil {
		return ks.inflight
	}
	if ks.stopped && !force {
		return nil
	}
	if !force && time.Since(ks.lastAttempt) < ks.opts.Load().minRefetch {
		return nil
	}
	ch := make(chan struct{})
	ks.inflight = ch
	ks.lastAttempt = time.Now()
	go func() {
		err := ks.fetch()
		ks.mu.Lock()
		ks.lastErr = err
		ks.inflight = nil
		ks.mu.Unlock()
		close(ch)
	}()
	return ch
}

// refetchEarly is called for a token whose kid no current key has: it
// starts (or joins) a fetch if the minimum interval allows and waits for it
// at most the fetch timeout. Reports whether a fetch completed.
func (ks *RemoteKeys) refetchEarly() bool {
	ch := ks.start(false)
	if ch == nil {
		return false
	}
	jwksEarly.Inc()
	t := time.NewTimer(ks.opts.Load().timeout + 100*time.Millisecond)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

func (ks *RemoteKeys) fetch() error {
	err := ks.fetchOnce()
	if err != nil {
		jwksFetchError.Inc()
		return err
	}
	jwksFetchOK.Inc()
	return nil
}

func (ks *RemoteKeys) fetchOnce() error {
	o := ks.opts.Load()
	jwksURL := ks.src
	if ks.oidc {
		u, err := ks.discover(o)
		if err != nil {
			return err
		}
		jwksURL = u
	}
	body, err := ks.reg.get(jwksURL, o)
	if err != nil {
		return err
	}
	keys, err := parseJWKS(body, ks.rsaAlg)
	if err != nil {
		return fmt.Errorf("%s: %v", jwksURL, err)
	}
	ks.table.Store(newKeyTable(ks.table.Load().reuse(keys)))
	return nil
}

// discover reads the issuer's OpenID Provider metadata and returns its
// jwks_uri, checking that the document names the same issuer (OpenID
// Connect Discovery 1.0 §4.3) so one issuer cannot vouch for another.
func (ks *RemoteKeys) discover(o *fetchOpts) (string, error) {
	docURL := strings.TrimSuffix(ks.src, "/") + "/.well-known/openid-configuration"
	body, err := ks.reg.get(docURL, o)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := decodeJSON(body, &doc); err != nil {
		return "", fmt.Errorf("%s: parse discovery document: %v", docURL, err)
	}
	if doc.Issuer != ks.src {
		return "", fmt.Errorf("%s: discovery issuer %q does not match %q", docURL, doc.Issuer, ks.src)
	}
	if err := checkFetchURL(doc.JWKSURI, o.allowHTTP); err != nil {
		return "", fmt.Errorf("%s: jwks_uri: %v", docURL, err)
	}
	return doc.JWKSURI, nil
}

// get fetches one document with the configured timeout and body limit.
func (r *Registry) get(u string, o *fetchOpts) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("%s: HTTP status %d", u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, o.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", u, err)
	}
	if int64(len(body)) > o.maxBody {
		return nil, fmt.Errorf("%s: response exceeds %d bytes", u, o.maxBody)
	}
	return body, nil
}

// checkFetchURL admits https URLs, and http ones on loopback hosts or when
// allowHTTP is set.
func checkFetchURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL %q: %v", raw, err)
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("URL %q must be absolute, without user info or fragment", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if allowHTTP || isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("URL %q uses http; keys fetched in clear text can be replaced in transit (set allow_http to accept)", raw)
	}
	return fmt.Errorf("URL %q: scheme must be https", raw)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var errRedirect = errors.New("redirect refused")
