package gate

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"os"
	"slices"
	"strings"
)

// The HTML report is one self-contained file (no scripts, no fetches):
// the verdict in one sentence, then charts drawn as inline SVG: error
// ratio of both arms over time, the evidence of every check against its
// threshold (log scale), the latency distribution of both arms, and the
// per-route table.

var htmlReport = template.Must(template.New("report").Funcs(template.FuncMap{"bf": fmtBFOrDash}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>canary gate: {{.R.Outcome}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:72em;color:#222}
h1{font-size:1.4em} .pass{color:#17702c} .fail{color:#b3261e} .inconclusive{color:#8a5a00}
.chart{margin:1em 0} svg{background:#fafafa;border:1px solid #ddd}
table{border-collapse:collapse} td,th{border:1px solid #ddd;padding:.2em .6em;text-align:right} td:first-child,th:first-child{text-align:left}
.legend span{margin-right:1.5em} .sw{display:inline-block;width:1em;height:.6em;margin-right:.3em}
</style></head><body>
<h1 id="verdict" class="{{.R.Outcome}}">{{.Sentence}}</h1>
<p id="reason">{{.R.Reason}}</p>
<p>canary <code>{{.R.CanarySel}}</code>: {{.R.Canary.Requests}} requests, {{.R.Canary.Errors}} 5xx; baseline <code>{{.R.BaselineSel}}</code>: {{.R.Baseline.Requests}} requests, {{.R.Baseline.Errors}} 5xx; observed canary share {{printf "%.3g" .SharePct}}%; alpha {{.R.Alpha}} ({{printf "%.3g" .R.AlphaPerCheck}} per check).</p>
<div class="chart" id="chart-errors"><h2>5xx ratio over time</h2>{{.Errors}}</div>
<div class="chart" id="chart-evidence"><h2>Evidence against its threshold</h2><p>Solid: evidence of a regression (the check fails at its threshold, dashed red). Dotted: evidence of no worse (passes at the dashed green line).</p>{{.Evidence}}</div>
<div class="chart" id="chart-latency"><h2>Latency distribution (share of requests at or under each boundary)</h2>{{.Latency}}</div>
<h2>Checks</h2>
<table id="checks"><tr><th>check</th><th>status</th><th>regression BF</th><th>fails at</th><th>no-worse evidence</th><th>passes at</th><th>detail</th></tr>
{{range .R.Checks}}<tr><td>{{.Name}}</td><td>{{.Status}}</td><td>{{bf .Evidence}}</td><td>{{bf .Threshold}}</td><td>{{bf .PassEvidence}}</td><td>{{bf .PassThreshold}}</td><td style="text-align:left">{{.Detail}}</td></tr>
{{end}}</table>
<h2>Routes</h2>
<table id="routes"><tr><th>route</th><th>canary requests</th><th>canary 5xx</th><th>baseline requests</th><th>baseline 5xx</th><th>evidence (BF)</th><th>verdict</th></tr>
{{range .R.Routes}}<tr><td>{{.Route}}</td><td>{{.Canary.Requests}}</td><td>{{.Canary.Errors}}</td><td>{{.Baseline.Requests}}</td><td>{{.Baseline.Errors}}</td><td>{{bf .Evidence}}</td><td>{{if .Fail}}fails{{else}}ok{{end}}</td></tr>
{{end}}</table>
</body></html>
`))

func fmtBFOrDash(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmtBF(x)
}

// writeHTMLFile writes the report as one HTML file.
func (r Report) writeHTMLFile(path string) error {
	var b bytes.Buffer
	if err := r.writeHTML(&b); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func (r Report) writeHTML(w *bytes.Buffer) error {
	data := struct {
		R                         Report
		Sentence                  string
		SharePct                  float64
		Errors, Evidence, Latency template.HTML
	}{R: r, Sentence: r.sentence(), SharePct: 100 * r.ObservedShare}
	data.Errors = r.errorChart()
	data.Evidence = r.evidenceChart()
	data.Latency = r.latencyChart()
	return htmlReport.Execute(w, data)
}

// sentence is the verdict in one sentence.
func (r Report) sentence() string {
	switch r.Outcome {
	case Pass:
		return "PASS: the canary was shown no worse than the baseline; promote."
	case Fail:
		first := strings.TrimPrefix(r.Reason, "regression shown: ")
		if i := strings.IndexByte(first, ':'); i > 0 && !strings.HasPrefix(r.Reason, "canary vanished") {
			return "FAIL: the " + first[:i] + " check showed the canary worse than the baseline; roll back."
		}
		return "FAIL: the canary vanished during the analysis; roll back."
	default:
		return "INCONCLUSIVE: neither a regression nor 'no worse' was shown; do not promote."
	}
}

type series struct {
	name   string
	color  string
	dash   string
	xs, ys []float64
}

var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"}

func (r Report) errorChart() template.HTML {
	var c, b series
	c = series{name: "canary", color: "#d62728"}
	b = series{name: "baseline", color: "#1f77b4"}
	for _, h := range r.History {
		c.xs, c.ys = append(c.xs, h.ElapsedSeconds), append(c.ys, 100*h.CanaryErrors)
		b.xs, b.ys = append(b.xs, h.ElapsedSeconds), append(b.ys, 100*h.BaselineErrors)
	}
	return svgChart([]series{c, b}, "seconds", "% 5xx", false, nil)
}

func (r Report) evidenceChart() template.HTML {
	var names []string
	for _, h := range r.History {
		for k := range h.Evidence {
			if !slices.Contains(names, k) {
				names = append(names, k)
			}
		}
	}
	slices.Sort(names)
	var ss []series
	for i, n := range names {
		col := palette[i%len(palette)]
		s := series{name: n, color: col}
		p := series{name: n + " (no worse)", color: col, dash: "2,3"}
		for _, h := range r.History {
			s.xs, s.ys = append(s.xs, h.ElapsedSeconds), append(s.ys, math.Log10(math.Max(h.Evidence[n], 1e-6)))
			if v, ok := h.PassEvidence[n]; ok {
				p.xs, p.ys = append(p.xs, h.ElapsedSeconds), append(p.ys, math.Log10(math.Max(v, 1e-6)))
			}
		}
		ss = append(ss, s)
		if len(p.xs) > 0 {
			ss = append(ss, p)
		}
	}
	var lines []hline
	for _, c := range r.Checks {
		if c.Threshold > 0 {
			lines = append(lines, hline{math.Log10(c.Threshold), "#b3261e", "fails"})
			break
		}
	}
	for _, c := range r.Checks {
		if c.PassThreshold > 0 {
			lines = append(lines, hline{math.Log10(c.PassThreshold), "#17702c", "passes"})
			break
		}
	}
	return svgChart(ss, "seconds", "log10 Bayes factor", false, lines)
}

func (r Report) latencyChart() template.HTML {
	mk := func(name, color string, a Arm) series {
		s := series{name: name, color: color}
		for _, b := range a.Buckets {
			if b.LE <= 0 || a.Requests == 0 {
				continue
			}
			s.xs, s.ys = append(s.xs, math.Log10(b.LE)), append(s.ys, 100*ratio(b.Count, a.Requests))
		}
		return s
	}
	return svgChart([]series{mk("canary", "#d62728", r.Canary), mk("baseline", "#1f77b4", r.Baseline)}, "log10 seconds (bucket boundary)", "% of requests at or under", true, nil)
}

type hline struct {
	y     float64
	color string
	label string
}

// svgChart draws line series on shared axes.
func svgChart(ss []series, xlabel, ylabel string, points bool, lines []hline) template.HTML {
	const W, H, L, R, T, B = 720.0, 260.0, 60.0, 160.0, 10.0, 40.0
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for i := range s.xs {
			xmin, xmax = math.Min(xmin, s.xs[i]), math.Max(xmax, s.xs[i])
			ymin, ymax = math.Min(ymin, s.ys[i]), math.Max(ymax, s.ys[i])
		}
	}
	for _, l := range lines {
		ymin, ymax = math.Min(ymin, l.y), math.Max(ymax, l.y)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g">`, W, H, W, H)
	if math.IsInf(xmin, 1) {
		fmt.Fprintf(&b, `<text x="%g" y="%g">no data</text></svg>`, W/2-30, H/2)
		return template.HTML(b.String())
	}
	if xmax == xmin {
		xmax = xmin + 1
	}
	if ymax == ymin {
		ymax = ymin + 1
	}
	if ymin > 0 && !points {
		ymin = 0
	}
	px := func(x float64) float64 { return L + (x-xmin)/(xmax-xmin)*(W-L-R) }
	py := func(y float64) float64 { return H - B - (y-ymin)/(ymax-ymin)*(H-T-B) }
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#888"/>`, L, H-B, W-R, H-B)
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#888"/>`, L, T, L, H-B)
	for _, v := range []float64{ymin, (ymin + ymax) / 2, ymax} {
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="10" text-anchor="end">%.3g</text>`, L-4, py(v)+3, v)
	}
	for _, v := range []float64{xmin, (xmin + xmax) / 2, xmax} {
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="10" text-anchor="middle">%.3g</text>`, px(v), H-B+14, v)
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" text-anchor="middle">%s</text>`, (L+W-R)/2, H-6, template.HTMLEscapeString(xlabel))
	fmt.Fprintf(&b, `<text x="12" y="%g" font-size="11" transform="rotate(-90 12 %g)" text-anchor="middle">%s</text>`, (T+H-B)/2, (T+H-B)/2, template.HTMLEscapeString(ylabel))
	for _, l := range lines {
		fmt.Fprintf(&b, `<line class="threshold" x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-dasharray="6,4"/>`, L, py(l.y), W-R, py(l.y), l.color)
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="10" fill="%s">%s</text>`, W-R+4, py(l.y)+3, l.color, l.label)
	}
	for i, s := range ss {
		if len(s.xs) == 0 {
			continue
		}
		var pts []string
		for j := range s.xs {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(s.xs[j]), py(s.ys[j])))
		}
		dash := ""
		if s.dash != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, s.dash)
		}
		fmt.Fprintf(&b, `<polyline class="series" data-name="%s" fill="none" stroke="%s" stroke-width="1.8"%s points="%s"/>`, template.HTMLEscapeString(s.name), s.color, dash, strings.Join(pts, " "))
		if points {
			for j := range s.xs {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`, px(s.xs[j]), py(s.ys[j]), s.color)
			}
		}
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="10" fill="%s">%s</text>`, W-R+4, T+12+float64(i)*12, s.color, template.HTMLEscapeString(s.name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
