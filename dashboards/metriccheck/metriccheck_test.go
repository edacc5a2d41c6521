package metriccheck

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestExtract(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want []string
	}{
		{"bare selector", `up`, []string{"up"}},
		{"matchers are labels, not metrics", `up{job="a", instance=~"b.*", track!="c"}`, []string{"up"}},
		{"matcher value that looks like a name", `http_server_request_duration_seconds_count{http_route="/{code}", le="0.1"}`, []string{"http_server_request_duration_seconds_count"}},
		{"function and range", `rate(shortener_redirects_total[5m])`, []string{"shortener_redirects_total"}},
		{"aggregation with by before the parenthesis", `sum by (job, track) (rate(a_total[1m]))`, []string{"a_total"}},
		{"aggregation with by after", `sum(rate(a_total[1m])) by (http_route)`, []string{"a_total"}},
		{"case-insensitive keywords", `SUM BY (job) (a) AND ON (job) b`, []string{"a", "b"}},
		{"histogram_quantile with le grouping", `histogram_quantile(0.99, sum by (le, http_route) (rate(h_bucket{job=~".*"}[5m])))`, []string{"h_bucket"}},
		{"vector matching", `a > ignoring (track) group_left (version) (2 * b + 0.001)`, []string{"a", "b"}},
		{"group_left without labels", `a * on (job) group_left b`, []string{"a", "b"}},
		{"set operators", `a unless on (job) b or c and bool d`, []string{"a", "b", "c", "d"}},
		{"recording rule names with colons", `job:slo_availability_errors:ratio_rate5m > (14.4 * 0.001)`, []string{"job:slo_availability_errors:ratio_rate5m"}},
		{"offset, durations and subquery", `max_over_time(rate(a_total[1m])[10m:30s] offset 1h30m)`, []string{"a_total"}},
		{"@ modifier", `a @ start() - a @ 1609746000`, []string{"a"}},
		{"numbers in every form", `a * 1e-3 + 0x1F - .5 + Inf - NaN`, []string{"a"}},
		{"strings are skipped", `label_replace(a, "dst", "$1", "src", "(.*)") + count_values("version", b)`, []string{"a", "b"}},
		{"topk parameter", `topk(5, a)`, []string{"a"}},
		{"__name__ matcher", `{__name__="a_total", job="x"}`, []string{"a_total"}},
		{"__name__ regex is not a name", `{__name__=~"a.*"}`, nil},
		{"comment", "a # b is a comment\n+ c", []string{"a", "c"}},
		{"duplicates once", `a / (a + a)`, []string{"a"}},
		{"functions without metrics", `time() - vector(1)`, nil},
		{"function name as prefix of metric", `rate_total + rate(rate_total[1m])`, []string{"rate_total"}},
		{"escaped quote in string", `a{x="say \"b\""} + c`, []string{"a", "c"}},
		{"ALERTS", `ALERTS{alertname="X", alertstate="pending"}`, []string{"ALERTS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Extract(tt.expr)
			if err != nil {
				t.Fatalf("Extract(%q): %v", tt.expr, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Extract(%q) = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}

func TestExtractRejectsBrokenExpressions(t *testing.T) {
	for _, expr := range []string{
		`a{job="x"`,
		`a{job="x}`,
		`rate(a[5m)`,
		`sum(rate(a[5m])`,
		`sum(a))`,
		`rate(a[$__rate_interval])`,
		`a / $scale`,
	} {
		if got, err := Extract(expr); err == nil {
			t.Errorf("Extract(%q) = %q, want an error", expr, got)
		}
	}
}

func TestCheck(t *testing.T) {
	c := New([]string{"job:slo_availability_errors:ratio_rate5m"})
	ok := []string{
		`sum(rate(http_server_request_duration_seconds_count[5m]))`,
		`http_server_request_duration_seconds_bucket{le="0.1"}`,
		`http_server_request_duration_seconds_sum / http_server_request_duration_seconds_count`,
		`shortener_links_created_total`,
		`go_goroutines + process_resident_memory_bytes`,
		`up == 0`,
		`ALERTS{alertstate="firing"}`,
		`increase(release_runs_total{outcome="promoted"}[1d])`,
		`time() - release_last_success_timestamp_seconds`,
		`job:slo_availability_errors:ratio_rate5m / 0.001`,
	}
	for _, expr := range ok {
		if err := c.Check(expr); err != nil {
			t.Errorf("Check(%q): %v", expr, err)
		}
	}
	bad := []struct{ expr, unknown string }{
		// A histogram family renamed on one side only.
		{`rate(http_server_request_latency_seconds_bucket[5m])`, "http_server_request_latency_seconds_bucket"},
		// Counters have no _count or _bucket series.
		{`shortener_redirects_total_count`, "shortener_redirects_total_count"},
		// The _total suffix dropped.
		{`rate(shortener_redirects[5m])`, "shortener_redirects"},
		// A recording rule that is not defined.
		{`job:slo_availability_errors:ratio_rate4w`, "job:slo_availability_errors:ratio_rate4w"},
		// The pipeline pushes release_runs_total, not deployments.
		{`release_deployments_total`, "release_deployments_total"},
	}
	for _, tt := range bad {
		err := c.Check(tt.expr)
		if !errors.Is(err, ErrUnknownMetric) || !strings.Contains(err.Error(), tt.unknown) {
			t.Errorf("Check(%q) = %v, want ErrUnknownMetric naming %s", tt.expr, err, tt.unknown)
		}
	}
	if err := c.Check(`vector(1)`); err == nil {
		t.Error("Check(vector(1)) passed; an expression selecting no metric should fail (it proves nothing)")
	}
}
