package alerts

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/obsshort/shortener/dashboards"
	"github.com/obsshort/shortener/telemetry"
)

// The latency SLO threshold has one source, telemetry.LatencySLOSeconds.
// The rules and the dashboards cannot import it: they spell it as the le
// label of one bucket of the request histogram. The tests here tie each
// spelling to the constant, so changing one without the other fails.

// leSpellings returns how Prometheus spells the le label of a bucket at
// bound: the shortest float ('g', -1), as the text format writes it and
// Prometheus 3 normalises it, and for a whole number also OpenMetrics'
// "1.0", which Prometheus 2 stores as scraped. A selector of that bucket
// must match every spelling.
func leSpellings(bound float64) []string {
	s := strconv.FormatFloat(bound, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		return []string{s, s + ".0"}
	}
	return []string{s}
}

// latencySLOLe returns the spellings of the SLO bucket's le.
func latencySLOLe() []string { return leSpellings(telemetry.LatencySLOSeconds) }

// thresholdMs is the SLO threshold in milliseconds, as the alert
// descriptions and panel titles write it ("100").
func thresholdMs() string {
	return strconv.FormatFloat(telemetry.LatencySLOSeconds*1000, 'g', -1, 64)
}

// msInText finds durations written in milliseconds in prose.
var msInText = regexp.MustCompile(`(\d+(?:\.\d+)?) ?ms\b`)

// matcher is one label matcher of a selector, with the metric it selects
// ("" for a selector without a name outside the braces).
type matcher struct {
	metric, label, op, value string
}

func (m matcher) String() string {
	return fmt.Sprintf("%s{%s%s%q}", m.metric, m.label, m.op, m.value)
}

// selectorMatchers returns every label matcher of every selector in expr.
// It reads strings (a "/{code}" route holds braces), comments and
// selectors; everything else is skipped.
func selectorMatchers(expr string) ([]matcher, error) {
	var out []matcher
	for i := 0; i < len(expr); {
		switch c := expr[i]; {
		case c == '"' || c == '\'' || c == '`':
			_, end, err := readString(expr, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '{':
			ms, end, err := readMatchers(expr, i)
			if err != nil {
				return nil, err
			}
			metric := identBefore(expr, i)
			for _, m := range ms {
				m.metric = metric
				out = append(out, m)
			}
			i = end
		default:
			i++
		}
	}
	return out, nil
}

func isIdentChar(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// identBefore returns the metric name that ends right before offset i
// (spaces allowed in between), or "" when a keyword or nothing is there.
func identBefore(s string, i int) string {
	end := i
	for end > 0 && (s[end-1] == ' ' || s[end-1] == '\t') {
		end--
	}
	start := end
	for start > 0 && isIdentChar(s[start-1]) {
		start--
	}
	switch w := s[start:end]; strings.ToLower(w) {
	case "and", "or", "unless", "bool", "offset":
		return ""
	default:
		return w
	}
}

// readString reads the PromQL string literal at offset i and returns its
// value and the offset after it.
func readString(s string, i int) (string, int, error) {
	quote := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && quote != '`':
			j++
		case s[j] == quote:
			lit := s[i : j+1]
			if quote == '`' {
				return lit[1 : len(lit)-1], j + 1, nil
			}
			if quote == '\'' {
				lit = `"` + strings.ReplaceAll(lit[1:len(lit)-1], `"`, `\"`) + `"`
			}
			v, err := strconv.Unquote(lit)
			if err != nil {
				return "", 0, fmt.Errorf("string at offset %d: %w", i, err)
			}
			return v, j + 1, nil
		}
	}
	return "", 0, fmt.Errorf("unterminated string at offset %d", i)
}

// readMatchers reads the matcher list whose { is at offset i and returns
// its matchers and the offset after the }.
func readMatchers(s string, i int) ([]matcher, int, error) {
	var out []matcher
	j := i + 1
	skip := func() {
		for j < len(s) && strings.IndexByte(" \t\n\r,", s[j]) >= 0 {
			j++
		}
	}
	for {
		skip()
		if j >= len(s) {
			return nil, 0, fmt.Errorf("unterminated { at offset %d", i)
		}
		if s[j] == '}' {
			return out, j + 1, nil
		}
		start := j
		for j < len(s) && isIdentChar(s[j]) {
			j++
		}
		label := s[start:j]
		skip()
		var op string
		for _, o := range []string{"=~", "!~", "!=", "="} {
			if strings.HasPrefix(s[j:], o) {
				op = o
				break
			}
		}
		if label == "" || op == "" {
			return nil, 0, fmt.Errorf("malformed matcher at offset %d in %q", start, s)
		}
		j += len(op)
		skip()
		if j >= len(s) || strings.IndexByte("\"'`", s[j]) < 0 {
			return nil, 0, fmt.Errorf("matcher %s%s without a string at offset %d", label, op, j)
		}
		v, end, err := readString(s, j)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, matcher{label: label, op: op, value: v})
		j = end
	}
}

// checkLatencyLe checks that a matcher on le selects exactly the bucket at
// the SLO threshold, in every spelling of it (see latencySLOLe).
func checkLatencyLe(m matcher) error {
	want := latencySLOLe()
	switch m.op {
	case "=":
		if len(want) == 1 && m.value == want[0] {
			return nil
		}
	case "=~":
		got := strings.Split(m.value, "|")
		slices.Sort(got)
		if slices.Equal(got, slices.Sorted(slices.Values(want))) {
			return nil
		}
	}
	if len(want) == 1 {
		return fmt.Errorf("%s: want le=%q, telemetry.LatencySLOSeconds (%v s) as Prometheus spells it", m, want[0], telemetry.LatencySLOSeconds)
	}
	return fmt.Errorf("%s: want le=~%q, telemetry.LatencySLOSeconds (%v s) in both spellings Prometheus uses", m, strings.Join(want, "|"), telemetry.LatencySLOSeconds)
}

// requestBucket is the series of the request histogram's buckets, which
// the latency SLI reads.
const requestBucket = telemetry.MetricHTTPRequestDuration + "_bucket"

// TestLatencyThresholdIsTheSLOConstant: every le matcher in the rules (the
// latency SLI recording rules) and every le matcher on the request
// histogram in the dashboards (the SLI and budget panels) is
// telemetry.LatencySLOSeconds, a boundary of telemetry.DurationBuckets().
// The latency alerts' descriptions state the same threshold in ms.
func TestLatencyThresholdIsTheSLOConstant(t *testing.T) {
	if !slices.Contains(telemetry.DurationBuckets(), telemetry.LatencySLOSeconds) {
		t.Fatalf("telemetry.LatencySLOSeconds %v is not one of telemetry.DurationBuckets() %v: the SLI could only be approximated",
			telemetry.LatencySLOSeconds, telemetry.DurationBuckets())
	}

	inRules := 0
	for _, r := range mustLoad(t) {
		ms, err := selectorMatchers(r.Expr)
		if err != nil {
			t.Fatalf("%s: %v", r.Name(), err)
		}
		for _, m := range ms {
			if m.label != "le" {
				continue
			}
			inRules++
			if m.metric != requestBucket {
				t.Errorf("%s (%s): le matcher on %s; the only le a rule may select is the latency SLI's on %s", r.Name(), r.File, m, requestBucket)
			} else if err := checkLatencyLe(m); err != nil {
				t.Errorf("%s (%s): %v", r.Name(), r.File, err)
			}
		}
		if r.Alert != "" && r.Labels["slo"] == "latency" {
			if ms := thresholdMs() + " ms"; !strings.Contains(r.Annotations["description"], ms) {
				t.Errorf("%s: description %q does not state the threshold %s", r.Alert, r.Annotations["description"], ms)
			}
		}
	}
	if inRules == 0 {
		t.Errorf("no le matcher found in the rules: the latency SLI is missing or the parser is broken")
	}

	ds, err := dashboards.Load()
	if err != nil {
		t.Fatal(err)
	}
	// "All" for the multi-value variables, durations for the others: the
	// matchers need a valid expression, not particular values.
	vars := map[string]string{"job": ".*", "instance": ".*", "track": ".*",
		"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}
	inDashboards := map[string]int{}
	for _, d := range ds {
		qs, err := d.Queries()
		if err != nil {
			t.Fatal(err)
		}
		sliPanels := map[string]bool{}
		for _, q := range qs {
			ms, err := selectorMatchers(dashboards.Substitute(q.Expr, vars))
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			for _, m := range ms {
				if m.label != "le" || m.metric != requestBucket {
					continue
				}
				inDashboards[d.File]++
				if q.Kind == dashboards.KindPanel {
					sliPanels[q.Where] = true
				}
				if err := checkLatencyLe(m); err != nil {
					t.Errorf("%s: %v", q, err)
				}
			}
		}
		// A panel that reads the SLI bucket and names a threshold in
		// words names this one.
		for _, p := range d.Panels() {
			title, _ := p["title"].(string)
			desc, _ := p["description"].(string)
			if !sliPanels[title] {
				continue
			}
			for _, m := range msInText.FindAllStringSubmatch(title+"\n"+desc, -1) {
				if m[1] != thresholdMs() {
					t.Errorf("%s panel %q says %s ms; the SLO threshold is %s ms", d.File, title, m[1], thresholdMs())
				}
			}
		}
	}
	// The SLO dashboard shows the latency SLI and its budget; the canary
	// dashboard compares the tracks' shares of slow redirects.
	for _, f := range []string{"slo.json", "canary.json"} {
		if inDashboards[f] == 0 {
			t.Errorf("%s: no le matcher on %s found: its latency SLI panels are gone or the parser is broken", f, requestBucket)
		}
	}
}

func TestCheckLatencyLe(t *testing.T) {
	want := latencySLOLe()
	other := "0.25" // a boundary of DurationBuckets, but not the SLO's
	if slices.Contains(want, other) {
		other = "0.05"
	}
	ok := matcher{metric: requestBucket, label: "le", op: "=", value: want[0]}
	if len(want) > 1 {
		ok = matcher{metric: requestBucket, label: "le", op: "=~", value: strings.Join(want, "|")}
	}
	for _, tt := range []struct {
		m    matcher
		pass bool
	}{
		{ok, true},
		{matcher{metric: requestBucket, label: "le", op: "=", value: other}, false},
		// The same number spelled differently selects no series.
		{matcher{metric: requestBucket, label: "le", op: "=", value: want[0] + "0"}, false},
		{matcher{metric: requestBucket, label: "le", op: "=~", value: want[0] + "|" + other}, false},
		{matcher{metric: requestBucket, label: "le", op: "!=", value: want[0]}, false},
	} {
		if err := checkLatencyLe(tt.m); (err == nil) != tt.pass {
			t.Errorf("checkLatencyLe(%s) = %v, want pass %v", tt.m, err, tt.pass)
		}
	}
}

func TestLeSpellings(t *testing.T) {
	for _, tt := range []struct {
		bound float64
		want  []string
	}{
		{0.1, []string{"0.1"}},
		{0.0005, []string{"0.0005"}},
		{2.5, []string{"2.5"}},
		{1, []string{"1", "1.0"}},
		{10, []string{"10", "10.0"}},
	} {
		if got := leSpellings(tt.bound); !slices.Equal(got, tt.want) {
			t.Errorf("leSpellings(%v) = %q, want %q", tt.bound, got, tt.want)
		}
	}
}

func TestSelectorMatchers(t *testing.T) {
	for _, tt := range []struct {
		expr    string
		want    []matcher
		wantErr bool
	}{
		{
			expr: `sum(rate(http_server_request_duration_seconds_bucket{http_route="/{code}", le="0.1"}[5m])) / sum(rate(x_count{a=~'b|c'}[5m]))`,
			want: []matcher{
				{metric: requestBucket, label: "http_route", op: "=", value: "/{code}"},
				{metric: requestBucket, label: "le", op: "=", value: "0.1"},
				{metric: "x_count", label: "a", op: "=~", value: "b|c"},
			},
		},
		{
			expr: "# le=\"9\" in a comment\n{__name__=\"up\", le!=`1`} and {le=~'2'}",
			want: []matcher{
				{label: "__name__", op: "=", value: "up"},
				{label: "le", op: "!=", value: "1"},
				{label: "le", op: "=~", value: "2"},
			},
		},
		{expr: `sum by (le) (rate(x_bucket[5m]))`},
		{expr: `x{le="0.1"`, wantErr: true},
		{expr: `x{le=0.1}`, wantErr: true},
		{expr: `x{le="0.1}`, wantErr: true},
	} {
		got, err := selectorMatchers(tt.expr)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("selectorMatchers(%q) = %v, %v; want %v, error %v", tt.expr, got, err, tt.want, tt.wantErr)
		}
	}
}
