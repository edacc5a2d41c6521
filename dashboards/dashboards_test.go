package dashboards

import (
	"errors"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/obsshort/shortener/alerts"
	"github.com/obsshort/shortener/dashboards/metriccheck"
	"github.com/obsshort/shortener/telemetry"
)

// staticVars are the values the static checks substitute for Grafana's
// variables: "All" for the multi-value ones, typical durations otherwise.
func staticVars() map[string]string {
	return map[string]string{
		"job": ".*", "instance": ".*", "track": ".*",
		"__rate_interval": "1m", "__interval": "15s", "__range": "1h",
	}
}

func mustLoad(t *testing.T) []Dashboard {
	t.Helper()
	ds, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestTheFiveDashboards pins the set of dashboards the issue asks for, by
// uid, so a dashboard cannot silently disappear.
func TestTheFiveDashboards(t *testing.T) {
	want := map[string]string{
		"shortener-overview": "overview.json",
		"shortener-slo":      "slo.json",
		"shortener-canary":   "canary.json",
		"shortener-pipeline": "pipeline.json",
		"shortener-runtime":  "runtime.json",
	}
	got := map[string]string{}
	for _, d := range mustLoad(t) {
		if prev, dup := got[d.UID]; dup {
			t.Errorf("uid %q used by %s and %s", d.UID, prev, d.File)
		}
		got[d.UID] = d.File
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dashboards by uid = %v, want %v", got, want)
	}
}

// TestDashboardStructure checks what Grafana 10 and 11 need to import a
// dashboard into any instance: a modern schema, a datasource variable
// instead of a hard-coded datasource uid, the job/instance/track variables,
// and deploy annotations.
func TestDashboardStructure(t *testing.T) {
	for _, d := range mustLoad(t) {
		t.Run(d.File, func(t *testing.T) {
			title, _ := d.Raw["title"].(string)
			if !strings.HasPrefix(title, "Shortener / ") {
				t.Errorf("title %q should start with \"Shortener / \"", title)
			}
			if v, _ := d.Raw["schemaVersion"].(float64); v < 36 {
				t.Errorf("schemaVersion %v, want >= 36 (Grafana 10)", v)
			}
			if _, ok := d.Raw["id"]; ok {
				t.Error("dashboard has an id; ids are per Grafana instance, only uid belongs in the file")
			}

			vars := map[string]map[string]any{}
			for _, v := range d.Variables() {
				name, _ := v["name"].(string)
				vars[name] = v
			}
			ds := vars["datasource"]
			if ds == nil || ds["type"] != "datasource" || ds["query"] != "prometheus" {
				t.Errorf("variable datasource = %v, want type datasource, query prometheus", ds)
			}
			for _, name := range []string{"job", "instance", "track"} {
				v := vars[name]
				if v == nil || v["type"] != "query" {
					t.Errorf("variable %s missing or not a query variable", name)
					continue
				}
				if v["includeAll"] != true || v["allValue"] != ".*" {
					t.Errorf("variable %s: want includeAll with allValue .* (queries use =~)", name)
				}
			}
			if v := vars["track"]; v != nil {
				want := `label_values(http_server_request_duration_seconds_count{job=~"$job"}, track)`
				if got := variableQuery(v["query"]); got != want {
					t.Errorf("track variable query %q, want %q", got, want)
				}
			}

			checkDatasources(t, d.Raw, "")

			ids := map[float64]bool{}
			for _, p := range d.Panels() {
				title, _ := p["title"].(string)
				id, _ := p["id"].(float64)
				if ids[id] {
					t.Errorf("panel id %v used twice", id)
				}
				ids[id] = true
				if p["type"] == "row" {
					continue
				}
				if len(listOfObjects(p, "targets")) == 0 {
					t.Errorf("panel %q has no query", title)
				}
				if desc, _ := p["description"].(string); desc == "" {
					t.Errorf("panel %q has no description", title)
				}
				pos, _ := p["gridPos"].(map[string]any)
				x, _ := pos["x"].(float64)
				w, _ := pos["w"].(float64)
				if w <= 0 || x+w > 24 {
					t.Errorf("panel %q gridPos %v does not fit the 24-column grid", title, pos)
				}
			}

			deploys := false
			for _, a := range d.Annotations() {
				if expr, _ := a["expr"].(string); strings.Contains(expr, "shortener_build_info") {
					deploys = true
				}
			}
			if !deploys {
				t.Error("no deploy annotation from shortener_build_info")
			}
		})
	}
}

// checkDatasources walks the whole document: every "datasource" reference
// must be the ${datasource} variable, so the dashboard works in any Grafana
// whatever its datasource uid.
func checkDatasources(t *testing.T, v any, path string) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			if k == "datasource" {
				ref, _ := child.(map[string]any)
				if ref == nil || ref["uid"] != "${datasource}" || ref["type"] != "prometheus" {
					t.Errorf("%s.datasource = %v, want {type: prometheus, uid: ${datasource}}", path, child)
				}
				continue
			}
			checkDatasources(t, child, path+"."+k)
		}
	case []any:
		for _, child := range x {
			checkDatasources(t, child, path+"[]")
		}
	}
}

func allQueries(t *testing.T, ds []Dashboard) []Query {
	t.Helper()
	var qs []Query
	for _, d := range ds {
		q, err := d.Queries()
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, q...)
	}
	return qs
}

func checker(t *testing.T) *metriccheck.Checker {
	t.Helper()
	rules, err := alerts.Load()
	if err != nil {
		t.Fatal(err)
	}
	return metriccheck.New(alerts.RecordedNames(rules))
}

// TestDashboardsUseExportedMetrics is the static half of the metric
// contract: every metric any panel, variable or annotation selects is
// exported by the app, pushed by the pipeline, written by Prometheus or
// recorded by a rule in alerts/.
func TestDashboardsUseExportedMetrics(t *testing.T) {
	c := checker(t)
	qs := allQueries(t, mustLoad(t))
	kinds := map[QueryKind]int{}
	for _, q := range qs {
		kinds[q.Kind]++
		if err := c.Check(Substitute(q.Expr, staticVars())); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	for _, k := range []QueryKind{KindPanel, KindVariable, KindAnnotation} {
		if kinds[k] == 0 {
			t.Errorf("no %s queries found: the extraction is broken", k)
		}
	}
}

// TestRenamedMetricInDashboardIsCaught feeds the checker a copy of the
// overview dashboard with a metric renamed, as a dashboard left behind by a
// rename in telemetry/names.go would look, and expects the check to fail.
func TestRenamedMetricInDashboardIsCaught(t *testing.T) {
	b, err := ReadFile("overview.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ from, to string }{
		{"shortener_redirects_total", "shortener_redirects_served_total"},
		{"http_server_request_duration_seconds", "http_request_duration_seconds"},
		{"shortener_build_info", "shortener_version_info"},
	} {
		renamed := strings.ReplaceAll(string(b), tt.from, tt.to)
		if renamed == string(b) {
			t.Fatalf("overview.json does not use %s", tt.from)
		}
		d, err := Parse("overview-renamed.json", []byte(renamed))
		if err != nil {
			t.Fatal(err)
		}
		c := checker(t)
		caught := false
		for _, q := range allQueries(t, []Dashboard{d}) {
			if err := c.Check(Substitute(q.Expr, staticVars())); errors.Is(err, metriccheck.ErrUnknownMetric) && strings.Contains(err.Error(), tt.to) {
				caught = true
			}
		}
		if !caught {
			t.Errorf("renaming %s to %s in overview.json was not caught", tt.from, tt.to)
		}
	}
}

func TestVariableExpr(t *testing.T) {
	tests := []struct {
		query, want string
		wantErr     bool
	}{
		{`label_values(shortener_build_info, job)`, `shortener_build_info`, false},
		{`label_values(up{job=~"$job", a="x,y"}, instance)`, `up{job=~"$job", a="x,y"}`, false},
		{`label_values(job)`, ``, false},
		{`query_result(topk(5, sum by (x) (y)))`, `topk(5, sum by (x) (y))`, false},
		{`label_names()`, ``, false},
		{`metrics(shortener_.*)`, ``, false},
		{`up`, ``, true},
		{`rate(up[5m])`, ``, true},
	}
	for _, tt := range tests {
		got, err := VariableExpr(tt.query)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("VariableExpr(%q) = %q, %v; want %q, error %v", tt.query, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestSubstitute(t *testing.T) {
	got := Substitute(`rate(x{job=~"$job", track=~"${track}"}[$__rate_interval]) + increase(y[$__range])`, map[string]string{
		"job": "a|b", "track": ".*", "__rate_interval": "1m", "__range": "1h",
	})
	want := `rate(x{job=~"a|b", track=~".*"}[1m]) + increase(y[1h])`
	if got != want {
		t.Errorf("Substitute = %q, want %q", got, want)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
}

// deliberatelyUncovered lists metric families of
// telemetry.ExportedMetricNames that no dashboard panel and no rule shows,
// each with the reason. It is empty: every metric the app exports is on a
// panel or behind an alert. Add an entry only with a reason a reviewer can
// check.
func deliberatelyUncovered() map[string]string {
	return map[string]string{}
}

// uncoveredMetrics returns the families of telemetry.ExportedMetricNames,
// sorted, that none of exprs selects (a histogram counts as selected
// through its _bucket, _sum or _count series). exprs have their Grafana
// variables substituted.
func uncoveredMetrics(exprs []string) ([]string, error) {
	exported := map[string]bool{}
	for _, n := range telemetry.ExportedMetricNames() {
		exported[n] = true
	}
	seen := map[string]bool{}
	for _, e := range exprs {
		names, err := metriccheck.Extract(e)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			seen[n] = true
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if f, ok := strings.CutSuffix(n, suffix); ok && exported[f] {
					seen[f] = true
				}
			}
		}
	}
	var out []string
	for _, n := range telemetry.ExportedMetricNames() {
		if !seen[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// coverageExprs returns every panel query of ds (variables substituted)
// and every rule expression.
func coverageExprs(t *testing.T, ds []Dashboard) []string {
	t.Helper()
	var exprs []string
	for _, q := range allQueries(t, ds) {
		if q.Kind == KindPanel {
			exprs = append(exprs, Substitute(q.Expr, staticVars()))
		}
	}
	rules, err := alerts.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		exprs = append(exprs, r.Expr)
	}
	return exprs
}

// TestEveryExportedMetricIsShown: each metric the app exports is on at
// least one dashboard panel or in one rule, or listed in
// deliberatelyUncovered with a reason; a new metric nobody looks at fails
// here. Entries of that list must still be true.
func TestEveryExportedMetricIsShown(t *testing.T) {
	uncovered, err := uncoveredMetrics(coverageExprs(t, mustLoad(t)))
	if err != nil {
		t.Fatal(err)
	}
	allowed := deliberatelyUncovered()
	for _, n := range uncovered {
		if allowed[n] == "" {
			t.Errorf("no dashboard panel or rule shows %s: add a panel (or an alert), or list it in deliberatelyUncovered with the reason", n)
		}
	}
	exported := telemetry.ExportedMetricNames()
	for n, reason := range allowed {
		switch {
		case !slices.Contains(exported, n):
			t.Errorf("deliberatelyUncovered lists %s, which the app does not export", n)
		case !slices.Contains(uncovered, n):
			t.Errorf("deliberatelyUncovered lists %s, but a panel or rule shows it now: remove the entry", n)
		case strings.TrimSpace(reason) == "":
			t.Errorf("deliberatelyUncovered lists %s without a reason", n)
		}
	}
}

// TestRemovedPanelIsCaught shows the coverage check is not vacuous: the
// dashboards without the overview's "Store writable" panel (the only place
// shortener_store_writable is shown besides its alert) and without the
// rules leave that metric uncovered.
func TestRemovedPanelIsCaught(t *testing.T) {
	var exprs []string
	for _, q := range allQueries(t, mustLoad(t)) {
		if q.Kind == KindPanel && !(q.Dashboard == "overview.json" && q.Where == "Store writable") {
			exprs = append(exprs, Substitute(q.Expr, staticVars()))
		}
	}
	uncovered, err := uncoveredMetrics(exprs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(uncovered, telemetry.MetricStoreWritable) {
		t.Errorf("uncoveredMetrics without the Store writable panel = %v, want %s in it", uncovered, telemetry.MetricStoreWritable)
	}
	// A histogram is covered through its derived series alone.
	uncovered, err = uncoveredMetrics([]string{`rate(` + telemetry.MetricHTTPRequestDuration + `_bucket[5m])`})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(uncovered, telemetry.MetricHTTPRequestDuration) || !slices.Contains(uncovered, telemetry.MetricStoreWritable) {
		t.Errorf("uncoveredMetrics(request histogram buckets only) = %v", uncovered)
	}
}
