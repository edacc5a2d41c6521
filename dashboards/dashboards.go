// Package dashboards holds the shortener's Grafana dashboards (the *.json
// files beside this one, which users import as they are) and their Grafana
// provisioning files (provisioning/). The JSON is generated from Go
// (package board, Grafana's typed builders) by `go generate`; a test fails
// when the committed files differ. The Go code here reads the embedded JSON
// and lists every PromQL query in it, so tests can check each query's
// metric names statically and evaluate it against a real Prometheus.
package dashboards

//go:generate go run ./cmd/gendashboards -out .

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.json
var dashboardFS embed.FS

// Dashboard is one parsed dashboard file.
type Dashboard struct {
	File string
	UID  string
	// Raw is the whole JSON document, for checks on any field.
	Raw map[string]any
}

// Load parses every dashboard, sorted by file name.
func Load() ([]Dashboard, error) {
	names, err := fs.Glob(dashboardFS, "*.json")
	if err != nil {
		return nil, fmt.Errorf("list dashboards: %w", err)
	}
	sort.Strings(names)
	var out []Dashboard
	for _, name := range names {
		b, err := dashboardFS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		d, err := Parse(name, b)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Parse reads one dashboard JSON document; name is used in messages.
func Parse(name string, b []byte) (Dashboard, error) {
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return Dashboard{}, fmt.Errorf("parse %s: %w", name, err)
	}
	uid, _ := raw["uid"].(string)
	return Dashboard{File: name, UID: uid, Raw: raw}, nil
}

// ReadFile returns the raw bytes of one embedded dashboard file.
func ReadFile(name string) ([]byte, error) {
	b, err := dashboardFS.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read dashboard %s: %w", name, err)
	}
	return b, nil
}

// QueryKind says where in a dashboard a query sits.
type QueryKind string

// Where queries live in a dashboard.
const (
	KindPanel      QueryKind = "panel"
	KindVariable   QueryKind = "variable"
	KindAnnotation QueryKind = "annotation"
)

// Query is one PromQL expression of a dashboard, with Grafana variables
// still in it.
type Query struct {
	Dashboard string // file name
	Kind      QueryKind
	Where     string // panel title, variable or annotation name
	RefID     string // panel target refId
	Expr      string
	// Instant is true for panels that run an instant query (tables, bar
	// gauges); Grafana runs the others as range queries.
	Instant bool
}

func (q Query) String() string {
	return fmt.Sprintf("%s %s %q %s", q.Dashboard, q.Kind, q.Where, q.RefID)
}

// Panels returns every panel, including those nested in collapsed rows.
func (d Dashboard) Panels() []map[string]any {
	var out []map[string]any
	var walk func(v any)
	walk = func(v any) {
		list, _ := v.([]any)
		for _, item := range list {
			p, ok := item.(map[string]any)
			if !ok {
				continue
			}
			out = append(out, p)
			walk(p["panels"])
		}
	}
	walk(d.Raw["panels"])
	return out
}

// Variables returns the templating variables.
func (d Dashboard) Variables() []map[string]any {
	return listOfObjects(d.Raw, "templating", "list")
}

// Annotations returns the annotation queries.
func (d Dashboard) Annotations() []map[string]any {
	return listOfObjects(d.Raw, "annotations", "list")
}

func listOfObjects(m map[string]any, keys ...string) []map[string]any {
	var cur any = m
	for _, k := range keys {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[k]
	}
	list, _ := cur.([]any)
	var out []map[string]any
	for _, item := range list {
		if o, ok := item.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

// Queries returns every PromQL expression in the dashboard: panel targets,
// the metric selectors inside query variables (label_values(...),
// query_result(...)) and annotation expressions.
func (d Dashboard) Queries() ([]Query, error) {
	var qs []Query
	for _, p := range d.Panels() {
		title, _ := p["title"].(string)
		for _, t := range listOfObjects(p, "targets") {
			expr, _ := t["expr"].(string)
			if expr == "" {
				return nil, fmt.Errorf("%s: panel %q has a target without expr", d.File, title)
			}
			ref, _ := t["refId"].(string)
			instant, _ := t["instant"].(bool)
			qs = append(qs, Query{Dashboard: d.File, Kind: KindPanel, Where: title, RefID: ref, Expr: expr, Instant: instant})
		}
	}
	for _, v := range d.Variables() {
		if v["type"] != "query" {
			continue
		}
		name, _ := v["name"].(string)
		q := variableQuery(v["query"])
		expr, err := VariableExpr(q)
		if err != nil {
			return nil, fmt.Errorf("%s: variable %s: %w", d.File, name, err)
		}
		if expr != "" {
			qs = append(qs, Query{Dashboard: d.File, Kind: KindVariable, Where: name, Expr: expr, Instant: true})
		}
	}
	for _, a := range d.Annotations() {
		expr, _ := a["expr"].(string)
		if expr == "" {
			continue
		}
		name, _ := a["name"].(string)
		qs = append(qs, Query{Dashboard: d.File, Kind: KindAnnotation, Where: name, Expr: expr})
	}
	return qs, nil
}

// variableQuery reads a query variable's query, which Grafana stores as a
// string (older dashboards) or as {"query": "...", "refId": ...}.
func variableQuery(v any) string {
	switch q := v.(type) {
	case string:
		return q
	case map[string]any:
		s, _ := q["query"].(string)
		return s
	}
	return ""
}

// VariableExpr returns the PromQL inside a Grafana Prometheus variable
// query: the selector of label_values(selector, label), the expression of
// query_result(expr), or "" for forms without one (label_values(label),
// label_names(), metrics(regex)).
func VariableExpr(q string) (string, error) {
	q = strings.TrimSpace(q)
	fn, args, ok := strings.Cut(q, "(")
	if !ok || !strings.HasSuffix(args, ")") {
		return "", fmt.Errorf("unsupported variable query %q", q)
	}
	args = strings.TrimSuffix(args, ")")
	switch strings.TrimSpace(fn) {
	case "label_values":
		// The label is the last top-level argument; a selector before it
		// may itself contain commas inside {} or "".
		i := lastTopLevelComma(args)
		if i < 0 {
			return "", nil
		}
		return strings.TrimSpace(args[:i]), nil
	case "query_result":
		return strings.TrimSpace(args), nil
	case "label_names", "metrics":
		return "", nil
	}
	return "", fmt.Errorf("unsupported variable query %q", q)
}

func lastTopLevelComma(s string) int {
	depth, last := 0, -1
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '{' || c == '(' || c == '[':
			depth++
		case c == '}' || c == ')' || c == ']':
			depth--
		case c == ',' && depth == 0:
			last = i
		}
	}
	return last
}

// Substitute replaces the Grafana variables the dashboards use with the
// given values; vars maps a name without "$" (for example "job" or
// "__rate_interval") to its value. Both $name and ${name} forms are
// replaced; longer names first, so $__range does not eat $__range_s.
func Substitute(expr string, vars map[string]string) string {
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	for _, n := range names {
		expr = strings.ReplaceAll(expr, "${"+n+"}", vars[n])
		expr = strings.ReplaceAll(expr, "$"+n, vars[n])
	}
	return expr
}
