package server

import (
	"net/http"
	"time"

	"github.com/obsshort/shortener/app"
)

type healthBody struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Store is the admin listener's detail; the public one never shows it.
	Store *storeDetail `json:"store,omitempty"`
}

// storeDetail tells an operator whether the store takes writes. It does not
// decide readiness: a process whose database refuses writes still serves
// redirects, so it stays in the load balancer.
type storeDetail struct {
	Writable       bool       `json:"writable"`
	WriteError     string     `json:"write_error,omitempty"`
	WriteCheckedAt *time.Time `json:"write_checked_at,omitempty"`
	// Reachable is the last read check's outcome: a shared database
	// (PostgreSQL) that cannot be reached keeps the process ready, since
	// cached redirects still work, and shows here.
	Reachable      bool   `json:"reachable"`
	ReachableError string `json:"reachable_error,omitempty"`
}

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusOK, healthBody{Status: "ok"})
	})
}

// handleReadyz answers 503 while draining or when the store cannot serve
// reads, and says why. The admin listener gives the full reason and the
// store's write health; the public one only what app.ErrorMessage allows
// (never driver or SQL text). Neither causes more database work than
// h.Store's cached read check.
func handleReadyz(h *Health, detailed bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h == nil {
			encode(w, http.StatusOK, healthBody{Status: "ready"})
			return
		}
		var detail *storeDetail
		if detailed && h.Store != nil {
			detail = writeDetail(h.Store.Writable())
			if r := h.Store.Reachable(); !r.Checked.IsZero() {
				detail.Reachable = r.Reachable()
				if r.Err != nil {
					detail.ReachableError = r.Err.Error()
				}
			}
		}
		if h.Draining() {
			encode(w, http.StatusServiceUnavailable, healthBody{Status: "draining", Reason: "shutting down; not accepting new traffic", Store: detail})
			return
		}
		if h.Store != nil {
			if err := h.Store.Ready(r.Context()); err != nil {
				reason := err.Error()
				if !detailed {
					reason = "the database is not usable; the admin listener's /readyz has the details"
					if app.ErrorCode(err) == app.EUNAVAILABLE {
						reason = app.ErrorMessage(err)
					}
				}
				encode(w, http.StatusServiceUnavailable, healthBody{Status: "not ready", Reason: reason, Store: detail})
				return
			}
		}
		encode(w, http.StatusOK, healthBody{Status: "ready", Store: detail})
	})
}

func writeDetail(st app.WriteStatus) *storeDetail {
	d := &storeDetail{Writable: st.Writable()}
	if st.Err != nil {
		d.WriteError = st.Err.Error()
	}
	if !st.Checked.IsZero() {
		t := st.Checked.UTC()
		d.WriteCheckedAt = &t
	}
	return d
}
