package jwtauth

import (
	"errors"
	"net/http"
	"sync"
	"time"
)

// Registry holds remote key sets keyed by their source (JWKS URL or OIDC
// issuer, plus the RSA default alg), so that recompiling a config on reload
// reuses keys already fetched. It lives for the whole process; Verifiers hold
// counted references and a set stops refreshing when the last one is closed.
// Safe for concurrent use.
type Registry struct {
	client *http.Client

	mu   sync.Mutex
	sets map[string]*RemoteKeys
}

// DefaultRegistry is the process-wide registry Compile uses.
var DefaultRegistry = NewRegistry()

// NewRegistry returns an empty registry with its own HTTP client.
func NewRegistry() *Registry {
	return &Registry{
		sets: make(map[string]*RemoteKeys),
		client: &http.Client{
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 3 {
					return errRedirect
				}
				if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
					return errors.New("redirect from https to " + req.URL.Scheme + " refused")
				}
				return nil
			},
			Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				TLSHandshakeTimeout:   5 * time.Second,
				ResponseHeaderTimeout: 10 * time.Second,
				MaxIdleConnsPerHost:   1,
				IdleConnTimeout:       30 * time.Second,
			},
		},
	}
}

// acquire returns the set for this source, creating it on first use, and
// counts one more reference. It starts nothing: the refresh loop starts
// with start, when a snapshot using the set is put into service.
func (r *Registry) acquire(src string, oidc bool, rsaAlg algID, o *fetchOpts) *RemoteKeys {
	id := src + "\x00" + rsaAlg.String()
	if oidc {
		id = "oidc\x00" + id
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ks := r.sets[id]
	if ks == nil {
		ks = &RemoteKeys{reg: r, id: id, src: src, oidc: oidc, rsaAlg: rsaAlg, stop: make(chan struct{})}
		ks.opts.Store(o)
		r.sets[id] = ks
	} else {
		ks.opts.Store(o)
	}
	ks.refs++
	return ks
}

// start runs the set's refresh loop unless it runs already or the set was
// released for good.
func (r *Registry) start(ks *RemoteKeys) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ks.running || ks.refs <= 0 {
		return
	}
	ks.running = true
	go ks.run()
}

// release drops one reference; the last one stops the refresh loop and
// removes the set from the registry.
func (r *Registry) release(ks *RemoteKeys) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ks.refs--
	if ks.refs > 0 {
		return
	}
	if ks.refs < 0 {
		panic("BUG: jwtauth: RemoteKeys released more often than acquired")
	}
	delete(r.sets, ks.id)
	ks.mu.Lock()
	ks.stopped = true
	ks.mu.Unlock()
	close(ks.stop)
}

// Len is the number of live remote key sets.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sets)
}
