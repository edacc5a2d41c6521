package server

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
)

// recoverer turns a panic into a logged 500 so no panic reaches a user.
func recoverer(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					logger.ErrorContext(r.Context(), "panic in handler", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
					encode(w, http.StatusInternalServerError, errorBody{Error: "internal error; the request was not completed, try again later"})
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// contentSecurityPolicy allows only this origin's scripts, styles and images
// (QR codes), no framing and no plugins.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// passwordPagePolicy is the policy of the password page: the same, except
// that its form's answer may redirect to any http(s) target.
var passwordPagePolicy = strings.Replace(contentSecurityPolicy, "form-action 'self'", "form-action 'self' http: https:", 1)

// securityHeaders sets the headers every HTML answer carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		next.ServeHTTP(w, r)
	})
}

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// crossOriginProtection refuses state-changing browser requests from other
// origins (CSRF), using Fetch metadata and Origin headers; clients such as
// curl that send neither pass.
func crossOriginProtection(logger *slog.Logger) func(http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.InfoContext(r.Context(), "cross-origin request refused", "method", r.Method)
		encode(w, http.StatusForbidden, errorBody{Error: "cross-origin request refused: submit the form from this site's own page"})
	}))
	return cop.Handler
}

// Fault is the opt-in fault injection for game days: a share of public
// requests answers 500, and every public request can be delayed. Health
// endpoints are spared so a faulty instance stays in the load balancer, as a
// buggy release would.
type Fault struct {
	ErrorRate float64
	Latency   time.Duration
}

// Enabled reports whether any fault is configured.
func (f Fault) Enabled() bool { return f.ErrorRate > 0 || f.Latency > 0 }

func (f Fault) middleware(next http.Handler) http.Handler {
	if !f.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
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
