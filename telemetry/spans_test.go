package telemetry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

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
