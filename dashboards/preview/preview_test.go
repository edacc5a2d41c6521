package preview

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/promclient"
	"github.com/obsshort/shortener/internal/testenv"
)

// fakeProm answers range and instant queries: "empty" in the query gives no
// series, "nan" only NaN, "bad(" a refused query, anything else two series.
func fakeProm(t *testing.T) *promclient.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		q := r.Form.Get("query")
		w.Header().Set("Content-Type", "application/json")
		now := time.Now().Unix()
		switch {
		case strings.Contains(q, "bad("):
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"parse error: unclosed left parenthesis"}`)
		case strings.HasSuffix(r.URL.Path, "/query_range") && strings.Contains(q, "empty"):
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"matrix","result":[]}}`)
		case strings.HasSuffix(r.URL.Path, "/query_range") && strings.Contains(q, "nan"):
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"track":"stable"},"values":[[%d,"NaN"]]}]}}`, now)
		case strings.HasSuffix(r.URL.Path, "/query_range"):
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[`+
				`{"metric":{"track":"stable","le":"0.1"},"values":[[%d,"1"],[%d,"2"],[%d,"3"]]},`+
				`{"metric":{"track":"canary","le":"+Inf"},"values":[[%d,"0"],[%d,"1"],[%d,"0.5"]]}]}}`, now-60, now-30, now, now-60, now-30, now)
		default:
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"version":"v2","track":"canary"},"value":[%d,"1"]}]}}`, now)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := promclient.New(srv.URL, promclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func panelJSON(typ, title, expr string, y int, instant bool) map[string]any {
	return map[string]any{
		"type": typ, "title": title,
		"gridPos":     map[string]any{"x": 0.0, "y": float64(y), "w": 12.0, "h": 6.0},
		"fieldConfig": map[string]any{"defaults": map[string]any{"unit": "percentunit"}},
		"targets":     []any{map[string]any{"expr": expr, "legendFormat": "{{track}}", "instant": instant}},
	}
}

func substitute(expr string, vars map[string]string) string {
	return strings.ReplaceAll(expr, "$job", vars["job"])
}

// TestPreviewShowsWhatHasNoData renders a dashboard whose panels have
// data, no series, only NaN and a refused query, and opens it in headless
// Chromium: only the panels with data count as shown; the others say "No
// data" or the error, in the page and to the browser check.
func TestPreviewShowsWhatHasNoData(t *testing.T) {
	chromium := testenv.RequireTool(t, "chromium")
	src := Source{File: "test.json", Title: "Test", Panels: []map[string]any{
		{"type": "row", "title": "Row", "gridPos": map[string]any{"x": 0.0, "y": 0.0, "w": 24.0, "h": 1.0}},
		panelJSON("timeseries", "lines", `rate(x{job="$job"}[1m])`, 1, false),
		panelJSON("stat", "stat", `sum(x)`, 7, false),
		panelJSON("table", "table", `count by (version) (x)`, 13, true),
		panelJSON("bargauge", "bars", `x`, 19, false),
		panelJSON("heatmap", "heatmap", `sum by (le) (x)`, 25, false),
		panelJSON("state-timeline", "states", `x`, 31, false),
		panelJSON("timeseries", "empty", `empty_metric`, 37, false),
		panelJSON("stat", "only NaN", `nan_metric / 0`, 43, false),
		panelJSON("timeseries", "refused", `bad(`, 49, false),
	}}
	ctx := context.Background()
	page, err := Evaluate(ctx, Config{Prometheus: fakeProm(t), Range: time.Minute, Substitute: substitute, Vars: map[string]string{"job": "shortener"}}, src)
	if err != nil {
		t.Fatal(err)
	}
	html := filepath.Join(t.TempDir(), "test.html")
	if err := page.WriteFile(html); err != nil {
		t.Fatal(err)
	}
	b, err := NewBrowser(ctx, chromium, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	png := filepath.Join(t.TempDir(), "test.png")
	seen, err := b.Inspect(ctx, html, png)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"lines": true, "stat": true, "table": true, "bars": true, "heatmap": true, "states": true, "empty": false, "only NaN": false, "refused": false}
	if len(seen) != len(want) {
		t.Fatalf("the browser shows %d panels, want %d: %+v", len(seen), len(want), seen)
	}
	for _, s := range seen {
		if s.OK() != want[s.Title] {
			t.Errorf("panel %q: shown ok = %v, want %v (%+v)", s.Title, s.OK(), want[s.Title], s)
		}
	}
	for _, s := range seen {
		switch s.Title {
		case "empty", "only NaN":
			if s.State != StateNoData || s.Shown != "No data" {
				t.Errorf("%q: %+v, want No data", s.Title, s)
			}
		case "refused":
			if s.State != StateError || !strings.Contains(s.Shown, "unclosed left parenthesis") {
				t.Errorf("%q: %+v, want the server's error", s.Title, s)
			}
		}
	}
	if got := page.Summary(); !strings.Contains(got, "9 panels, 3 without data") {
		t.Errorf("summary %q", got)
	}
	if st, err := os.Stat(png); err != nil || st.Size() < 1000 {
		t.Errorf("screenshot: %v", err)
	}
}

func TestFormat(t *testing.T) {
	two := 2
	for _, tt := range []struct {
		v    float64
		unit string
		dec  *int
		want string
	}{
		{0.0123, "percentunit", nil, "1.23%"},
		{0.5, "percentunit", &two, "50.00%"},
		{0.0042, "s", nil, "4.2 ms"},
		{90, "s", nil, "90.00 s"},
		{5400, "s", nil, "90.0 min"},
		{3 * 1024 * 1024, "bytes", nil, "3.0 MiB"},
		{1500, "reqps", nil, "1500 req/s"},
		{25000, "short", nil, "25.00 k"},
		{3, "short", nil, "3"},
		{0, "dateTimeAsIso", nil, "never"},
	} {
		if got := Format(tt.v, tt.unit, tt.dec); got != tt.want {
			t.Errorf("Format(%v, %q) = %q, want %q", tt.v, tt.unit, got, tt.want)
		}
	}
}
