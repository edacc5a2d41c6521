package telemetry

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMiddlewareLabels(t *testing.T) {
	reg := NewRegistry()
	m := NewMetrics(reg, testResults)
	h := testRouter(nil, m, nil)
	tests := []struct {
		name, method, target string
		route, wantMethod    string
		status               int
	}{
		{"found", "GET", "/abc", "/{code}", "GET", 302},
		{"not found code", "GET", "/missing", "/{code}", "GET", 404},
		{"gone", "GET", "/gone", "/{code}", "GET", 410},
		{"handler error", "GET", "/boom", "/{code}", "GET", 500},
		{"nothing written is 200", "GET", "/silent", "/{code}", "GET", 200},
		{"static route", "GET", "/healthz", "/healthz", "GET", 200},
		{"post", "POST", "/api/v1/links", "/api/v1/links", "POST", 201},
		{"sub-router route", "GET", "/admin/stats", "/admin/stats", "GET", 200},
		{"sub-router miss is unmatched", "GET", "/admin/nope", RouteUnmatched, "GET", 404},
		{"sub-router wrong method is unmatched", "POST", "/admin/stats", RouteUnmatched, "POST", 405},
		{"wildcard route hit", "GET", "/files/a.txt", "/files/*", "GET", 200},
		{"wildcard route 404 keeps its pattern", "GET", "/files/nope.txt", "/files/*", "GET", 404},
		{"no route", "GET", "/a/b/c", RouteUnmatched, "GET", 404},
		{"wrong method", "DELETE", "/healthz", RouteUnmatched, "DELETE", 405},
		{"weird method", "BREW", "/abc", RouteUnmatched, MethodOther, 405},
		{"lowercase method", "get", "/abc", RouteUnmatched, MethodOther, 405},
		{"flusher works", "GET", "/stream", "/stream", "GET", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status := fmt.Sprint(tc.status)
			before := uint64(0)
			if h, ok := histSeries(t, reg, tc.route, tc.wantMethod, status); ok {
				before = h.GetSampleCount()
			}
			w := serve(h, tc.method, tc.target, nil)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			got, ok := histSeries(t, reg, tc.route, tc.wantMethod, status)
			if !ok {
				t.Fatalf("no series {route=%q method=%q status=%q}", tc.route, tc.wantMethod, status)
			}
			if got.GetSampleCount() != before+1 {
				t.Fatalf("count %d, want %d", got.GetSampleCount(), before+1)
			}
		})
	}
	if v := toFloat64(t, m.active); v != 0 {
		t.Errorf("active requests %v after all requests ended, want 0", v)
	}
}

func TestMiddlewarePanicCountsAs500(t *testing.T) {
	reg := NewRegistry()
	m := NewMetrics(reg, testResults)
	h := testRouter(nil, m, nil)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic was swallowed; it must reach the server's recovery")
			}
		}()
		serve(h, "GET", "/panic", nil)
	}()
	if got, ok := histSeries(t, reg, "/{code}", "GET", "500"); !ok || got.GetSampleCount() != 1 {
		t.Fatalf("panic not counted as a 500: %v %v", got, ok)
	}
	if v := toFloat64(t, m.active); v != 0 {
		t.Errorf("active requests %v after a panic, want 0", v)
	}
}

func TestActiveRequestsGauge(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry(), testResults)
	entered, release := make(chan struct{}), make(chan struct{})
	r := testRouter(nil, m, nil)
	r.Get("/slow/x", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	done := make(chan struct{})
	go func() { serve(r, "GET", "/slow/x", nil); close(done) }()
	<-entered
	if v := toFloat64(t, m.active); v != 1 {
		t.Errorf("active requests %v during a request, want 1", v)
	}
	close(release)
	<-done
	if v := toFloat64(t, m.active); v != 0 {
		t.Errorf("active requests %v after, want 0", v)
	}
}

func TestInitHTTPCreatesSeriesAtZero(t *testing.T) {
	reg := NewRegistry()
	m := NewMetrics(reg, testResults)
	m.InitHTTP(testRoutes)
	want := []struct{ route, method, status string }{
		{"/{code}", "GET", "302"},
		{"/{code}", "GET", "404"},
		{"/{code}", "GET", "500"},
		{"/api/v1/links", "POST", "201"},
		{"/api/v1/links", "POST", "409"},
		{"/healthz", "GET", "200"},
		{RouteUnmatched, "GET", "404"},
		{RouteUnmatched, "GET", "405"},
		{RouteUnmatched, "GET", "500"},
		{RouteUnmatched, "POST", "405"},
		{RouteUnmatched, "HEAD", "404"},
		{RouteUnmatched, MethodOther, "405"},
	}
	for _, w := range want {
		h, ok := histSeries(t, reg, w.route, w.method, w.status)
		if !ok {
			t.Errorf("series %v missing before any traffic", w)
			continue
		}
		if h.GetSampleCount() != 0 {
			t.Errorf("series %v has count %d, want 0", w, h.GetSampleCount())
		}
	}
	// Business series exist at zero too.
	text := textExposition(t, reg)
	for _, line := range []string{
		`shortener_links_created_total{result="created"} 0`,
		`shortener_links_created_total{result="conflict"} 0`,
		`shortener_links_created_total{result="invalid"} 0`,
		`shortener_links_created_total{result="error"} 0`,
		`shortener_redirects_total{result="found"} 0`,
		`shortener_redirects_total{result="not_found"} 0`,
		`shortener_redirects_total{result="expired"} 0`,
		`shortener_redirects_total{result="deleted"} 0`,
		`shortener_cache_lookups_total{result="hit"} 0`,
		`shortener_cache_lookups_total{result="miss"} 0`,
		`shortener_visit_flush_batches_total{result="ok"} 0`,
		`shortener_visit_flush_batches_total{result="error"} 0`,
		`shortener_store_errors_total{operation="get"} 0`,
		`shortener_visits_flushed_total 0`,
		`shortener_fault_injection_enabled 0`,
		`http_server_active_requests 0`,
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("exposition lacks %q", line)
		}
	}
}

// TestCardinalityBounded sends thousands of distinct codes, paths and
// methods and checks that the number of exported series does not move: it
// is fixed by InitHTTP before any traffic.
func TestCardinalityBounded(t *testing.T) {
	reg := NewRegistry()
	m := NewMetrics(reg, testResults)
	m.InitHTTP(testRoutes)
	tr, _ := memTracing(t, nil)
	if err := tr.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	h := testRouter(tr, m, NewLogger(io.Discard, 0))
	rng := rand.New(rand.NewPCG(1, 2))
	methods := []string{"GET", "GET", "GET", "POST", "HEAD", "DELETE", "PUT", "PATCH", "OPTIONS", "BREW", "get", "M-SEARCH", "PROPFIND"}
	// Warm up: one request of each method on each kind of path, so that the
	// few series InitHTTP does not create (unmatched x rare methods) exist
	// before the baseline. From then on nothing may add a series.
	for _, method := range methods {
		for _, target := range []string{"/c1", "/x1", "/a/b/c", "/admin/1", "/api/v1/links", "/healthz", "/files/x"} {
			serve(h, method, target, nil)
		}
	}
	baseline := seriesCount(t, reg)
	garbage := func() string {
		// Random bytes, escaped: slashes, dots, %2F, invalid UTF-8, ...
		b := make([]byte, 1+rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return "/" + strings.ReplaceAll(url.PathEscape(string(b)), "%2F", "/")
	}
	const n = 5000
	for i := range n {
		var target string
		switch i % 7 {
		case 0:
			target = fmt.Sprintf("/c%06d", i) // existing-looking codes
		case 1:
			target = fmt.Sprintf("/x%06d", i) // unknown codes: 404
		case 2:
			target = fmt.Sprintf("/%d/%d/deep/path", i, i*7) // no route
		case 3:
			target = garbage()
		case 4:
			target = fmt.Sprintf("/admin/%d", i) // sub-router miss
		case 5:
			target = fmt.Sprintf("/api/v1/links?i=%d", i)
		case 6:
			target = fmt.Sprintf("/files/%d/%s", i, garbage()) // wildcard route
		}
		serve(h, methods[rng.IntN(len(methods))], target, http.Header{"User-Agent": {fmt.Sprint(i)}})
	}
	if got := seriesCount(t, reg); got != baseline {
		t.Fatalf("series grew with traffic: %d before, %d after %d distinct requests\n%s", baseline, got, n, textExposition(t, reg))
	}
}

var exemplarRE = regexp.MustCompile(`http_server_request_duration_seconds_bucket\{[^}]*http_route="/\{code\}"[^}]*\} \d+ # \{([^}]*)\}`)

func TestExemplarCarriesTraceID(t *testing.T) {
	reg := NewRegistry()
	m := NewMetrics(reg, testResults)
	tr, exp := memTracing(t, nil)
	h := testRouter(tr, m, nil)
	serve(h, "GET", "/abc", nil)
	spans := exp.GetSpans()
	var traceID, spanID string
	for _, s := range spans {
		if s.Name == "GET /{code}" {
			traceID, spanID = s.SpanContext.TraceID().String(), s.SpanContext.SpanID().String()
		}
	}
	if traceID == "" {
		t.Fatalf("no server span among %d", len(spans))
	}

	srv := httptest.NewServer(MetricsHandler(reg))
	defer srv.Close()
	scrape := func(accept string) (string, string) {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("Content-Type"), string(b)
	}

	ct, body := scrape("application/openmetrics-text; version=1.0.0; charset=utf-8")
	if !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Fatalf("content type %q, want OpenMetrics", ct)
	}
	match := exemplarRE.FindStringSubmatch(body)
	if match == nil {
		t.Fatalf("no exemplar on the /{code} buckets:\n%s", grepLines(body, "http_server_request_duration_seconds_bucket"))
	}
	if want := fmt.Sprintf(`trace_id="%s"`, traceID); !strings.Contains(match[1], want) {
		t.Errorf("exemplar %q lacks %s", match[1], want)
	}
	if want := fmt.Sprintf(`span_id="%s"`, spanID); !strings.Contains(match[1], want) {
		t.Errorf("exemplar %q lacks %s", match[1], want)
	}

	// The plain text format (what promtool reads) carries no exemplars.
	ct, body = scrape("")
	if !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("default content type %q, want text/plain", ct)
	}
	if strings.Contains(body, "trace_id") {
		t.Error("text format carries exemplars")
	}
}

func TestNoExemplarWhenNotSampled(t *testing.T) {
	reg := NewRegistry()
	m := NewMetrics(reg, testResults)
	// No endpoint and no caller trace: the span is not sampled (but has
	// ids). TestNoEndpointPassesTheCallersDecisionOn covers a sampled caller.
	tr, err := SetupTracing(t.Context(), mapEnv(nil), "shortener-test", "v0")
	if err != nil {
		t.Fatal(err)
	}
	h := testRouter(tr, m, nil)
	serve(h, "GET", "/abc", nil)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	MetricsHandler(reg).ServeHTTP(rec, req)
	if strings.Contains(rec.Body.String(), "trace_id") {
		t.Errorf("exemplar on a request that was not sampled:\n%s", grepLines(rec.Body.String(), "trace_id"))
	}
}

func grepLines(s, substr string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
