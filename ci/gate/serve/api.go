package serve

import (
	"net/http"
)

func (s *server) handleList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"analyses": s.deps.Store.List()})
	})
}

func (s *server) handleGet() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := s.deps.Store.Get(r.PathValue("id"))
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no analysis with this id (finished ones are forgotten when idle)"})
			return
		}
		writeJSON(w, http.StatusOK, a)
	})
}

// handleDelete forgets an analysis so the next request runs a fresh one
// (after a lost or inconclusive analysis, when a human wants a new look).
func (s *server) handleDelete() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.deps.Store.Delete(r.PathValue("id")) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no analysis with this id"})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// handleHealth is liveness: the process serves.
func handleHealth() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
}
