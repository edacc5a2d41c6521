package telemetry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/obsshort/shortener/internal/testenv"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

const (
	parentTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentSpanID  = "00f067aa0ba902b7"
	traceparent   = "00-" + parentTraceID + "-" + parentSpanID + "-01"
)

func spanByName(spans tracetest.SpanStubs, name string) (tracetest.SpanStub, bool) {
	for _, s := range spans {
		if s.Name == name {
			return s, true
		}
	}
	return tracetest.SpanStub{}, false
}

func attrMap(kvs []attribute.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

func remoteParent(t *testing.T, sampled bool) trace.SpanContext {
	t.Helper()
	tid, _ := trace.TraceIDFromHex(parentTraceID)
	sid, _ := trace.SpanIDFromHex(parentSpanID)
	var flags trace.TraceFlags
	if sampled {
		flags = trace.FlagsSampled
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, Remote: true})
}

func TestSetupTracingConfig(t *testing.T) {
	// A port nobody listens on: never send test spans to a real collector.
	closed := "http://" + testenv.FreeAddr(t)
	tests := []struct {
		name      string
		env       map[string]string
		exporting bool
		wantErr   string
	}{
		{"no endpoint: nothing exported", nil, false, ""},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": closed}, true, ""},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": closed + "/v1/traces"}, true, ""},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": closed, "OTEL_TRACES_EXPORTER": "none"}, false, ""},
		{"sdk disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": closed, "OTEL_SDK_DISABLED": "true"}, false, ""},
		{"bad endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:4318"}, false, "endpoint"},
		{"grpc unsupported", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, "protocol"},
		{"bad sampler", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_TRACES_SAMPLER": "nope"}, false, "sampler"},
		{"bad headers", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, false, "headers"},
		{"bad resource", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "=x"}, false, "OTEL_RESOURCE_ATTRIBUTES"},
		{"zipkin unsupported", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, "OTEL_TRACES_EXPORTER"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := SetupTracing(t.Context(), mapEnv(tc.env), "shortener", "v0")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Shutdown(context.Background())
			if tr.Exporting() != tc.exporting {
				t.Errorf("exporting %v, want %v", tr.Exporting(), tc.exporting)
			}
			// Whatever the setup, requests get a trace id for log
			// correlation, and an incoming sampled trace is continued,
			// sampled.
			w := serve(testRouter(tr, nil, nil), "GET", "/abc", http.Header{"Traceparent": {traceparent}})
			if got := w.Header().Get("Traceparent"); !strings.Contains(got, parentTraceID) || !strings.HasSuffix(got, "-01") {
				t.Errorf("response traceparent %q does not continue %s sampled", got, parentTraceID)
			}
		})
	}
}

func TestNilTracingIsNoop(t *testing.T) {
	var tr *Tracing
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	if h := tr.Middleware(next); fmt.Sprintf("%p", h) != fmt.Sprintf("%p", next) {
		t.Error("nil Tracing.Middleware must return next unchanged")
	}
	ctx := context.Background()
	ctx2, end := tr.StartStoreSpan(ctx, "get")
	end(nil)
	end(io.EOF)
	if ctx2 != ctx {
		t.Error("nil Tracing changed the context")
	}
	if err := tr.Shutdown(ctx); err != nil {
		t.Error(err)
	}
	if tr.Exporting() {
		t.Error("nil Tracing exporting")
	}
	// Telemetry off: the request is served, and no trace context is made
	// up or echoed.
	w := serve(testRouter(nil, nil, nil), "GET", "/abc", http.Header{"Traceparent": {traceparent}})
	if w.Code != http.StatusFound {
		t.Errorf("status %d", w.Code)
	}
	if got := w.Header().Get("Traceparent"); got != "" {
		t.Errorf("response traceparent %q with tracing off", got)
	}
}
