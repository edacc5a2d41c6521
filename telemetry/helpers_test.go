package telemetry

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// testRoutes are the routes of testRouter, for InitHTTP.
var testRoutes = []Route{
	{Method: http.MethodGet, Pattern: "/{code}", Statuses: []int{200, 302, 404, 410, 500}},
	{Method: http.MethodPost, Pattern: "/api/v1/links", Statuses: []int{201, 400, 409, 500}},
	{Method: http.MethodGet, Pattern: "/healthz", Statuses: []int{200}},
	{Method: http.MethodGet, Pattern: "/admin/stats", Statuses: []int{200, 500}},
	{Method: http.MethodGet, Pattern: "/stream", Statuses: []int{200}},
	{Method: http.MethodGet, Pattern: "/files/*", Statuses: []int{200, 404}},
}

// testResults stand for the app's result lists (app.CreateResults,
// app.RedirectResults), which the shortener passes to NewMetrics.
var testResults = Results{
	LinkCreated: []string{"created", "conflict", "invalid", "error"},
	Redirect:    []string{"found", "not_found", "expired", "deleted"},
}

// testRouter is a small chi router shaped like the shortener, with the
// telemetry middlewares mounted as the app mounts them.
func testRouter(tr *Tracing, m *Metrics, logger *slog.Logger) *chi.Mux {
	r := chi.NewRouter()
	r.Use(tr.Middleware, m.Middleware, AccessLog(logger))
	r.Get("/{code}", func(w http.ResponseWriter, r *http.Request) {
		code := chi.URLParam(r, "code")
		ctx, end := tr.StartStoreSpan(r.Context(), "get")
		if logger != nil {
			logger.InfoContext(ctx, "lookup")
		}
		end(nil)
		switch code {
		case "missing":
			http.NotFound(w, r)
		case "gone":
			w.WriteHeader(http.StatusGone)
		case "boom":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "silent":
			// writes nothing: 200
		case "panic":
			panic("handler panic")
		default:
			if strings.HasPrefix(code, "x") {
				http.NotFound(w, r)
				return
			}
			http.Redirect(w, r, "https://example.com/", http.StatusFound)
		}
	})
	r.Post("/api/v1/links", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"code":"abc"}`))
	})
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	r.Get("/stream", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("a"))
		w.(http.Flusher).Flush()
		if err := http.NewResponseController(w).Flush(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	r.Get("/files/*", func(w http.ResponseWriter, r *http.Request) {
		if chi.URLParam(r, "*") != "a.txt" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("a"))
	})
	admin := chi.NewRouter()
	admin.Get("/stats", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("{}")) })
	r.Mount("/admin", admin)
	return r
}

// serve runs one request through h in process and returns the recorder.
func serve(h http.Handler, method, target string, hdr http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://shortener.test"+target, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// histSeries finds the request duration series with these labels; ok is
// false when it does not exist.
func histSeries(t *testing.T, g prometheus.Gatherer, route, method, status string) (*dto.Histogram, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != MetricHTTPRequestDuration {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l[LabelRoute] == route && l[LabelMethod] == method && l[LabelStatus] == status {
				return m.GetHistogram(), true
			}
		}
	}
	return nil, false
}

// textExposition renders the registry in the Prometheus text format.
func textExposition(t testing.TB, g prometheus.Gatherer) string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatalf("encode: %v", err)
		}
	}
	return buf.String()
}

// seriesCount counts the sample lines of the text exposition.
func seriesCount(t testing.TB, g prometheus.Gatherer) int {
	n := 0
	for line := range strings.SplitSeq(textExposition(t, g), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			n++
		}
	}
	return n
}

// memTracing sets up tracing that records every span into an in-memory
// exporter, synchronously.
func memTracing(t testing.TB, env map[string]string) (*Tracing, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	if _, set := env["OTEL_TRACES_SAMPLER"]; !set {
		// Record every span unless a test chooses a sampler: the
		// product default keeps only a share of new traces.
		env = withEnv(env, "OTEL_TRACES_SAMPLER", "parentbased_always_on")
	}
	tr, err := setupTracing(context.Background(), mapEnv(env), "shortener-test", "v1.2.3", tracingOptions{exporter: exp, sync: true})
	if err != nil {
		t.Fatalf("setup tracing: %v", err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr, exp
}

// withEnv returns a copy of m with k set to v.
func withEnv(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for key, val := range m {
		if key != k {
			out[key] = val
		}
	}
	return out
}

func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// toFloat64 returns the value of a collector holding exactly one counter or
// gauge (like client_golang's testutil.ToFloat64, without its dependencies).
func toFloat64(t testing.TB, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 16)
	go func() { c.Collect(ch); close(ch) }()
	var ms []prometheus.Metric
	for m := range ch {
		ms = append(ms, m)
	}
	if len(ms) != 1 {
		t.Fatalf("collector has %d metrics, want 1", len(ms))
	}
	var pb dto.Metric
	if err := ms[0].Write(&pb); err != nil {
		t.Fatal(err)
	}
	switch {
	case pb.Counter != nil:
		return pb.Counter.GetValue()
	case pb.Gauge != nil:
		return pb.Gauge.GetValue()
	}
	t.Fatalf("not a counter or gauge: %v", &pb)
	return 0
}

// collectAndCount counts the metrics a collector yields.
func collectAndCount(t testing.TB, c prometheus.Collector) int {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}

// discardExporter accepts and forgets every span.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }
