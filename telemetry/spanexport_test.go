package telemetry

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/testenv"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is a minimal OTLP/HTTP trace receiver: it decodes the
// protobuf payloads posted to /v1/traces.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	reqs  []*coltracepb.ExportTraceServiceRequest
	got   chan struct{}
	heads []http.Header
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	rcv := &otlpReceiver{got: make(chan struct{}, 100)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
			http.Error(w, "content type "+ct, http.StatusUnsupportedMediaType)
			return
		}
		req := &coltracepb.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(b, req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rcv.mu.Lock()
		rcv.reqs = append(rcv.reqs, req)
		rcv.heads = append(rcv.heads, r.Header.Clone())
		rcv.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
		rcv.got <- struct{}{}
	})
	rcv.Server = httptest.NewServer(mux)
	t.Cleanup(rcv.Close)
	return rcv
}

type receivedSpan struct {
	name, traceID, spanID, parentID string
	attrs, resource                 map[string]string
}

func (r *otlpReceiver) spans() []receivedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	kv := func(kvs []*commonpb.KeyValue) map[string]string {
		m := map[string]string{}
		for _, a := range kvs {
			v := a.GetValue()
			switch {
			case v.GetStringValue() != "":
				m[a.GetKey()] = v.GetStringValue()
			default:
				m[a.GetKey()] = strings.TrimSpace(strings.TrimPrefix(v.String(), "int_value:"))
			}
		}
		return m
	}
	var out []receivedSpan
	for _, req := range r.reqs {
		for _, rs := range req.GetResourceSpans() {
			res := kv(rs.GetResource().GetAttributes())
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					out = append(out, receivedSpan{
						name:     s.GetName(),
						traceID:  hex.EncodeToString(s.GetTraceId()),
						spanID:   hex.EncodeToString(s.GetSpanId()),
						parentID: hex.EncodeToString(s.GetParentSpanId()),
						attrs:    kv(s.GetAttributes()),
						resource: res,
					})
				}
			}
		}
	}
	return out
}

// TestOTLPExportToRealReceiver runs a real request through a real server
// with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a receiver in the test, and
// checks that its spans arrive there with the incoming trace id.
func TestOTLPExportToRealReceiver(t *testing.T) {
	rcv := newOTLPReceiver(t)
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL,
		"OTEL_EXPORTER_OTLP_HEADERS":  "x-tenant=shortener",
		"OTEL_SERVICE_NAME":           "shortener-it",
		"OTEL_TRACES_SAMPLER":         "parentbased_always_on",
	}
	tr, err := SetupTracing(t.Context(), mapEnv(env), "shortener", "v7.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Exporting() {
		t.Fatal("not exporting with an endpoint set")
	}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, testResults)
	app := httptest.NewServer(testRouter(tr, m, nil))
	defer app.Close()

	req, _ := http.NewRequest("GET", app.URL+"/abc", nil)
	req.Header.Set("Traceparent", traceparent)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// Shutdown flushes the batch processor.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	spans := rcv.spans()
	var server, store *receivedSpan
	for i := range spans {
		switch spans[i].name {
		case "GET /{code}":
			server = &spans[i]
		case "sqlite get":
			store = &spans[i]
		}
	}
	if server == nil || store == nil {
		t.Fatalf("spans received: %+v", spans)
	}
	if server.traceID != parentTraceID || server.parentID != parentSpanID {
		t.Errorf("server span trace %s parent %s, want %s %s", server.traceID, server.parentID, parentTraceID, parentSpanID)
	}
	if store.traceID != parentTraceID || store.parentID != server.spanID {
		t.Errorf("store span not a child of the server span: %+v", store)
	}
	if server.attrs["http.route"] != "/{code}" || server.attrs["http.response.status_code"] != "302" {
		t.Errorf("server span attributes %v", server.attrs)
	}
	if server.resource["service.name"] != "shortener-it" || server.resource["service.version"] != "v7.0.0" {
		t.Errorf("resource %v", server.resource)
	}
	rcv.mu.Lock()
	if got := rcv.heads[0].Get("X-Tenant"); got != "shortener" {
		t.Errorf("OTEL_EXPORTER_OTLP_HEADERS not sent: %q", got)
	}
	rcv.mu.Unlock()
}

// TestCollectorDownDoesNotSlowRequests points the exporter at a closed port
// and at a collector that never answers: requests stay fast, spans beyond
// the bounded queue are dropped and counted.
func TestCollectorDownDoesNotSlowRequests(t *testing.T) {
	hangRelease := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hangRelease:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(hangRelease) }) // runs before hanging.Close

	const exportTimeout = 3 * time.Second
	tests := []struct {
		name     string
		endpoint string
		reason   string
	}{
		{"closed port", "http://" + testenv.FreeAddr(t), "export_failed"},
		{"hanging collector", hanging.URL, "queue_full"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": tc.endpoint, "OTEL_TRACES_SAMPLER": "always_on"}
			// Small batches so that exports (and their failures) happen
			// while requests are served; a long export timeout so that a
			// request waiting on an export would be unmistakable.
			tr, err := setupTracing(t.Context(), mapEnv(env), "shortener", "v0", tracingOptions{
				exportTimeout: exportTimeout,
				queueLimit:    64,
				batch:         []sdktrace.BatchSpanProcessorOption{sdktrace.WithMaxExportBatchSize(8), sdktrace.WithBatchTimeout(20 * time.Millisecond)},
			})
			if err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			if err := tr.RegisterMetrics(reg); err != nil {
				t.Fatal(err)
			}
			var logs syncBuffer
			tr.SetLogger(NewLogger(&logs, slog.LevelInfo))
			app := httptest.NewServer(testRouter(tr, NewMetrics(reg, testResults), nil))
			defer app.Close()
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

			const n = 300 // far more spans than the queue holds
			var slowest time.Duration
			start := time.Now()
			for range n {
				t0 := time.Now()
				resp, err := client.Get(app.URL + "/abc")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				slowest = max(slowest, time.Since(t0))
			}
			total := time.Since(start)
			// Generous bounds for -race on a busy machine: a request that
			// waited for the exporter would take an export timeout (3 s).
			if slowest > exportTimeout/2 || total > 20*time.Second {
				t.Errorf("requests slowed by the collector: slowest %v, total %v for %d", slowest, total, n)
			}
			t.Logf("%d requests in %v, slowest %v", n, total, slowest)

			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			t0 := time.Now()
			_ = tr.Shutdown(ctx)
			if d := time.Since(t0); d > 2*time.Second {
				t.Errorf("shutdown took %v despite a 1s deadline", d)
			}
			// Wait for the in-flight exports to fail and be counted.
			deadline := time.Now().Add(2*exportTimeout + 5*time.Second)
			for {
				text := textExposition(t, reg)
				full, failed := dropValue(text, "queue_full"), dropValue(text, "export_failed")
				if dropValue(text, tc.reason) > 0 && failed > 0 {
					t.Logf("dropped: queue_full %v, export_failed %v", full, failed)
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no %s drops counted:\n%s", tc.reason, text)
				}
				time.Sleep(50 * time.Millisecond)
			}
			// Export errors reach the service's logger, rate-limited.
			lines := logs.lines(t)
			if len(lines) != 1 || lines[0]["msg"] != "trace export failed; spans dropped" || lines[0]["level"] != "WARN" {
				t.Errorf("export error log lines: %v", lines)
			}
		})
	}
}

func dropValue(text, reason string) float64 {
	prefix := MetricTraceSpansDropped + `{reason="` + reason + `"} `
	for line := range strings.SplitSeq(text, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return -1
			}
			return f
		}
	}
	return -1
}
