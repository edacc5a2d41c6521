// Package server is the shortener's HTTP layer: the public listener (web
// page, JSON API, redirects, and /healthz and /readyz for load balancers)
// and the admin listener (metrics, health with detail, profiling). It turns
// requests into app.Service calls and domain errors into status codes.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

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
	// Guesses limits password guesses per client and per link (nil: the
	// defaults, trusting no proxy).
	Guesses *GuessLimiter
	// MaxImportBytes bounds a file sent to POST /api/v1/import (0:
	// DefaultMaxImportBytes).
	MaxImportBytes int64

	imports chan struct{} // one import at a time (set by NewPublic)
	// Now is the one clock of the HTTP layer (link states, rate limits).
	// nil: the service's clock (Service.Now), else time.Now; so a test that
	// sets Service.Now moves the handlers' time too.
	Now func() time.Time
}

func (d Deps) now() time.Time {
	switch {
	case d.Now != nil:
		return d.Now()
	case d.Service != nil && d.Service.Now != nil:
		return d.Service.Now()
	}
	return time.Now()
}

// Health is the process's liveness and readiness.
type Health struct {
	draining atomic.Bool
	// Store reports the store's readiness and write health (app.StoreHealth);
	// nil: the store is not checked.
	Store StoreStatus
}

// StoreStatus is what /readyz asks about the store. Both answers must be
// cheap (from memory, or one read check per interval), because anyone can
// call the public /readyz.
type StoreStatus interface {
	// Ready reports whether the store serves reads.
	Ready(ctx context.Context) error
	// Writable returns the store's last known write health.
	Writable() app.WriteStatus
	// Reachable returns the outcome of the last read check.
	Reachable() app.ReachStatus
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
