package telemetry

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/trace"
)

// TestNoEndpointPassesTheCallersDecisionOn checks what the READMEs promise
// when no OTLP endpoint is set: nothing is recorded or exported, every
// request still gets ids, a caller's sampled traceparent comes back (and
// goes on to child spans) sampled with its trace id, and a sampled request
// carries an exemplar with that trace id.
func TestNoEndpointPassesTheCallersDecisionOn(t *testing.T) {
	setups := map[string]map[string]string{
		"no endpoint":   nil,
		"exporter none": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"},
	}
	tests := []struct {
		name        string
		header      http.Header
		wantTraceID string // "" for a new one
		wantSampled bool
	}{
		{"sampled caller", http.Header{"Traceparent": {traceparent}, "Tracestate": {"vendor=abc"}}, parentTraceID, true},
		{"unsampled caller", http.Header{"Traceparent": {"00-" + parentTraceID + "-" + parentSpanID + "-00"}}, parentTraceID, false},
		{"no caller trace", nil, "", false},
	}
	for setup, env := range setups {
		for _, tc := range tests {
			t.Run(setup+"/"+tc.name, func(t *testing.T) {
				tr, err := SetupTracing(t.Context(), mapEnv(env), "shortener-test", "v0")
				if err != nil {
					t.Fatal(err)
				}
				if tr.Exporting() || tr.exporter != nil {
					t.Fatal("an exporter is set up without an endpoint")
				}
				reg := NewRegistry()
				m := NewMetrics(reg, testResults)
				var server, store trace.Span
				r := chi.NewRouter()
				r.Use(tr.Middleware, m.Middleware)
				r.Get("/{code}", func(w http.ResponseWriter, r *http.Request) {
					server = trace.SpanFromContext(r.Context())
					ctx, end := tr.StartStoreSpan(r.Context(), "get")
					store = trace.SpanFromContext(ctx)
					end(nil)
					w.WriteHeader(http.StatusFound)
				})
				w := serve(r, "GET", "/abc", tc.header)

				// Nothing recorded: no processor or exporter can see a span.
				if server.IsRecording() || store.IsRecording() {
					t.Errorf("spans recorded without an endpoint (server %v, store %v)", server.IsRecording(), store.IsRecording())
				}
				sc := server.SpanContext()
				if !sc.IsValid() {
					t.Fatal("request has no trace ids")
				}
				if tc.wantTraceID != "" && sc.TraceID().String() != tc.wantTraceID {
					t.Errorf("trace id %s, want the caller's %s", sc.TraceID(), tc.wantTraceID)
				}
				if sc.SpanID().String() == parentSpanID {
					t.Error("server span reuses the caller's span id")
				}
				if sc.IsSampled() != tc.wantSampled {
					t.Errorf("server span sampled %v, want %v (the caller's decision)", sc.IsSampled(), tc.wantSampled)
				}
				child := store.SpanContext()
				if child.TraceID() != sc.TraceID() || child.SpanID() == sc.SpanID() || child.IsSampled() != tc.wantSampled {
					t.Errorf("store span %v does not continue server span %v", child, sc)
				}

				// The response carries the server span, with the sampled flag.
				flags := "00"
				if tc.wantSampled {
					flags = "01"
				}
				if got, want := w.Header().Get("Traceparent"), "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-"+flags; got != want {
					t.Errorf("response traceparent %q, want %q", got, want)
				}
				if ts := tc.header.Get("Tracestate"); ts != "" && w.Header().Get("Tracestate") != ts {
					t.Errorf("response tracestate %q, want %q", w.Header().Get("Tracestate"), ts)
				}

				// An exemplar for a sampled request, none otherwise.
				rec := httptest.NewRecorder()
				req := httptest.NewRequest("GET", "/metrics", nil)
				req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
				MetricsHandler(reg).ServeHTTP(rec, req)
				match := exemplarRE.FindStringSubmatch(rec.Body.String())
				if !tc.wantSampled {
					if strings.Contains(rec.Body.String(), "trace_id") {
						t.Errorf("exemplar on a request that was not sampled:\n%s", grepLines(rec.Body.String(), "trace_id"))
					}
					return
				}
				if match == nil {
					t.Fatalf("no exemplar for a sampled request:\n%s", grepLines(rec.Body.String(), MetricHTTPRequestDuration+"_bucket"))
				}
				for _, want := range []string{
					fmt.Sprintf(`trace_id="%s"`, sc.TraceID()),
					fmt.Sprintf(`span_id="%s"`, sc.SpanID()),
				} {
					if !strings.Contains(match[1], want) {
						t.Errorf("exemplar %q lacks %s", match[1], want)
					}
				}
			})
		}
	}
}

func TestPassOnTracerNewRootAndIDs(t *testing.T) {
	parent := trace.ContextWithRemoteSpanContext(t.Context(), remoteParent(t, true))
	var tracer passOnTracer
	_, root := tracer.Start(parent, "x", trace.WithNewRoot())
	if sc := root.SpanContext(); sc.TraceID().String() == parentTraceID || sc.IsSampled() || !sc.IsValid() {
		t.Errorf("WithNewRoot span %v continues the parent or is invalid", sc)
	}
	seen := map[trace.TraceID]bool{}
	for range 1000 {
		_, s := tracer.Start(t.Context(), "x")
		id := s.SpanContext().TraceID()
		if seen[id] {
			t.Fatalf("trace id %s drawn twice in 1000", id)
		}
		seen[id] = true
	}
}
