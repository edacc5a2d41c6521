// Package board defines the shortener's Grafana dashboards in Go and builds
// them with Grafana's own typed builders (github.com/grafana/grafana-foundation-sdk/go),
// so the JSON users import follows Grafana's schema rather than a guess.
// `go generate ./dashboards` (cmd/gendashboards) writes dashboards/*.json
// from All(); a test in dashboards/ fails when the committed files differ.
//
// A dashboard is data (Board, Row, Panel, Query) in one file each; this
// file turns that data into builders, so every panel of a kind looks the
// same and shares one datasource variable.
package board

// The v1 dashboard model is deprecated in the SDK in favour of dashboardv2,
// which only Grafana 12 imports; these files are provisioned into Grafana
// 10 and 11 as well (dashboards/README.md), so they keep the v1 schema.
//lint:file-ignore SA1019 dashboard v1 is the schema Grafana 10 and 11 import

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Board is one dashboard.
type Board struct {
	File        string // dashboards/<File>
	UID         string
	Title       string
	Description string
	Tags        []string
	Rows        []Row
	// Annotations are shown besides the deploy annotation every board has.
	Annotations []Annotation
}

// Row is a row header and the panels below it.
type Row struct {
	Title  string
	Y      int
	Panels []Panel
}

// Kind is a panel type.
type Kind int

// Panel kinds.
const (
	TimeSeries Kind = iota
	Stat
	Table
	BarGauge
	Heatmap
	StateTimeline
)

// Pos is a panel's place in the 24-column grid.
type Pos struct{ X, Y, W, H int }

// Panel is one panel.
type Panel struct {
	Kind        Kind
	Title       string
	Description string
	Pos         Pos
	Unit        string
	Min, Max    *float64
	Decimals    *float64
	// Thresholds, lowest first; the first step's value is ignored (it is
	// the base, -Infinity).
	Thresholds []Step
	// ThresholdLines draws the thresholds on a time series as lines.
	ThresholdLines bool
	// Stacked stacks a time series' series.
	Stacked bool
	// Mappings turn values into text (a state timeline's states).
	Mappings []Mapping
	// Hide lists table columns left out (an organize transformation).
	Hide    []string
	Queries []Query
}

// Step is one threshold.
type Step struct {
	Color string
	Value float64
}

// Mapping shows Value as Text in Color.
type Mapping struct {
	Value, Text, Color string
}

// Query is one PromQL target.
type Query struct {
	Expr   string
	Legend string
	// Instant runs an instant query (tables); Format is "table" or
	// "heatmap" where the panel needs it.
	Instant bool
	Format  string
}

// Annotation is a Prometheus annotation query: an event wherever the
// expression has a value.
type Annotation struct {
	Name, Color, Expr, Title, Text, TagKeys string
	// UseValueForTime takes the event's time from the sample value (in
	// milliseconds) instead of the sample's timestamp.
	UseValueForTime bool
}

// F returns a pointer to v, for Min, Max and Decimals.
func F(v float64) *float64 { return &v }

// Selector is the label matcher every service panel filters by.
const Selector = `job=~"$job", instance=~"$instance", track=~"$track"`

// deploys marks every moment an instance starts running a new version.
var deploys = Annotation{
	Name:    "Deploys",
	Color:   "blue",
	Expr:    "count by (job, instance, track, version) (shortener_build_info{" + Selector + "})\nunless\ncount by (job, instance, track, version) (shortener_build_info{" + Selector + "} offset 2m)",
	Title:   "Deploy {{version}}",
	Text:    "{{instance}} ({{track}}) now runs {{version}}",
	TagKeys: "track,version",
}

func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
}

// Build turns a Board into Grafana's dashboard model.
func Build(b Board) (dashboard.Dashboard, error) {
	d := dashboard.NewDashboardBuilder(b.Title).
		Uid(b.UID).
		Description(b.Description).
		Tags(b.Tags).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Timezone(common.TimeZoneBrowser).
		Time("now-1h", "now").
		Refresh("30s").
		Version(1).
		Link(dashboard.NewDashboardLinkBuilder("Shortener dashboards").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"shortener"}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true).
			Icon("external link")).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Data source").
			Type("prometheus")).
		WithVariable(queryVariable("job", "Job", "label_values(shortener_build_info, job)")).
		WithVariable(queryVariable("instance", "Instance", `label_values(shortener_build_info{job=~"$job"}, instance)`)).
		WithVariable(queryVariable("track", "Track", `label_values(http_server_request_duration_seconds_count{job=~"$job"}, track)`))
	for _, a := range append([]Annotation{deploys}, b.Annotations...) {
		d.Annotation(annotation(a))
	}
	id := uint32(0)
	next := func() uint32 { id++; return id }
	for _, r := range b.Rows {
		d.WithRow(dashboard.NewRowBuilder(r.Title).Id(next()).GridPos(dashboard.GridPos{X: 0, Y: uint32(r.Y), W: 24, H: 1}))
		for _, p := range r.Panels {
			pb, err := panel(p, next())
			if err != nil {
				return dashboard.Dashboard{}, fmt.Errorf("%s: panel %q: %w", b.File, p.Title, err)
			}
			d.WithPanel(pb)
		}
	}
	out, err := d.Build()
	if err != nil {
		return out, fmt.Errorf("%s: %w", b.File, err)
	}
	return out, nil
}

// JSON is the file users import: indented, ending in a newline.
func JSON(b Board) ([]byte, error) {
	d, err := Build(b)
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.File, err)
	}
	return append(out, '\n'), nil
}

func queryVariable(name, label, query string) *dashboard.QueryVariableBuilder {
	all := dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}}
	allValue := dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}}
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(datasource()).
		Query(dashboard.StringOrMap{Map: map[string]any{"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"}}).
		Definition(query).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".*").
		Current(dashboard.VariableOption{Selected: cog.ToPtr(true), Text: all, Value: allValue})
}

func annotation(a Annotation) *dashboard.AnnotationQueryBuilder {
	return dashboard.NewAnnotationQueryBuilder().
		Name(a.Name).
		Enable(true).
		Hide(false).
		IconColor(a.Color).
		Datasource(datasource()).
		Expr(a.Expr).
		Step("30s").
		TitleFormat(a.Title).
		TextFormat(a.Text).
		TagKeys(a.TagKeys).
		UseValueForTime(a.UseValueForTime)
}

func targets(p Panel) []cog.Builder[variants.Dataquery] {
	var out []cog.Builder[variants.Dataquery]
	for i, q := range p.Queries {
		t := prometheus.NewDataqueryBuilder().
			RefId(string(rune('A' + i))).
			Datasource(datasource()).
			Expr(q.Expr).
			LegendFormat(q.Legend)
		if q.Instant {
			t.Instant()
		} else {
			t.Range()
		}
		switch q.Format {
		case "table":
			t.Format(prometheus.PromQueryFormatTable)
		case "heatmap":
			t.Format(prometheus.PromQueryFormatHeatmap)
		}
		out = append(out, t)
	}
	return out
}

func thresholds(p Panel) *dashboard.ThresholdsConfigBuilder {
	steps := p.Thresholds
	if len(steps) == 0 {
		steps = []Step{{Color: "green"}}
	}
	var out []dashboard.Threshold
	for i, s := range steps {
		t := dashboard.Threshold{Color: s.Color}
		if i > 0 {
			t.Value = cog.ToPtr(s.Value)
		}
		out = append(out, t)
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(out)
}

func mappings(p Panel) []dashboard.ValueMapping {
	if len(p.Mappings) == 0 {
		return nil
	}
	vm := dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: map[string]dashboard.ValueMappingResult{}}
	for i, m := range p.Mappings {
		vm.Options[m.Value] = dashboard.ValueMappingResult{Text: cog.ToPtr(m.Text), Color: cog.ToPtr(m.Color), Index: cog.ToPtr(int32(i))}
	}
	return []dashboard.ValueMapping{{ValueMap: &vm}}
}

// common is what every panel builder has, whatever its kind.
type commonBuilder[T any] interface {
	Id(uint32) T
	Title(string) T
	Description(string) T
	Datasource(common.DataSourceRef) T
	GridPos(dashboard.GridPos) T
	Targets([]cog.Builder[variants.Dataquery]) T
	Unit(string) T
	Min(float64) T
	Max(float64) T
	Decimals(float64) T
	Thresholds(cog.Builder[dashboard.ThresholdsConfig]) T
}

func setCommon[T commonBuilder[T]](b T, p Panel, id uint32) T {
	b.Id(id).
		Title(p.Title).
		Description(p.Description).
		Datasource(datasource()).
		GridPos(dashboard.GridPos{X: uint32(p.Pos.X), Y: uint32(p.Pos.Y), W: uint32(p.Pos.W), H: uint32(p.Pos.H)}).
		Targets(targets(p)).
		Unit(p.Unit)
	// Stat, bar gauge and state timeline panels carry thresholds (green when
	// none are given); the others draw thresholds only when given.
	if len(p.Thresholds) > 0 || p.Kind == Stat || p.Kind == StateTimeline || p.Kind == BarGauge {
		b.Thresholds(thresholds(p))
	}
	if p.Min != nil {
		b.Min(*p.Min)
	}
	if p.Max != nil {
		b.Max(*p.Max)
	}
	if p.Decimals != nil {
		b.Decimals(*p.Decimals)
	}
	return b
}

func lastNotNull() *common.ReduceDataOptionsBuilder {
	return common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false).Fields("")
}

func panel(p Panel, id uint32) (cog.Builder[dashboard.Panel], error) {
	switch p.Kind {
	case TimeSeries:
		b := setCommon(timeseries.NewPanelBuilder(), p, id).
			Legend(common.NewVizLegendOptionsBuilder().
				DisplayMode(common.LegendDisplayModeTable).
				Placement(common.LegendPlacementBottom).
				ShowLegend(true).
				Calcs([]string{"lastNotNull", "max"})).
			Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending)).
			DrawStyle(common.GraphDrawStyleLine).
			LineWidth(1).
			FillOpacity(10).
			ShowPoints(common.VisibilityModeNever).
			SpanNulls(common.BoolOrFloat64{Bool: cog.ToPtr(false)})
		mode := common.StackingModeNone
		if p.Stacked {
			mode = common.StackingModeNormal
		}
		b.Stacking(common.NewStackingConfigBuilder().Mode(mode).Group("A"))
		if p.ThresholdLines {
			b.ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeLine))
		}
		return b, nil
	case Stat:
		return setCommon(stat.NewPanelBuilder(), p, id).
			ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
			ColorMode(common.BigValueColorModeValue).
			GraphMode(common.BigValueGraphModeArea).
			JustifyMode(common.BigValueJustifyModeAuto).
			TextMode(common.BigValueTextModeAuto).
			Orientation(common.VizOrientationAuto).
			ReduceOptions(lastNotNull()), nil
	case Table:
		hide := map[string]any{}
		for _, c := range p.Hide {
			hide[c] = true
		}
		return setCommon(table.NewPanelBuilder(), p, id).
			ShowHeader(true).
			CellHeight(common.TableCellHeightSm).
			Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"}).Fields([]string{})).
			Transformations([]dashboard.DataTransformerConfig{{
				Id:      "organize",
				Options: map[string]any{"excludeByName": hide, "renameByName": map[string]any{}},
			}}), nil
	case BarGauge:
		return setCommon(bargauge.NewPanelBuilder(), p, id).
			ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdPaletteClassic)).
			DisplayMode(common.BarGaugeDisplayModeGradient).
			Orientation(common.VizOrientationHorizontal).
			ValueMode(common.BarGaugeValueModeColor).
			NamePlacement(common.BarGaugeNamePlacementAuto).
			ShowUnfilled(true).
			Sizing(common.BarGaugeSizingAuto).
			ReduceOptions(lastNotNull()), nil
	case Heatmap:
		return setCommon(heatmap.NewPanelBuilder(), p, id).
			Calculate(false).
			CellGap(1).
			YAxis(heatmap.NewYAxisConfigBuilder().AxisPlacement(common.AxisPlacementLeft).Unit(p.Unit)).
			RowsFrame(heatmap.NewRowsHeatmapOptionsBuilder().Layout(common.HeatmapCellLayoutAuto)).
			Color(heatmap.NewHeatmapColorOptionsBuilder().
				Mode(heatmap.HeatmapColorModeScheme).
				Scheme("Oranges").
				Fill("dark-orange").
				Scale(heatmap.HeatmapColorScaleExponential).
				Exponent(0.5).
				Steps(64).
				Reverse(false)).
			Tooltip(heatmap.NewHeatmapTooltipBuilder().Mode(common.TooltipDisplayModeSingle).YHistogram(true).ShowColorScale(false)).
			ShowLegend().
			ExemplarsColor("rgba(255,0,255,0.7)").
			FilterValues(heatmap.NewFilterValueRangeBuilder().Le(1e-9)), nil
	case StateTimeline:
		return setCommon(statetimeline.NewPanelBuilder(), p, id).
			ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
			Mappings(mappings(p)).
			FillOpacity(70).
			LineWidth(0).
			MergeValues(true).
			ShowValue(common.VisibilityModeAuto).
			AlignValue("left").
			RowHeight(0.9).
			Legend(common.NewVizLegendOptionsBuilder().DisplayMode(common.LegendDisplayModeList).Placement(common.LegendPlacementBottom).ShowLegend(true)).
			Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeSingle).Sort(common.SortOrderNone)), nil
	}
	return nil, fmt.Errorf("unknown panel kind %d", p.Kind)
}
