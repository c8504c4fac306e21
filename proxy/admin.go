package proxy

import (
	"crypto/subtle"
	"net"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
	"github.com/fasthttp/router"
	json "github.com/goccy/go-json"
	"github.com/sluicegw/sluice/policy"
	"github.com/valyala/fasthttp"
)

// Admin is the admin listener: health, readiness, metrics, config status,
// routes and reload. It is off the request path, so it uses fasthttp/router
// and encoding/json freely. Safe for concurrent use.
type Admin struct {
	s      *Server
	r      *Reloader
	srv    *fasthttp.Server
	up     atomic.Bool
	router *router.Router
}

// NewAdmin builds the admin handler for a server and its reloader.
func NewAdmin(s *Server, r *Reloader) *Admin {
	a := &Admin{s: s, r: r, router: router.New()}
	rt := a.router
	rt.RedirectTrailingSlash = false
	rt.RedirectFixedPath = false
	rt.GET("/healthz", a.healthz)
	rt.GET("/readyz", a.readyz)
	rt.GET("/metrics", a.guard(a.metrics))
	rt.GET("/admin/config", a.guard(a.config))
	rt.GET("/admin/routes", a.guard(a.routes))
	rt.GET("/admin/upstreams", a.guard(a.upstreams))
	rt.POST("/admin/reload", a.guard(a.reload))
	rt.POST("/admin/cache/purge", a.guard(a.cachePurge)) // cache_admin.go
	rt.NotFound = func(ctx *fasthttp.RequestCtx) {
		writeError(ctx, fasthttp.StatusNotFound, CodeNotFound, "no such admin endpoint", nil)
	}
	rt.MethodNotAllowed = func(ctx *fasthttp.RequestCtx) {
		writeError(ctx, fasthttp.StatusMethodNotAllowed, CodeMethodNotAllowed, "method not allowed", nil)
	}
	a.srv = &fasthttp.Server{Handler: rt.Handler, NoDefaultServerHeader: true, Logger: quietLogger{s.log}}
	return a
}

// Handler serves the admin endpoints (tests call it directly).
func (a *Admin) Handler() fasthttp.RequestHandler { return a.router.Handler }

// Serve runs the admin listener until Shutdown.
func (a *Admin) Serve(ln net.Listener) error {
	a.up.Store(true)
	return a.srv.Serve(ln)
}

// Shutdown stops the admin listener.
func (a *Admin) Shutdown() error { return a.srv.Shutdown() }

// guard requires the admin token when one is configured.
func (a *Admin) guard(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		snap := a.s.Snapshot()
		if snap != nil && len(snap.Server.AdminToken) > 0 {
			got := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
			const prefix = "Bearer "
			ok := len(got) > len(prefix) && string(got[:len(prefix)]) == prefix &&
				subtle.ConstantTimeCompare(got[len(prefix):], snap.Server.AdminToken) == 1
			if !ok {
				writeError(ctx, fasthttp.StatusUnauthorized, "Unauthorized", "admin token required", nil)
				ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="sluice-admin"`)
				return
			}
		}
		h(ctx)
	}
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		writeError(ctx, fasthttp.StatusInternalServerError, CodeInternal, err.Error(), nil)
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
}

func (a *Admin) healthz(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, fasthttp.StatusOK, map[string]string{"status": "ok"})
}

func (a *Admin) readyz(ctx *fasthttp.RequestCtx) {
	if !a.s.Ready() {
		writeJSON(ctx, fasthttp.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]string{"status": "ready"})
}

func (a *Admin) metrics(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	metrics.WritePrometheus(ctx, true)
}

func (a *Admin) config(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, fasthttp.StatusOK, a.r.Status())
}

func (a *Admin) routes(ctx *fasthttp.RequestCtx) {
	snap := a.s.Snapshot()
	if snap == nil {
		writeJSON(ctx, fasthttp.StatusOK, []policy.RouteRow{})
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, snap.RouteTable())
}

func (a *Admin) reload(ctx *fasthttp.RequestCtx) {
	snap, err := a.r.Reload()
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "ConfigRejected", err.Error(), nil)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"version": snap.Version, "hash": snap.Hash})
}
