package serve

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes is the whole API surface of gate serve.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	// Argo Rollouts, Web metric provider (AnalysisTemplate in
	// deploy/kubernetes/overlays/argo-rollouts).
	mux.Handle("POST /argo/v1/analysis", s.count("argo", "web", s.handleArgo()))
	// Flagger webhooks, one path per webhook type (Canary in
	// deploy/kubernetes/overlays/flagger).
	for _, h := range flaggerHooks {
		mux.Handle("POST /flagger/v1/"+h.name, s.count("flagger", h.name, s.handleFlagger(h)))
	}
	// For humans: what runs, why it ended, forget one to run it again.
	mux.Handle("GET /api/v1/analyses", s.count("api", "list", s.handleList()))
	mux.Handle("GET /api/v1/analyses/{id}", s.count("api", "get", s.handleGet()))
	mux.Handle("DELETE /api/v1/analyses/{id}", s.count("api", "delete", s.handleDelete()))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.deps.Gatherer, promhttp.HandlerOpts{}))
	mux.Handle("GET /healthz", handleHealth())
	return mux
}
