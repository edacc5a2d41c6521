package server

import (
	"io/fs"
	"net/http"
	"net/http/pprof"

	"github.com/go-chi/chi/v5"

	"github.com/obsshort/shortener/telemetry"
)

// PublicRoutes lists every public route with the status codes it can answer,
// so metrics create those series at zero before the first request.
func PublicRoutes(redirectStatus int) []telemetry.Route {
	common := []int{http.StatusInternalServerError}
	with := func(codes ...int) []int { return append(codes, common...) }
	unlockStatus := redirectStatus
	if unlockStatus == http.StatusTemporaryRedirect || unlockStatus == http.StatusPermanentRedirect {
		unlockStatus = http.StatusSeeOther // see handleUnlock
	}
	return []telemetry.Route{
		{Method: http.MethodGet, Pattern: "/", Statuses: with(200)},
		{Method: http.MethodPost, Pattern: "/", Statuses: with(303, 400, 403, 409, 413, 422, 429, 503)},
		{Method: http.MethodPost, Pattern: "/api/v1/links", Statuses: with(201, 400, 403, 409, 413, 422, 429, 503)},
		{Method: http.MethodGet, Pattern: "/api/v1/links", Statuses: with(200, 401, 403, 422, 503)},
		{Method: http.MethodGet, Pattern: "/api/v1/links/{code}", Statuses: with(200, 404, 503)},
		{Method: http.MethodPatch, Pattern: "/api/v1/links/{code}", Statuses: with(200, 400, 401, 403, 404, 410, 413, 422, 503)},
		{Method: http.MethodDelete, Pattern: "/api/v1/links/{code}", Statuses: with(204, 401, 403, 404, 503)},
		{Method: http.MethodGet, Pattern: "/api/v1/links/{code}/visits", Statuses: with(200, 404, 422, 503)},
		{Method: http.MethodGet, Pattern: "/api/v1/export", Statuses: with(200, 401, 403, 422)},
		{Method: http.MethodPost, Pattern: "/api/v1/import", Statuses: with(200, 400, 401, 403, 409, 413)},
		{Method: http.MethodGet, Pattern: "/{code}", Statuses: with(redirectStatus, 200, 404, 410, 503)},
		{Method: http.MethodPost, Pattern: "/{code}", Statuses: with(unlockStatus, 400, 403, 404, 410, 413, 429, 503)},
		{Method: http.MethodGet, Pattern: "/{code}+", Statuses: with(200, 404, 410, 503)},
		{Method: http.MethodGet, Pattern: "/{code}/qr", Statuses: with(200, 404, 410, 503)},
		{Method: http.MethodGet, Pattern: "/static/*", Statuses: with(200, 404)},
		{Method: http.MethodGet, Pattern: "/healthz", Statuses: []int{200}},
		{Method: http.MethodGet, Pattern: "/readyz", Statuses: []int{200, 503}},
	}
}

// NewPublic returns the public listener's handler: web page, JSON API,
// redirects, and /healthz and /readyz (without detail) for load balancers.
// Middleware order, outermost first: recover; telemetry (tracing, metrics
// and access log in one layer around the router, see
// telemetry.Instrument); cross-origin protection; then, per route, fault
// injection.
func NewPublic(d Deps) http.Handler {
	r := chi.NewRouter()
	if d.Metrics != nil {
		d.Metrics.InitHTTP(PublicRoutes(d.RedirectStatus))
	}
	r.Use(crossOriginProtection(d.Logger))
	r.Method(http.MethodGet, "/healthz", handleHealthz())
	r.Method(http.MethodGet, "/readyz", handleReadyz(d.Health, false))

	// Fault injection runs after routing (inline middleware) so injected
	// failures carry their real route label, like a real bug would.
	limit := d.Limiter.middleware(d.now)
	if d.Guesses == nil {
		d.Guesses = NewGuessLimiter(nil)
	}
	d.imports = make(chan struct{}, 1)
	admin := requireAdmin(d.AdminKeys, d.Logger)
	r.Group(func(r chi.Router) {
		r.Use(d.Fault.middleware)
		r.With(securityHeaders).Method(http.MethodGet, "/", handleIndex(d))
		r.With(securityHeaders, limit).Method(http.MethodPost, "/", handleIndexPost(d))
		r.With(securityHeaders).Method(http.MethodGet, "/static/*", handleStatic(staticFS()))

		r.With(limit).Method(http.MethodPost, "/api/v1/links", handleCreateLink(d))
		r.With(admin).Method(http.MethodGet, "/api/v1/links", handleListLinks(d))
		r.Method(http.MethodGet, "/api/v1/links/{code}", handleGetLink(d))
		r.With(admin).Method(http.MethodPatch, "/api/v1/links/{code}", handleUpdateLink(d))
		r.With(admin).Method(http.MethodDelete, "/api/v1/links/{code}", handleDeleteLink(d))
		r.Method(http.MethodGet, "/api/v1/links/{code}/visits", handleLinkVisits(d))
		r.With(admin).Method(http.MethodGet, "/api/v1/export", handleExport(d))
		r.With(admin).Method(http.MethodPost, "/api/v1/import", handleImport(d))

		// The redirect has no body; its HTML error pages set the security
		// headers themselves (renderProblem, and servePasswordPage for a
		// protected link), so the hot path skips them.
		r.Method(http.MethodGet, "/{code}", handleRedirect(d))
		r.Method(http.MethodPost, "/{code}", handleUnlock(d))
		r.With(securityHeaders).Method(http.MethodGet, "/{code}+", handlePreview(d))
		r.With(securityHeaders).Method(http.MethodGet, "/{code}/qr", handleQR(d))
	})

	r.NotFound(handleNotFound(d).ServeHTTP)
	r.MethodNotAllowed(handleMethodNotAllowed().ServeHTTP)
	return layered{router: r, serve: recoverer(d.Logger)(telemetry.Instrument(d.Tracing, d.Metrics, d.Logger)(r))}
}

// layered is a router with layers around it: requests go through the
// layers, and route listings (chi.Walk) still see the router.
type layered struct {
	router // embedded under another name: a field named Routes would hide the method
	serve  http.Handler
}

type router = chi.Routes

func (l layered) ServeHTTP(w http.ResponseWriter, r *http.Request) { l.serve.ServeHTTP(w, r) }

// NewAdmin returns the operator listener's handler: metrics, health and
// profiling. It is never exposed publicly.
func NewAdmin(d Deps) http.Handler {
	r := chi.NewRouter()
	r.Use(recoverer(d.Logger))
	r.Method(http.MethodGet, "/healthz", handleHealthz())
	r.Method(http.MethodGet, "/readyz", handleReadyz(d.Health, true))
	if d.Registry != nil {
		r.Handle("/metrics", telemetry.MetricsHandler(d.Registry))
	}
	r.HandleFunc("/debug/pprof/", pprof.Index)
	r.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	r.HandleFunc("/debug/pprof/profile", pprof.Profile)
	r.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	r.HandleFunc("/debug/pprof/trace", pprof.Trace)
	r.Handle("/debug/pprof/{name}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pprof.Handler(chi.URLParam(r, "name")).ServeHTTP(w, r)
	}))
	return r
}

func handleStatic(files fs.FS) http.Handler {
	return http.StripPrefix("/static/", http.FileServerFS(files))
}
