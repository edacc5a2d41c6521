// Package server is the shortener's HTTP layer: the public listener (web
// page, JSON API, redirects) and the admin listener (metrics, health,
// profiling). It turns requests into app.Service calls and domain errors into
// status codes.
package server

import (
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/telemetry"
)

// Deps is everything the handlers need. Metrics and Tracing may be nil
// (telemetry off).
type Deps struct {
	Service        *app.Service
	Logger         *slog.Logger
	Metrics        *telemetry.Metrics
	Tracing        *telemetry.Tracing
	Registry       *prometheus.Registry // served on the admin /metrics
	Health         *Health
	BaseURL        string // scheme://host[:port] used to build short URLs
	RedirectStatus int
	AdminKeys      *AdminKeys
	CookieKey      []byte // signs the web page's list of links
	Fault          Fault
	Limiter        *RateLimiter // optional, on link creation
}

// Health is the process's liveness and readiness.
type Health struct {
	draining atomic.Bool
	// Check reports whether dependencies are usable (nil: ready).
	Check func(r *http.Request) error
}

// Drain makes /readyz answer 503 so load balancers stop sending traffic.
func (h *Health) Drain() { h.draining.Store(true) }

// Draining reports whether Drain was called.
func (h *Health) Draining() bool { return h.draining.Load() }

// routePattern returns the chi route pattern of a request, for logs.
func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			return p
		}
	}
	return telemetry.RouteUnmatched
}
