package preview

import (
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Grafana's named colours and its classic palette, so the page reads like
// the dashboard.
var (
	named = map[string]string{
		"green": "#73BF69", "red": "#F2495C", "orange": "#FF9830", "yellow": "#FADE2A",
		"dark-red": "#C4162A", "blue": "#5794F2", "purple": "#B877D9", "dark-orange": "#FA6400",
		"transparent": "transparent",
	}
	palette = []string{"#7EB26D", "#EAB839", "#6ED0E0", "#EF843C", "#E24D42", "#1F78C1", "#BA43A9", "#705DA0", "#508642", "#CCA300"}
)

func color(name string) string {
	if c, ok := named[name]; ok {
		return c
	}
	if name == "" {
		return "#ccccdc"
	}
	return name
}

// thresholdColor is the colour of the highest threshold at or below v.
func (p Panel) thresholdColor(v float64) string {
	c := "#ccccdc"
	for _, t := range p.Thresholds {
		if v >= t.Value && t.Color != "transparent" {
			c = color(t.Color)
		} else if v >= t.Value {
			c = "#ccccdc"
		}
	}
	return c
}

const pageTemplate = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Title}} (preview)</title>
<style>
body{margin:0;padding:16px;background:#111217;color:#ccccdc;font:13px/1.35 system-ui,sans-serif}
h1{font-size:20px;margin:0 0 4px} .meta{color:#8e8e9e;margin-bottom:12px}
.grid{display:grid;grid-template-columns:repeat(24,minmax(0,1fr));grid-auto-rows:30px;gap:6px}
.row{grid-column:1/span 24;border-bottom:1px solid #34343b;font-weight:600;font-size:15px;padding-top:6px}
.panel{background:#181b1f;border:1px solid #2c2d33;border-radius:3px;padding:6px 8px;display:flex;flex-direction:column;min-width:0;overflow:hidden}
.panel h3{margin:0 0 4px;font-size:13px;font-weight:500;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.viz{flex:1;min-height:0;display:flex;flex-direction:column}
.viz svg{flex:1;min-height:0;width:100%}
.legend{font-size:11px;max-height:40%;overflow:hidden;color:#a8a8b8}
.legend span{display:inline-block;margin-right:10px;white-space:nowrap}
.legend i{display:inline-block;width:10px;height:3px;margin-right:4px;vertical-align:middle}
.stats{flex:1;display:flex;gap:10px;align-items:center;justify-content:space-around}
.stat{text-align:center} .stat-value{font-size:28px;font-weight:500} .stat-name{font-size:11px;color:#8e8e9e}
table{border-collapse:collapse;font-size:11px;width:100%} th,td{border-bottom:1px solid #2c2d33;padding:2px 4px;text-align:left;white-space:nowrap}
.bars{flex:1;display:flex;flex-direction:column;gap:3px;overflow:hidden}
.barrow{display:flex;align-items:center;gap:6px;font-size:11px} .barrow .name{width:30%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.barrow .track{flex:1;background:#22252b;height:12px} .bar{height:12px}
.nodata,.error{flex:1;display:flex;align-items:center;justify-content:center;color:#8e8e9e}
.error{color:#F2495C;font-size:11px;overflow:auto}
.summary.ok{color:#73BF69} .summary.bad{color:#F2495C}
</style></head>
<body>
<h1>{{.Title}}</h1>
<div class="meta">{{.File}} · {{.From.UTC.Format "2006-01-02 15:04:05"}} to {{.To.UTC.Format "15:04:05"}} UTC · {{range $k, $v := .Vars}}${{$k}}={{$v}} {{end}}</div>
<div class="meta summary {{if .Problems}}bad{{else}}ok{{end}}" id="summary">{{.Summary}}</div>
<div class="grid">
{{range .Panels}}{{if eq .Type "row"}}<div class="row" style="grid-row:{{inc .Y}}/span 1">{{.Title}}</div>
{{else}}<section class="panel" data-type="{{.Type}}" data-state="{{.State}}" data-title="{{.Title}}" style="grid-column:{{inc .X}}/span {{.W}};grid-row:{{inc .Y}}/span {{.H}}" title="{{.Description}}">
<h3>{{.Title}}</h3>
{{if eq .State "error"}}<div class="error">Error: {{.Detail}}</div>{{else if eq .State "nodata"}}<div class="nodata">No data</div>{{else}}<div class="viz">{{viz .}}</div>{{end}}
</section>
{{end}}{{end}}
</div>
</body></html>
`

var tmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"inc": func(i int) int { return i + 1 },
	"viz": viz,
}).Parse(pageTemplate))

// Summary is the page's one-line verdict.
func (p Page) Summary() string {
	n, bad := 0, p.Problems()
	for _, pn := range p.Panels {
		if pn.Type != "row" {
			n++
		}
	}
	if len(bad) == 0 {
		return fmt.Sprintf("%d panels, every one with data", n)
	}
	var names []string
	for _, b := range bad {
		names = append(names, fmt.Sprintf("%q (%s)", b.Title, b.State))
	}
	return fmt.Sprintf("%d panels, %d without data or with an error: %s", n, len(bad), strings.Join(names, ", "))
}

// HTML writes the page.
func (p Page) HTML(w io.Writer) error { return tmpl.Execute(w, p) }

// WriteFile writes the page to path.
func (p Page) WriteFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := p.HTML(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// viz draws one panel with data.
func viz(p Panel) template.HTML {
	switch p.Type {
	case "stat":
		return stats(p)
	case "table":
		return tableHTML(p)
	case "bargauge":
		return bars(p)
	case "heatmap":
		return heatmapSVG(p)
	case "state-timeline":
		return stateSVG(p)
	}
	return lines(p)
}

const vw, vh = 600.0, 200.0

// lines is a time series chart: one path per series (stacked when the
// panel stacks), the y range from the panel or the data, and a legend
// with each series' last value.
func lines(p Panel) template.HTML {
	series := p.Series
	if p.Stacked {
		series = stack(series)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	var t0, t1 time.Time
	for _, s := range series {
		for _, pt := range s.Points {
			if math.IsNaN(pt.V) || math.IsInf(pt.V, 0) {
				continue
			}
			lo, hi = math.Min(lo, pt.V), math.Max(hi, pt.V)
			if t0.IsZero() || pt.T.Before(t0) {
				t0 = pt.T
			}
			if pt.T.After(t1) {
				t1 = pt.T
			}
		}
	}
	lo, hi = p.scale(math.Min(lo, 0), hi)
	span := t1.Sub(t0).Seconds()
	if span <= 0 {
		span = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" preserveAspectRatio="none" role="img">`, vw, vh)
	for i := 1; i < 4; i++ {
		fmt.Fprintf(&b, `<line x1="0" x2="%g" y1="%g" y2="%g" stroke="#2c2d33" stroke-width="1" vector-effect="non-scaling-stroke"/>`, vw, vh*float64(i)/4, vh*float64(i)/4)
	}
	for i, s := range series {
		var d strings.Builder
		pen := false
		for _, pt := range s.Points {
			if math.IsNaN(pt.V) || math.IsInf(pt.V, 0) {
				pen = false
				continue
			}
			x := pt.T.Sub(t0).Seconds() / span * vw
			y := vh - (math.Max(lo, math.Min(hi, pt.V))-lo)/(hi-lo)*vh
			if pen {
				fmt.Fprintf(&d, " L%.1f %.1f", x, y)
			} else {
				fmt.Fprintf(&d, " M%.1f %.1f", x, y)
				if len(s.Points) == 1 {
					fmt.Fprintf(&d, " L%.1f %.1f", x+2, y)
				}
				pen = true
			}
		}
		if d.Len() > 0 {
			fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.5" vector-effect="non-scaling-stroke"/>`, strings.TrimSpace(d.String()), palette[i%len(palette)])
		}
	}
	b.WriteString(`</svg>`)
	fmt.Fprintf(&b, `<div class="legend"><span>y %s … %s</span>`, template.HTMLEscapeString(Format(lo, p.Unit, p.Decimals)), template.HTMLEscapeString(Format(hi, p.Unit, p.Decimals)))
	for i, s := range p.Series {
		if i == 8 {
			fmt.Fprintf(&b, `<span>and %d more</span>`, len(p.Series)-8)
			break
		}
		last := "–"
		if v, ok := s.Last(); ok {
			last = Format(v, p.Unit, p.Decimals)
		}
		fmt.Fprintf(&b, `<span><i style="background:%s"></i>%s: %s</span>`, palette[i%len(palette)], template.HTMLEscapeString(s.Name), template.HTMLEscapeString(last))
	}
	b.WriteString(`</div>`)
	return template.HTML(b.String())
}

// scale is the value axis: the panel's min and max where set, else the
// data's, never empty.
func (p Panel) scale(lo, hi float64) (float64, float64) {
	if p.Min != nil {
		lo = *p.Min
	}
	if p.Max != nil {
		hi = *p.Max
	}
	if hi <= lo {
		hi = lo + 1
	}
	return lo, hi
}

// stack adds each series to the ones before it, at the same timestamps.
func stack(ss []Series) []Series {
	sum := map[int64]float64{}
	out := make([]Series, len(ss))
	for i, s := range ss {
		out[i] = Series{Name: s.Name, Labels: s.Labels}
		for _, pt := range s.Points {
			k := pt.T.UnixMilli()
			if !math.IsNaN(pt.V) {
				sum[k] += pt.V
			}
			out[i].Points = append(out[i].Points, Point{T: pt.T, V: sum[k]})
		}
	}
	return out
}

// stats shows each series' last value, coloured by the thresholds.
func stats(p Panel) template.HTML {
	var b strings.Builder
	b.WriteString(`<div class="stats">`)
	for i, s := range p.Series {
		if i == 4 {
			break
		}
		v, ok := s.Last()
		if !ok {
			continue
		}
		text := Format(v, p.Unit, p.Decimals)
		c := p.thresholdColor(v)
		if m, ok := p.Mappings[strconv.FormatFloat(v, 'f', -1, 64)]; ok {
			text, c = m.Text, color(m.Color)
		}
		name := ""
		if len(p.Series) > 1 {
			name = s.Name
		}
		fmt.Fprintf(&b, `<div class="stat"><div class="stat-value" style="color:%s">%s</div><div class="stat-name">%s</div></div>`,
			c, template.HTMLEscapeString(text), template.HTMLEscapeString(name))
	}
	b.WriteString(`</div>`)
	return template.HTML(b.String())
}

// tableHTML is one row per series: its labels, then its value.
func tableHTML(p Panel) template.HTML {
	cols := map[string]bool{}
	for _, s := range p.Series {
		for k := range s.Labels {
			if !p.Hide[k] {
				cols[k] = true
			}
		}
	}
	names := slices.Sorted(maps.Keys(cols))
	showValue := !p.Hide["Value"]
	var b strings.Builder
	b.WriteString(`<div style="overflow:auto;flex:1"><table><thead><tr>`)
	for _, c := range names {
		fmt.Fprintf(&b, `<th>%s</th>`, template.HTMLEscapeString(c))
	}
	if showValue {
		b.WriteString(`<th>Value</th>`)
	}
	b.WriteString(`</tr></thead><tbody>`)
	for _, s := range p.Series {
		b.WriteString(`<tr>`)
		for _, c := range names {
			fmt.Fprintf(&b, `<td>%s</td>`, template.HTMLEscapeString(s.Labels[c]))
		}
		if showValue {
			v, _ := s.Last()
			fmt.Fprintf(&b, `<td>%s</td>`, template.HTMLEscapeString(Format(v, p.Unit, p.Decimals)))
		}
		b.WriteString(`</tr>`)
	}
	b.WriteString(`</tbody></table></div>`)
	return template.HTML(b.String())
}

// bars is a horizontal bar per series, from the panel's min to its max
// (or the largest value).
func bars(p Panel) template.HTML {
	top := 0.0
	for _, s := range p.Series {
		if v, ok := s.Last(); ok {
			top = math.Max(top, v)
		}
	}
	lo, hi := p.scale(0, top)
	var b strings.Builder
	b.WriteString(`<div class="bars">`)
	for i, s := range p.Series {
		v, ok := s.Last()
		if !ok {
			continue
		}
		w := math.Max(0, math.Min(1, (v-lo)/(hi-lo))) * 100
		fmt.Fprintf(&b, `<div class="barrow"><span class="name">%s</span><span class="track"><div class="bar" style="width:%.1f%%;background:%s"></div></span><span>%s</span></div>`,
			template.HTMLEscapeString(s.Name), w, palette[i%len(palette)], template.HTMLEscapeString(Format(v, p.Unit, p.Decimals)))
	}
	b.WriteString(`</div>`)
	return template.HTML(b.String())
}

// heatmapSVG draws a cell per bucket and time step, darker for more.
func heatmapSVG(p Panel) template.HTML {
	type bucket struct {
		le float64
		s  Series
	}
	var bs []bucket
	top := 0.0
	steps := 0
	for _, s := range p.Series {
		le, err := strconv.ParseFloat(s.Labels["le"], 64)
		if err != nil {
			le = math.Inf(1)
		}
		bs = append(bs, bucket{le, s})
		steps = max(steps, len(s.Points))
		for _, pt := range s.Points {
			if !math.IsNaN(pt.V) {
				top = math.Max(top, pt.V)
			}
		}
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	if len(bs) == 0 {
		return ""
	}
	// Prometheus buckets are cumulative (le = at most); each cell shows
	// the requests of its own bucket, as Grafana's heatmap does.
	for i := len(bs) - 1; i > 0; i-- {
		prev := map[int64]float64{}
		for _, pt := range bs[i-1].s.Points {
			prev[pt.T.UnixMilli()] = pt.V
		}
		pts := make([]Point, len(bs[i].s.Points))
		for j, pt := range bs[i].s.Points {
			pts[j] = Point{T: pt.T, V: pt.V - prev[pt.T.UnixMilli()]}
		}
		bs[i].s.Points = pts
	}
	top = 0
	for _, bk := range bs {
		for _, pt := range bk.s.Points {
			if !math.IsNaN(pt.V) {
				top = math.Max(top, pt.V)
			}
		}
	}
	if top <= 0 {
		top = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" preserveAspectRatio="none" role="img">`, vw, vh)
	ch := vh / float64(max(len(bs), 1))
	cw := vw / float64(max(steps, 1))
	for i, bk := range bs {
		for j, pt := range bk.s.Points {
			if math.IsNaN(pt.V) || pt.V <= 0 {
				continue
			}
			fmt.Fprintf(&b, `<rect class="cell" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#FA6400" fill-opacity="%.2f"/>`,
				float64(j)*cw, vh-float64(i+1)*ch, cw, ch, 0.15+0.85*math.Sqrt(pt.V/top))
		}
	}
	b.WriteString(`</svg>`)
	fmt.Fprintf(&b, `<div class="legend"><span>%d buckets from %s up; darker is more requests</span></div>`, len(bs), template.HTMLEscapeString(Format(firstLe(bs[0].le), p.Unit, nil)))
	return template.HTML(b.String())
}

func firstLe(v float64) float64 {
	if math.IsInf(v, 0) {
		return 0
	}
	return v
}

// stateSVG is one band per series, each step coloured by its value's
// mapping (or threshold).
func stateSVG(p Panel) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" preserveAspectRatio="none" role="img">`, vw, vh)
	bh := vh / float64(max(len(p.Series), 1))
	for i, s := range p.Series {
		n := float64(max(len(s.Points), 1))
		for j, pt := range s.Points {
			if math.IsNaN(pt.V) {
				continue
			}
			c := p.thresholdColor(pt.V)
			if m, ok := p.Mappings[strconv.FormatFloat(pt.V, 'f', -1, 64)]; ok {
				c = color(m.Color)
			}
			fmt.Fprintf(&b, `<rect class="state" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`,
				float64(j)/n*vw, float64(i)*bh+2, vw/n+0.5, bh-4, c)
		}
	}
	b.WriteString(`</svg><div class="legend">`)
	for _, s := range p.Series {
		v, _ := s.Last()
		text := Format(v, p.Unit, p.Decimals)
		if m, ok := p.Mappings[strconv.FormatFloat(v, 'f', -1, 64)]; ok {
			text = m.Text
		}
		fmt.Fprintf(&b, `<span>%s: %s</span>`, template.HTMLEscapeString(s.Name), template.HTMLEscapeString(text))
	}
	b.WriteString(`</div>`)
	return template.HTML(b.String())
}
