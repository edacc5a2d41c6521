package server

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
)

// Fault is the opt-in fault injection for game days: a share of public
// requests answers 500, and every public request can be delayed. Health
// endpoints are spared so a faulty instance stays in the load balancer, as a
// buggy release would. Routes, when set, limits both to the requests of
// those chi route patterns (the http_route label), so a regression can be
// confined to one route, as a bug in one handler would be.
type Fault struct {
	ErrorRate float64
	Latency   time.Duration
	Routes    []string
}

// Enabled reports whether any fault is configured.
func (f Fault) Enabled() bool { return f.ErrorRate > 0 || f.Latency > 0 }

// ParseFaultRoutes reads a comma-separated list of public route patterns
// (e.g. "/{code},/api/v1/links/{code}"); "" is none (every route). A
// pattern that is not a public route, or a health endpoint (never faulted),
// is an error naming the routes that can be given.
func ParseFaultRoutes(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var known []string
	for _, r := range PublicRoutes(http.StatusFound) {
		if !isHealthPath(r.Pattern) && !slices.Contains(known, r.Pattern) {
			known = append(known, r.Pattern)
		}
	}
	var out []string
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		switch {
		case p == "":
			return nil, errors.New("empty route in the list")
		case !slices.Contains(known, p):
			return nil, fmt.Errorf("%q is not a public route pattern; one of %s", p, strings.Join(known, ", "))
		case !slices.Contains(out, p):
			out = append(out, p)
		}
	}
	return out, nil
}

func isHealthPath(p string) bool { return p == "/healthz" || p == "/readyz" }

func (f Fault) middleware(next http.Handler) http.Handler {
	if !f.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isHealthPath(r.URL.Path) || !f.applies(r) {
			next.ServeHTTP(w, r)
			return
		}
		if f.Latency > 0 {
			select {
			case <-time.After(f.Latency):
			case <-r.Context().Done():
				return
			}
		}
		if f.ErrorRate > 0 && rand.Float64() < f.ErrorRate {
			encode(w, http.StatusInternalServerError, errorBody{Error: "internal error (fault injection is on for this instance)"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// applies reports whether r's route is one the faults are limited to. The
// middleware runs after routing (inline in the routes' group), so chi has
// matched the route pattern by then.
func (f Fault) applies(r *http.Request) bool {
	if len(f.Routes) == 0 {
		return true
	}
	rc := chi.RouteContext(r.Context())
	return rc != nil && slices.Contains(f.Routes, rc.RoutePattern())
}
