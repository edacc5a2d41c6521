package telemetry

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/testenv"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
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

func TestServerAndStoreSpans(t *testing.T) {
	tests := []struct {
		name, method, target string
		header               http.Header
		wantName             string
		wantAttrs            map[string]string
		absentAttrs          []string
		wantParent           bool // continues the incoming trace
		wantStore            bool
		wantError            bool
	}{
		{
			name: "redirect continues incoming trace", method: "GET", target: "/abc",
			header:   http.Header{"Traceparent": {traceparent}},
			wantName: "GET /{code}",
			wantAttrs: map[string]string{
				"http.request.method": "GET", "http.route": "/{code}",
				"http.response.status_code": "302", "url.scheme": "http",
				"network.protocol.version": "1.1",
			},
			absentAttrs: []string{"url.path", "url.full", "server.address"},
			wantParent:  true, wantStore: true,
		},
		{
			name: "new trace without traceparent", method: "GET", target: "/missing",
			wantName:  "GET /{code}",
			wantAttrs: map[string]string{"http.route": "/{code}", "http.response.status_code": "404"},
			wantStore: true,
		},
		{
			name: "server error marks span", method: "GET", target: "/boom",
			wantName:  "GET /{code}",
			wantAttrs: map[string]string{"http.response.status_code": "500", "error.type": "500"},
			wantStore: true, wantError: true,
		},
		{
			name: "unmatched has no route", method: "GET", target: "/no/such/path",
			wantName:    "GET",
			wantAttrs:   map[string]string{"http.response.status_code": "404"},
			absentAttrs: []string{"http.route"},
		},
		{
			name: "weird method", method: "BREW", target: "/abc",
			wantName:  "HTTP",
			wantAttrs: map[string]string{"http.request.method": "_OTHER", "http.request.method_original": "BREW", "http.response.status_code": "405"},
		},
		{
			name: "post", method: "POST", target: "/api/v1/links",
			wantName:  "POST /api/v1/links",
			wantAttrs: map[string]string{"http.route": "/api/v1/links", "http.response.status_code": "201"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, exp := memTracing(t, nil)
			w := serve(testRouter(tr, nil, nil), tc.method, tc.target, tc.header)
			spans := exp.GetSpans()
			srv, ok := spanByName(spans, tc.wantName)
			if !ok {
				names := []string{}
				for _, s := range spans {
					names = append(names, s.Name)
				}
				t.Fatalf("no span %q among %q", tc.wantName, names)
			}
			if srv.SpanKind != trace.SpanKindServer {
				t.Errorf("kind %v, want server", srv.SpanKind)
			}
			attrs := attrMap(srv.Attributes)
			for k, v := range tc.wantAttrs {
				if attrs[k] != v {
					t.Errorf("attribute %s = %q, want %q (all: %v)", k, attrs[k], v, attrs)
				}
			}
			for _, k := range tc.absentAttrs {
				if _, ok := attrs[k]; ok {
					t.Errorf("attribute %s must not be set", k)
				}
			}
			if tc.wantParent {
				if got := srv.SpanContext.TraceID().String(); got != parentTraceID {
					t.Errorf("trace id %s, want the incoming %s", got, parentTraceID)
				}
				if got := srv.Parent.SpanID().String(); got != parentSpanID || !srv.Parent.IsRemote() {
					t.Errorf("parent %s (remote %v), want remote %s", got, srv.Parent.IsRemote(), parentSpanID)
				}
			} else if srv.Parent.IsValid() {
				t.Errorf("unexpected parent %v", srv.Parent)
			}
			if (srv.Status.Code == codes.Error) != tc.wantError {
				t.Errorf("status %v, want error=%v", srv.Status, tc.wantError)
			}
			// The response carries the server span's traceparent.
			if got, want := w.Header().Get("Traceparent"), "00-"+srv.SpanContext.TraceID().String()+"-"+srv.SpanContext.SpanID().String()+"-01"; got != want {
				t.Errorf("response traceparent %q, want %q", got, want)
			}
			store, ok := spanByName(spans, "sqlite get")
			if ok != tc.wantStore {
				t.Fatalf("store span present %v, want %v", ok, tc.wantStore)
			}
			if !ok {
				return
			}
			if store.Parent.SpanID() != srv.SpanContext.SpanID() || store.SpanContext.TraceID() != srv.SpanContext.TraceID() {
				t.Errorf("store span is not a child of the server span")
			}
			sa := attrMap(store.Attributes)
			if sa["db.system"] != "sqlite" || sa["db.operation.name"] != "get" {
				t.Errorf("store span attributes %v", sa)
			}
			if store.SpanKind != trace.SpanKindClient {
				t.Errorf("store span kind %v, want client", store.SpanKind)
			}
		})
	}
}

// storeFailure is an error type of the test's own, with user data in its
// text.
type storeFailure struct{ code string }

func (e storeFailure) Error() string { return "no space left while storing " + e.code }

// TestStoreSpanError: a failed store operation marks its span as an error
// and names the kind of error in error.type (the Go type of the innermost
// wrapped error, as documented), never its text, which may quote user data.
func TestStoreSpanError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		kind error // the error whose type names the kind
	}{
		{"sentinel", io.ErrUnexpectedEOF, io.ErrUnexpectedEOF},
		{"own type", storeFailure{code: "secret-alias"}, storeFailure{}},
		// A wrap says nothing of the kind: the innermost error does.
		{"wrapped", fmt.Errorf("insert secret-alias: %w", storeFailure{code: "secret-alias"}), storeFailure{}},
		{"wrapped twice", fmt.Errorf("tx: %w", fmt.Errorf("insert: %w", io.ErrUnexpectedEOF)), io.ErrUnexpectedEOF},
	}
	seen := map[string]string{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, exp := memTracing(t, nil)
			_, end := tr.StartStoreSpan(context.Background(), "create")
			end(tc.err)
			s, ok := spanByName(exp.GetSpans(), "sqlite create")
			if !ok {
				t.Fatal("no store span")
			}
			if s.Status.Code != codes.Error {
				t.Errorf("status %v, want error", s.Status)
			}
			got := attrMap(s.Attributes)["error.type"]
			if want := reflect.TypeOf(tc.kind).String(); got == "" || got != want {
				t.Errorf("error.type %q, want the type of the error's kind %q", got, want)
			}
			for _, leak := range []string{tc.err.Error(), "secret-alias", "unexpected EOF"} {
				if strings.Contains(s.Status.Description, leak) || strings.Contains(got, leak) {
					t.Errorf("error text %q leaked into the span: status %q, error.type %q", leak, s.Status.Description, got)
				}
			}
			seen[tc.name] = got
		})
	}
	// Different kinds of error are told apart.
	if seen["sentinel"] == seen["own type"] {
		t.Errorf("error.type does not tell kinds apart: %v", seen)
	}
}

// TestStoreSpanSuccessHasNoError: the counterpart, so that the error
// marking above cannot be unconditional.
func TestStoreSpanSuccessHasNoError(t *testing.T) {
	tr, exp := memTracing(t, nil)
	_, end := tr.StartStoreSpan(context.Background(), "get")
	end(nil)
	s, ok := spanByName(exp.GetSpans(), "sqlite get")
	if !ok {
		t.Fatal("no store span")
	}
	if s.Status.Code == codes.Error {
		t.Errorf("status %v on success", s.Status)
	}
	if _, ok := attrMap(s.Attributes)["error.type"]; ok {
		t.Error("error.type set on success")
	}
}

func TestResourceFromEnv(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		wantService string
		wantVersion string
		wantExtra   map[string]string
	}{
		{"defaults", nil, "shortener-test", "v1.2.3", nil},
		{"OTEL_SERVICE_NAME wins", map[string]string{
			"OTEL_SERVICE_NAME":        "short-canary",
			"OTEL_RESOURCE_ATTRIBUTES": "service.name=ignored,deployment.environment.name=prod,team=sre%20core",
		}, "short-canary", "v1.2.3", map[string]string{"deployment.environment.name": "prod", "team": "sre core"}},
		{"service.name from attributes", map[string]string{
			"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs, service.version=v9",
		}, "from-attrs", "v9", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, exp := memTracing(t, tc.env)
			_, end := tr.StartStoreSpan(context.Background(), "get")
			end(nil)
			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("%d spans", len(spans))
			}
			attrs := attrMap(spans[0].Resource.Attributes())
			if attrs["service.name"] != tc.wantService || attrs["service.version"] != tc.wantVersion {
				t.Errorf("service %q %q, want %q %q", attrs["service.name"], attrs["service.version"], tc.wantService, tc.wantVersion)
			}
			for k, v := range tc.wantExtra {
				if attrs[k] != v {
					t.Errorf("resource %s = %q, want %q", k, attrs[k], v)
				}
			}
			if attrs["telemetry.sdk.name"] != "opentelemetry" {
				t.Errorf("resource lacks the SDK attributes: %v", attrs)
			}
		})
	}
}

func TestSamplerFromEnv(t *testing.T) {
	sampled := trace.ContextWithRemoteSpanContext(context.Background(), remoteParent(t, true))
	unsampled := trace.ContextWithRemoteSpanContext(context.Background(), remoteParent(t, false))
	tests := []struct {
		sampler, arg        string
		rootSampled         bool
		sampledParentKept   bool
		unsampledParentKept bool
		wantErr             bool
	}{
		// parentbased_traceidratio 0.1: a new root trace is kept at random
		// (TestDefaultSamplerKeepsAShare checks the share), parents are followed.
		{"", "", false, true, false, false},
		{"parentbased_always_on", "", true, true, false, false},
		{"always_on", "", true, true, true, false},
		{"always_off", "", false, false, false, false},
		{"parentbased_always_off", "", false, true, false, false},
		{"traceidratio", "0", false, false, false, false},
		{"parentbased_traceidratio", "0", false, true, false, false},
		{"parentbased_traceidratio", "1", true, true, false, false},
		{"traceidratio", "1.5", false, false, false, true},
		{"jaeger_remote", "", false, false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.sampler+"/"+tc.arg, func(t *testing.T) {
			_, err := samplerFromEnv(mapEnv(map[string]string{"OTEL_TRACES_SAMPLER": tc.sampler, "OTEL_TRACES_SAMPLER_ARG": tc.arg}))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			tr, exp := memTracing(t, map[string]string{"OTEL_TRACES_SAMPLER": tc.sampler, "OTEL_TRACES_SAMPLER_ARG": tc.arg})
			for _, c := range []struct {
				ctx  context.Context
				want bool
			}{{context.Background(), tc.rootSampled}, {sampled, tc.sampledParentKept}, {unsampled, tc.unsampledParentKept}} {
				if tc.sampler == "" && c.ctx == context.Background() {
					continue // random by design
				}
				exp.Reset()
				_, end := tr.StartStoreSpan(c.ctx, "get")
				end(nil)
				if got := len(exp.GetSpans()) == 1; got != c.want {
					t.Errorf("sampled %v, want %v", got, c.want)
				}
			}
		})
	}
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

// With OTEL_TRACES_SAMPLER unset, a share near DefaultSampleRatio of new
// traces is recorded, and a caller's sampled parent is always followed.
func TestDefaultSamplerKeepsAShare(t *testing.T) {
	tr, exp := memTracing(t, map[string]string{"OTEL_TRACES_SAMPLER": ""})
	h := testRouter(tr, nil, nil)
	const n = 4000
	for range n {
		serve(h, "GET", "/abc", nil)
	}
	servers := 0
	for _, s := range exp.GetSpans() {
		if s.Name == "GET /{code}" {
			servers++
		}
	}
	share := float64(servers) / n
	if share < DefaultSampleRatio*0.7 || share > DefaultSampleRatio*1.3 {
		t.Fatalf("default sampler kept %.3f of new traces, want about %.2f", share, DefaultSampleRatio)
	}
}
