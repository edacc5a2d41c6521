package server

import (
	"context"
	"net/http"
	"time"

	"github.com/obsshort/shortener/app"
)

type healthBody struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusOK, healthBody{Status: "ok"})
	})
}

// handleReadyz answers 503 while draining or when the store is unusable, and
// says why. The admin listener gives the full reason; the public one only
// what app.ErrorMessage allows (never driver or SQL text).
func handleReadyz(h *Health, detailed bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h == nil {
			encode(w, http.StatusOK, healthBody{Status: "ready"})
			return
		}
		if h.Draining() {
			encode(w, http.StatusServiceUnavailable, healthBody{Status: "draining", Reason: "shutting down; not accepting new traffic"})
			return
		}
		if h.Check != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := h.Check(r.WithContext(ctx)); err != nil {
				reason := err.Error()
				if !detailed {
					reason = "the database is not usable; the admin listener's /readyz has the details"
					if app.ErrorCode(err) == app.EUNAVAILABLE {
						reason = app.ErrorMessage(err)
					}
				}
				encode(w, http.StatusServiceUnavailable, healthBody{Status: "not ready", Reason: reason})
				return
			}
		}
		encode(w, http.StatusOK, healthBody{Status: "ready"})
	})
}
