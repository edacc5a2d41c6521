package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/instrumented"
	"github.com/obsshort/shortener/app/server"
	"github.com/obsshort/shortener/app/sqlite"
	"github.com/obsshort/shortener/telemetry"
)

// benchLinks is how many links the redirect benchmarks store and request.
const benchLinks = 1000

// redirectBench is the public handler wired as the command wires it, on a
// SQLite file holding benchLinks links, every one cached.
type redirectBench struct {
	h     http.Handler
	codes []string
	reqs  []*http.Request
}

// newRedirectBench builds the handler with full telemetry (metrics with
// exemplars, tracing exporting over OTLP/HTTP to a receiver that answers
// 200, the JSON access log) or with telemetry off.
func newRedirectBench(tb testing.TB, full bool) *redirectBench {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "links.db"), 2)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	logOut := telemetry.NewBufferedWriter(io.Discard, 64<<10, 100*time.Millisecond, io.Discard)
	tb.Cleanup(func() { logOut.Close() })
	logger := telemetry.NewLogger(logOut, 0).With("component", "shortener")
	var (
		store   app.LinkStore = db
		metrics *telemetry.Metrics
		tracing *telemetry.Tracing
	)
	reg := telemetry.NewRegistry()
	if full {
		sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-protobuf")
		}))
		tb.Cleanup(sink.Close)
		metrics = telemetry.NewMetrics(reg, telemetry.Results{LinkCreated: app.CreateResults(), Redirect: app.RedirectResults()})
		env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL}
		tracing, err = telemetry.SetupTracing(ctx, func(k string) string { return env[k] }, "shortener", "bench")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = tracing.Shutdown(context.Background()) })
		store = &instrumented.Store{Next: db, Metrics: metrics, Tracing: tracing}
	}
	svc := &app.Service{Store: store, Cache: app.NewGuardedCache(app.NewRedirectCache(10_000)), Visits: app.NewVisitCounter(store, logger, metrics.VisitFlush)}
	if metrics != nil {
		svc.Observer = metrics
	}
	b := &redirectBench{}
	for i := range benchLinks {
		l, err := svc.Create(ctx, app.CreateRequest{URL: fmt.Sprintf("https://example.com/articles/%d", i)})
		if err != nil {
			tb.Fatal(err)
		}
		b.codes = append(b.codes, l.Code)
		b.reqs = append(b.reqs, httptest.NewRequest(http.MethodGet, "/"+l.Code, nil))
	}
	b.h = server.NewPublic(server.Deps{
		Service: svc, Logger: logger, Metrics: metrics, Tracing: tracing, Registry: reg,
		Health: &server.Health{}, BaseURL: "http://sho.rt", RedirectStatus: http.StatusFound,
	})
	// Warm the cache.
	for _, r := range b.reqs {
		w := &nullWriter{h: http.Header{}}
		b.h.ServeHTTP(w, r)
		if w.status != http.StatusFound {
			tb.Fatalf("GET %s: status %d", r.URL.Path, w.status)
		}
	}
	return b
}

// nullWriter is a ResponseWriter that keeps only the status, so the
// benchmarks measure the handler rather than a recorder.
type nullWriter struct {
	h      http.Header
	status int
}

func (w *nullWriter) Header() http.Header         { return w.h }
func (w *nullWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nullWriter) WriteHeader(s int)           { w.status = s }

func (b *redirectBench) run(tb *testing.B) {
	w := &nullWriter{h: http.Header{}}
	i := 0
	tb.ReportAllocs()
	for tb.Loop() {
		clear(w.h)
		b.h.ServeHTTP(w, b.reqs[i])
		i++
		if i == len(b.reqs) {
			i = 0
		}
	}
}

func BenchmarkRedirectCachedFull(b *testing.B) { newRedirectBench(b, true).run(b) }
func BenchmarkRedirectCachedOff(b *testing.B)  { newRedirectBench(b, false).run(b) }
