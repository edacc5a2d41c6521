package telemetry

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
)

// The cost of the instrumentation is the difference between
// BenchmarkInstrumented (metrics middleware + tracing without an exporter,
// i.e. a non-sampled span with trace ids) and BenchmarkBare (the same chi
// router and handler, no middleware):
//
//	go test -run XXX -bench 'Bare|Instrumented' -benchmem ./telemetry/

func benchRouter(mw ...func(http.Handler) http.Handler) http.Handler {
	r := chi.NewRouter()
	r.Use(mw...)
	r.Get("/{code}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "https://example.com/")
		w.WriteHeader(http.StatusFound)
	})
	return r
}

// discardWriter is a ResponseWriter that costs nothing, so the benchmark
// measures the middleware rather than httptest.ResponseRecorder.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// runBench also reports cpu-ns/op, the process CPU time per request
// (user+system, GC included): on a busy machine it is a steadier figure
// than the wall-clock ns/op, which counts time spent waiting for a CPU.
func runBench(b *testing.B, h http.Handler) {
	runBenchRequest(b, h, httptest.NewRequest("GET", "/abc123", nil))
}

func runBenchRequest(b *testing.B, h http.Handler, req *http.Request) {
	b.ReportAllocs()
	cpu0 := processCPU()
	n := 0
	for b.Loop() {
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		n++
	}
	if cpu := processCPU() - cpu0; cpu > 0 && n > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/op")
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkBare(b *testing.B) {
	runBench(b, benchRouter())
}

func BenchmarkInstrumented(b *testing.B) {
	tr, err := SetupTracing(b.Context(), mapEnv(nil), "shortener", "bench")
	if err != nil {
		b.Fatal(err)
	}
	m := NewMetrics(NewRegistry(), testResults)
	m.InitHTTP(testRoutes)
	runBench(b, benchRouter(tr.Middleware, m.Middleware))
}

// BenchmarkInstrumentedSampledParent is BenchmarkInstrumented for a request
// whose caller sent a sampled traceparent: without an exporter its sampled
// flag is passed on and its duration gets an exemplar.
func BenchmarkInstrumentedSampledParent(b *testing.B) {
	tr, err := SetupTracing(b.Context(), mapEnv(nil), "shortener", "bench")
	if err != nil {
		b.Fatal(err)
	}
	m := NewMetrics(NewRegistry(), testResults)
	m.InitHTTP(testRoutes)
	req := httptest.NewRequest("GET", "/abc123", nil)
	req.Header.Set("Traceparent", traceparent)
	runBenchRequest(b, benchRouter(tr.Middleware, m.Middleware), req)
}

// BenchmarkInstrumentedAccessLog adds the JSON access line (to io.Discard).
func BenchmarkInstrumentedAccessLog(b *testing.B) {
	tr, err := SetupTracing(b.Context(), mapEnv(nil), "shortener", "bench")
	if err != nil {
		b.Fatal(err)
	}
	m := NewMetrics(NewRegistry(), testResults)
	runBench(b, benchRouter(tr.Middleware, m.Middleware, AccessLog(NewLogger(io.Discard, slog.LevelInfo))))
}

// BenchmarkInstrumentedSampled records every span (always_on) into a batch
// processor whose exporter discards them: the cost of a sampled request.
func BenchmarkInstrumentedSampled(b *testing.B) {
	tr, err := setupTracing(b.Context(), mapEnv(map[string]string{"OTEL_TRACES_SAMPLER": "always_on"}), "shortener", "bench",
		tracingOptions{exporter: discardExporter{}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tr.Shutdown(b.Context()) })
	m := NewMetrics(NewRegistry(), testResults)
	runBench(b, benchRouter(tr.Middleware, m.Middleware))
}

// BenchmarkMetricsOnly is the metrics middleware alone.
func BenchmarkMetricsOnly(b *testing.B) {
	m := NewMetrics(NewRegistry(), testResults)
	runBench(b, benchRouter(m.Middleware))
}
