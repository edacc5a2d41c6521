package telemetry

import (
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// TestSamplingDecidedBeforeTheSpan: with an exporter and a ratio sampler,
// the middleware asks the sampler before any span exists. A request it
// drops gets ids only (its response traceparent says not sampled, nothing
// is exported, its store span records nothing); a request it keeps gets an
// SDK span with the very ids its response carries, so the SDK agrees with
// the decision and exactly the sampled requests are exported.
func TestSamplingDecidedBeforeTheSpan(t *testing.T) {
	tr, exp := memTracing(t, map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"})
	h := testRouter(tr, NewMetrics(nil, testResults), nil)
	sampled := map[string]string{} // trace id -> server span id, from the responses
	const requests = 400
	for range requests {
		w := serve(h, "GET", "/abc", nil)
		tp := strings.Split(w.Header().Get("Traceparent"), "-")
		if len(tp) != 4 {
			t.Fatalf("traceparent %q", w.Header().Get("Traceparent"))
		}
		if tp[3] == "01" {
			sampled[tp[1]] = tp[2]
		}
	}
	if len(sampled) < requests/4 || len(sampled) > requests*3/4 {
		t.Fatalf("%d of %d requests sampled at ratio 0.5", len(sampled), requests)
	}
	servers, stores := 0, 0
	for _, s := range exp.GetSpans() {
		tid := s.SpanContext.TraceID().String()
		want, ok := sampled[tid]
		if !ok {
			t.Fatalf("span %q of trace %s exported, but its response said not sampled", s.Name, tid)
		}
		switch s.SpanKind {
		case trace.SpanKindServer:
			servers++
			if s.SpanContext.SpanID().String() != want {
				t.Errorf("server span %s, the response carried %s", s.SpanContext.SpanID(), want)
			}
			if s.Name != "GET /{code}" {
				t.Errorf("server span named %q", s.Name)
			}
		case trace.SpanKindClient:
			stores++
			if s.Parent.SpanID().String() != want {
				t.Errorf("store span's parent %s, want the server span %s", s.Parent.SpanID(), want)
			}
		}
	}
	if servers != len(sampled) || stores != len(sampled) {
		t.Errorf("exported %d server and %d store spans for %d sampled requests", servers, stores, len(sampled))
	}
}

// TestSampledParentIsHonoured: parent-based sampling (the default shape)
// follows the caller's flag whatever the ratio: a sampled caller's request
// is recorded under the caller's trace, an unsampled caller's is not.
func TestSampledParentIsHonoured(t *testing.T) {
	tr, exp := memTracing(t, map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"})
	h := testRouter(tr, nil, nil)
	w := serve(h, "GET", "/abc", http.Header{"Traceparent": {traceparent}})
	if got := w.Header().Get("Traceparent"); !strings.HasPrefix(got, "00-"+parentTraceID+"-") || !strings.HasSuffix(got, "-01") {
		t.Errorf("sampled caller: response traceparent %q", got)
	}
	if _, ok := spanByName(exp.GetSpans(), "GET /{code}"); !ok {
		t.Error("a sampled caller's request was not recorded")
	}
	exp.Reset()
	w = serve(h, "GET", "/abc", http.Header{"Traceparent": {"00-" + parentTraceID + "-" + parentSpanID + "-00"}})
	if got := w.Header().Get("Traceparent"); !strings.HasPrefix(got, "00-"+parentTraceID+"-") || !strings.HasSuffix(got, "-00") {
		t.Errorf("unsampled caller: response traceparent %q", got)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("%d spans recorded for an unsampled caller", n)
	}
	w = serve(h, "GET", "/abc", nil)
	if got := w.Header().Get("Traceparent"); !strings.HasSuffix(got, "-00") || len(got) != 55 {
		t.Errorf("no caller, ratio 0: response traceparent %q", got)
	}
}
