// Package preview renders what a person would see in Grafana without a
// Grafana: every panel of a dashboard JSON file is evaluated against a
// Prometheus (range queries as Grafana runs them, instant ones for tables)
// and drawn in one static HTML page, in the dashboard's 24-column grid,
// with a chart per panel (SVG lines, stat values, tables, bars, heatmap
// cells, state bands). Each panel says whether it has data; a browser test
// and `make dashboards-preview` read that from the page.
package preview

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/obsshort/shortener/internal/promclient"
)

// Panel states, as the page's data-state attribute.
const (
	StateOK     = "ok"
	StateNoData = "nodata"
	StateError  = "error"
)

// Config of an evaluation.
type Config struct {
	Prometheus *promclient.Client
	// End and Range are the dashboard's time range (default: now, 1h).
	End   time.Time
	Range time.Duration
	// Points per range query (default 120), as a panel of that width
	// would ask for.
	Points int
	// Vars are the values of the dashboard variables (default ".*", All);
	// $__rate_interval, $__interval and $__range are computed.
	Vars map[string]string
	// RateInterval is $__rate_interval (default 1m: four scrapes at the
	// stack's 15 s interval).
	RateInterval time.Duration
	// Substitute replaces Grafana variables in an expression
	// (dashboards.Substitute; this package does not import dashboards,
	// whose tests use it).
	Substitute func(expr string, vars map[string]string) string
}

// Source is one dashboard as its JSON file has it.
type Source struct {
	File, Title string
	// Panels are every panel, rows and the panels of collapsed rows
	// included (dashboards.Dashboard.Panels).
	Panels []map[string]any
}

// Page is one evaluated dashboard.
type Page struct {
	File, Title string
	From, To    time.Time
	Vars        map[string]string
	Panels      []Panel
}

// Panel is one evaluated panel (rows included, as headers).
type Panel struct {
	Type, Title, Description string
	X, Y, W, H               int
	Unit                     string
	Min, Max                 *float64
	Decimals                 *int
	Thresholds               []Threshold
	Mappings                 map[string]Mapping
	Hide                     map[string]bool
	Stacked                  bool
	Series                   []Series
	State                    string
	Detail                   string // the error, or why there is no data
}

// Threshold is a colour from Value up.
type Threshold struct {
	Value float64 // -Inf for the base
	Color string
}

// Mapping shows a value as text in a colour.
type Mapping struct{ Text, Color string }

// Series is one evaluated series.
type Series struct {
	Name   string
	Labels map[string]string
	Points []Point // one point for an instant query
}

// Point is one sample.
type Point struct {
	T time.Time
	V float64
}

// Last returns the last sample that is a number.
func (s Series) Last() (float64, bool) {
	for i := len(s.Points) - 1; i >= 0; i-- {
		if !math.IsNaN(s.Points[i].V) && !math.IsInf(s.Points[i].V, 0) {
			return s.Points[i].V, true
		}
	}
	return 0, false
}

// Problems lists the panels without data or with an error.
func (p Page) Problems() []Panel {
	var out []Panel
	for _, pn := range p.Panels {
		if pn.Type != "row" && pn.State != StateOK {
			out = append(out, pn)
		}
	}
	return out
}

// Evaluate runs every query of every panel of d.
func Evaluate(ctx context.Context, cfg Config, d Source) (Page, error) {
	if cfg.Prometheus == nil || cfg.Substitute == nil {
		return Page{}, errors.New("preview: a Prometheus client and a Substitute function are required")
	}
	if cfg.End.IsZero() {
		cfg.End = time.Now()
	}
	if cfg.Range <= 0 {
		cfg.Range = time.Hour
	}
	if cfg.Points <= 0 {
		cfg.Points = 120
	}
	if cfg.RateInterval <= 0 {
		cfg.RateInterval = time.Minute
	}
	step := max(cfg.Range/time.Duration(cfg.Points), time.Second).Round(time.Second)
	vars := map[string]string{"job": ".*", "instance": ".*", "track": ".*"}
	for k, v := range cfg.Vars {
		vars[k] = v
	}
	vars["__rate_interval"] = model.Duration(cfg.RateInterval).String()
	vars["__interval"] = model.Duration(step).String()
	vars["__range"] = model.Duration(cfg.Range).String()

	page := Page{File: d.File, Title: d.Title, From: cfg.End.Add(-cfg.Range), To: cfg.End, Vars: vars}
	r := v1.Range{Start: page.From, End: page.To, Step: step}
	for _, raw := range d.Panels {
		p := parsePanel(raw)
		if p.Type != "row" {
			evaluatePanel(ctx, cfg, &p, raw, vars, r)
		}
		page.Panels = append(page.Panels, p)
	}
	sort.SliceStable(page.Panels, func(i, j int) bool {
		a, b := page.Panels[i], page.Panels[j]
		if a.Y != b.Y {
			return a.Y < b.Y
		}
		return a.X < b.X
	})
	return page, nil
}

func evaluatePanel(ctx context.Context, cfg Config, p *Panel, raw map[string]any, vars map[string]string, r v1.Range) {
	pc := cfg.Prometheus
	targets, _ := raw["targets"].([]any)
	var errs []string
	for _, t := range targets {
		tm, _ := t.(map[string]any)
		expr, _ := tm["expr"].(string)
		legend, _ := tm["legendFormat"].(string)
		instant, _ := tm["instant"].(bool)
		expr = cfg.Substitute(expr, vars)
		if instant {
			vec, err := pc.Vector(ctx, expr, r.End)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			for _, s := range vec {
				p.Series = append(p.Series, Series{Name: legendName(legend, s.Metric), Labels: labels(s.Metric),
					Points: []Point{{T: s.Timestamp.Time(), V: float64(s.Value)}}})
			}
			continue
		}
		m, err := pc.QueryRange(ctx, expr, r)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		for _, s := range m {
			ser := Series{Name: legendName(legend, s.Metric), Labels: labels(s.Metric)}
			for _, v := range s.Values {
				ser.Points = append(ser.Points, Point{T: v.Timestamp.Time(), V: float64(v.Value)})
			}
			p.Series = append(p.Series, ser)
		}
	}
	sort.SliceStable(p.Series, func(i, j int) bool { return p.Series[i].Name < p.Series[j].Name })
	switch {
	case len(errs) > 0:
		p.State, p.Detail = StateError, strings.Join(errs, "; ")
	case !hasNumber(p.Series):
		p.State, p.Detail = StateNoData, "no data: every query returned no series or only NaN"
	default:
		p.State = StateOK
	}
}

func hasNumber(ss []Series) bool {
	for _, s := range ss {
		if _, ok := s.Last(); ok {
			return true
		}
	}
	return false
}

func labels(m model.Metric) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[string(k)] = string(v)
	}
	return out
}

// legendName applies a Grafana legend format: {{label}} replaced by the
// label's value; "" and __auto show the labels.
func legendName(format string, m model.Metric) string {
	if format == "" || format == "__auto" {
		if len(m) == 0 {
			return "value"
		}
		return m.String()
	}
	out := format
	for {
		i := strings.Index(out, "{{")
		if i < 0 {
			return out
		}
		j := strings.Index(out[i:], "}}")
		if j < 0 {
			return out
		}
		name := strings.TrimSpace(out[i+2 : i+j])
		out = out[:i] + string(m[model.LabelName(name)]) + out[i+j+2:]
	}
}

// parsePanel reads what drawing needs from a panel's JSON.
func parsePanel(raw map[string]any) Panel {
	p := Panel{Mappings: map[string]Mapping{}, Hide: map[string]bool{}}
	p.Type, _ = raw["type"].(string)
	p.Title, _ = raw["title"].(string)
	p.Description, _ = raw["description"].(string)
	if g, ok := raw["gridPos"].(map[string]any); ok {
		p.X, p.Y, p.W, p.H = num(g["x"]), num(g["y"]), num(g["w"]), num(g["h"])
	}
	fc, _ := raw["fieldConfig"].(map[string]any)
	def, _ := fc["defaults"].(map[string]any)
	p.Unit, _ = def["unit"].(string)
	if v, ok := def["min"].(float64); ok {
		p.Min = &v
	}
	if v, ok := def["max"].(float64); ok {
		p.Max = &v
	}
	if v, ok := def["decimals"].(float64); ok {
		d := int(v)
		p.Decimals = &d
	}
	if th, ok := def["thresholds"].(map[string]any); ok {
		steps, _ := th["steps"].([]any)
		for _, s := range steps {
			sm, _ := s.(map[string]any)
			c, _ := sm["color"].(string)
			v, ok := sm["value"].(float64)
			if !ok {
				v = math.Inf(-1)
			}
			p.Thresholds = append(p.Thresholds, Threshold{Value: v, Color: c})
		}
	}
	maps, _ := def["mappings"].([]any)
	for _, m := range maps {
		mm, _ := m.(map[string]any)
		opts, _ := mm["options"].(map[string]any)
		for k, o := range opts {
			om, _ := o.(map[string]any)
			text, _ := om["text"].(string)
			color, _ := om["color"].(string)
			p.Mappings[k] = Mapping{Text: text, Color: color}
		}
	}
	if custom, ok := def["custom"].(map[string]any); ok {
		if st, ok := custom["stacking"].(map[string]any); ok {
			p.Stacked = st["mode"] == "normal"
		}
	}
	trs, _ := raw["transformations"].([]any)
	for _, t := range trs {
		tm, _ := t.(map[string]any)
		opts, _ := tm["options"].(map[string]any)
		ex, _ := opts["excludeByName"].(map[string]any)
		for k, v := range ex {
			if v == true {
				p.Hide[k] = true
			}
		}
	}
	return p
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

// Format shows a value in the panel's unit, as Grafana would roughly.
func Format(v float64, unit string, decimals *int) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	prec := func(def int) int {
		if decimals != nil {
			return *decimals
		}
		return def
	}
	switch unit {
	case "percentunit":
		return fmt.Sprintf("%.*f%%", prec(2), v*100)
	case "percent":
		return fmt.Sprintf("%.*f%%", prec(1), v)
	case "s":
		return duration(v)
	case "ms":
		return duration(v / 1000)
	case "bytes":
		return bytesIEC(v)
	case "reqps":
		return fmt.Sprintf("%s req/s", short(v, prec(2)))
	case "ops":
		return fmt.Sprintf("%s ops/s", short(v, prec(2)))
	case "dateTimeAsIso", "dateTimeFromNow":
		if v <= 0 {
			return "never"
		}
		return time.UnixMilli(int64(v)).UTC().Format("2006-01-02 15:04:05Z")
	}
	return short(v, prec(2))
}

func short(v float64, prec int) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return fmt.Sprintf("%.*f G", prec, v/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.*f M", prec, v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.*f k", prec, v/1e3)
	case a == math.Trunc(a):
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.*f", max(prec, 2), v)
}

func duration(s float64) string {
	a := math.Abs(s)
	switch {
	case a == 0:
		return "0 s"
	case a < 1e-3:
		return fmt.Sprintf("%.0f µs", s*1e6)
	case a < 1:
		return fmt.Sprintf("%.1f ms", s*1e3)
	case a < 120:
		return fmt.Sprintf("%.2f s", s)
	case a < 7200:
		return fmt.Sprintf("%.1f min", s/60)
	case a < 172800:
		return fmt.Sprintf("%.1f h", s/3600)
	}
	return fmt.Sprintf("%.1f d", s/86400)
}

func bytesIEC(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for math.Abs(v) >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", v)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
