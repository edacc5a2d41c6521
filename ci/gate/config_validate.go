package gate

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/obsshort/shortener/internal/promclient"
	"github.com/obsshort/shortener/telemetry"
)

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Validate checks the configuration needed by `gate analyze` and names the
// first bad field.
func (c *Config) Validate() error {
	if err := c.validateCommon(); err != nil {
		return err
	}
	a := c.Analysis
	switch {
	case strings.TrimSpace(c.Selectors.Canary) == "":
		return fieldErr("selectors.canary", "must not be empty")
	case strings.TrimSpace(c.Selectors.Baseline) == "":
		return fieldErr("selectors.baseline", "must not be empty")
	case normalizeSelector(c.Selectors.Canary) == normalizeSelector(c.Selectors.Baseline):
		return fieldErr("selectors.canary", "is the same as selectors.baseline")
	case !metricNameRE.MatchString(c.Metric):
		return fieldErr("metric", "%q is not a metric name", c.Metric)
	case a.Warmup < 0:
		return fieldErr("analysis.warmup", "must not be negative")
	case a.Interval.D() <= 0:
		return fieldErr("analysis.interval", "must be positive")
	case a.MaxDuration.D() < a.Interval.D():
		return fieldErr("analysis.max_duration", "must be at least analysis.interval (%s)", a.Interval.D())
	case !(a.Alpha > 0 && a.Alpha < 1):
		return fieldErr("analysis.alpha", "must be in (0, 1), got %g", a.Alpha)
	case a.CanaryShare < 0 || a.CanaryShare >= 1:
		return fieldErr("analysis.canary_share", "must be in [0, 1) (0 = observed), got %g", a.CanaryShare)
	case a.ShareTolerance <= 0:
		return fieldErr("analysis.share_tolerance", "must be positive, got %g", a.ShareTolerance)
	case a.MinRequests < 1:
		return fieldErr("analysis.min_requests", "must be at least 1, got %d", a.MinRequests)
	case a.Concentration <= 0:
		return fieldErr("analysis.concentration", "must be positive, got %g", a.Concentration)
	case !(c.SLO.ErrorBudget > 0 && c.SLO.ErrorBudget < 1):
		return fieldErr("slo.error_budget", "must be in (0, 1), got %g", c.SLO.ErrorBudget)
	case !(c.SLO.LatencyBudget > 0 && c.SLO.LatencyBudget < 1):
		return fieldErr("slo.latency_budget", "must be in (0, 1), got %g", c.SLO.LatencyBudget)
	case c.SLO.LatencyThreshold <= 0:
		return fieldErr("slo.latency_threshold", "must be positive, got %g", c.SLO.LatencyThreshold)
	case c.Output != "text" && c.Output != "json":
		return fieldErr("output", "must be text or json, got %q", c.Output)
	}
	if err := c.validateLatencyThreshold(); err != nil {
		return err
	}
	for _, cmp := range []struct {
		name string
		c    Comparative
	}{{"checks.errors", c.Checks.Errors}, {"checks.latency", c.Checks.Latency.Comparative}, {"checks.load_balancer", c.Checks.LoadBalancer.Comparative}} {
		if cmp.c.Margin < 1 {
			return fieldErr(cmp.name+".margin", "must be at least 1, got %g", cmp.c.Margin)
		}
		if cmp.c.Tolerance < 1 {
			return fieldErr(cmp.name+".tolerance", "must be at least 1 (the canary passes once shown below tolerance x baseline + floor), got %g", cmp.c.Tolerance)
		}
		if cmp.c.Floor < 0 || cmp.c.Floor >= 100 {
			return fieldErr(cmp.name+".floor", "must be in [0, 100) (a multiple of the SLO budget), got %g", cmp.c.Floor)
		}
		if cmp.c.Tolerance == 1 && cmp.c.Floor == 0 {
			return fieldErr(cmp.name+".floor", "must be above 0 when tolerance is 1: no canary can be shown better than its baseline exactly")
		}
	}
	ck := c.Checks
	if ck.Latency.MinLE < 0 {
		return fieldErr("checks.latency.min_le", "must not be negative, got %g", ck.Latency.MinLE)
	}
	if ck.Status.Enabled && ck.Status.Margin < 1 {
		return fieldErr("checks.status.margin", "must be at least 1, got %g", ck.Status.Margin)
	}
	if ck.Presence.Grace < 0 {
		return fieldErr("checks.presence.grace", "must not be negative")
	}
	if (ck.Status.Enabled || ck.Routes.Enabled || ck.Errors.Enabled) && (!labelNameRE.MatchString(c.Labels.Status) || !labelNameRE.MatchString(c.Labels.Route)) {
		return fieldErr("labels", "route and status must be label names, got %q and %q", c.Labels.Route, c.Labels.Status)
	}
	if lb := ck.LoadBalancer; lb.Enabled {
		switch {
		case strings.TrimSpace(lb.Canary) == "":
			return fieldErr("checks.load_balancer.canary", "must not be empty when the check is enabled")
		case strings.TrimSpace(lb.Baseline) == "":
			return fieldErr("checks.load_balancer.baseline", "must not be empty when the check is enabled")
		case normalizeSelector(lb.Canary) == normalizeSelector(lb.Baseline):
			return fieldErr("checks.load_balancer.canary", "is the same as checks.load_balancer.baseline")
		case len(lb.Attempts) == 0:
			return fieldErr("checks.load_balancer.attempts", "must list at least one series")
		case len(lb.Failures) == 0:
			return fieldErr("checks.load_balancer.failures", "must list at least one series")
		}
		for _, l := range []struct {
			f  string
			ss []string
		}{{"attempts", lb.Attempts}, {"failures", lb.Failures}} {
			for i, s := range l.ss {
				if _, err := parseSeriesMatcher(s); err != nil {
					return fieldErr(fmt.Sprintf("checks.load_balancer.%s[%d]", l.f, i), "%v", err)
				}
			}
		}
	}
	if c.Checks.Guardrail.Enabled && c.Checks.Guardrail.BudgetMultiple <= 1 {
		return fieldErr("checks.guardrail.budget_multiple", "must be above 1, got %g", c.Checks.Guardrail.BudgetMultiple)
	}
	if !c.Checks.Errors.Enabled && !c.Checks.Latency.Enabled && !c.Checks.LoadBalancer.Enabled {
		return fieldErr("checks", "errors, latency and load_balancer are all disabled: no check could show the canary no worse, so it could never pass")
	}
	seen := map[string]bool{}
	for i, cc := range c.Checks.Custom {
		f := fmt.Sprintf("checks.custom[%d]", i)
		switch {
		case cc.Name == "":
			return fieldErr(f+".name", "must not be empty")
		case seen[cc.Name]:
			return fieldErr(f+".name", "%q is used twice", cc.Name)
		case cc.Query == "":
			return fieldErr(f+".query", "must not be empty")
		case !strings.Contains(cc.Query, "{{.Selector}}"):
			return fieldErr(f+".query", "must contain {{.Selector}} so each arm gets its own series")
		case cc.Direction != HigherIsWorse && cc.Direction != LowerIsWorse:
			return fieldErr(f+".direction", "must be %s or %s, got %q", HigherIsWorse, LowerIsWorse, cc.Direction)
		case (cc.Threshold == nil) == (cc.Tolerance == nil):
			return fieldErr(f, "needs exactly one of threshold or tolerance")
		case cc.Tolerance != nil && *cc.Tolerance < 0:
			return fieldErr(f+".tolerance", "must not be negative")
		case cc.For < 0:
			return fieldErr(f+".for", "must not be negative")
		}
		if _, err := renderQuery(cc.Query, "x", 0); err != nil {
			return fieldErr(f+".query", "%v", err)
		}
		seen[cc.Name] = true
	}
	return nil
}

// validateCommon checks what every subcommand that talks to Prometheus needs.
func (c *Config) validateCommon() error {
	p := c.Prometheus
	if p.URL == "" {
		return fieldErr("prometheus.url", "must not be empty")
	}
	if _, err := promclient.ParseURL(p.URL); err != nil {
		return fieldErr("prometheus.url", "%v", err)
	}
	switch {
	case p.Timeout.D() <= 0:
		return fieldErr("prometheus.timeout", "must be positive")
	case p.Retries < 0:
		return fieldErr("prometheus.retries", "must not be negative")
	case p.MaxConsecutiveErrors < 1:
		return fieldErr("prometheus.max_consecutive_errors", "must be at least 1")
	case p.HTTP.BasicAuth != nil && p.HTTP.BasicAuth.Username == "" && p.HTTP.BasicAuth.UsernameFile == "":
		return fieldErr("prometheus.basic_auth.username", "must be set when basic auth is configured")
	}
	for k := range p.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			return fieldErr("prometheus.headers", "bad header name %q", k)
		}
	}
	return p.refuseInlineSecrets()
}

// ValidatePreflight checks what `gate preflight` needs.
func (c *Config) ValidatePreflight() error {
	if err := c.validateCommon(); err != nil {
		return err
	}
	p := c.Preflight
	if p.AlertNameRegex != "" {
		if _, err := regexp.Compile(p.AlertNameRegex); err != nil {
			return fieldErr("preflight.alert_name_regex", "%v", err)
		}
	}
	if p.AlertNameRegex == "" && p.AlertMatchers == "" && p.BudgetQuery == "" {
		return fieldErr("preflight", "nothing to check: alert_name_regex, alert_matchers and budget_query are all empty")
	}
	if p.BudgetQuery != "" {
		if _, err := renderQuery(p.BudgetQuery, p.Selector, c.SLO.ErrorBudget); err != nil {
			return fieldErr("preflight.budget_query", "%v", err)
		}
		if p.BudgetLimit <= 0 {
			return fieldErr("preflight.budget_limit", "must be positive, got %g", p.BudgetLimit)
		}
	}
	return nil
}

// validateLatencyThreshold checks that slo.latency_threshold is a bucket
// boundary of the request duration histogram: slow requests are counted as
// all requests minus the bucket le=<threshold>, and any other value finds
// no bucket series, so every analysis would end inconclusive. The check
// applies when the latency checks run on the shortener's own histogram;
// for another metric the gate cannot know the buckets here and says so at
// analysis time instead (promSource.arm).
func (c *Config) validateLatencyThreshold() error {
	if !c.latencyChecked() || c.Metric != telemetry.MetricHTTPRequestDuration {
		return nil
	}
	buckets := durationBuckets()
	if slices.Contains(buckets, c.SLO.LatencyThreshold) {
		return nil
	}
	bs := make([]string, len(buckets))
	for i, b := range buckets {
		bs[i] = strconv.FormatFloat(b, 'g', -1, 64)
	}
	return fieldErr("slo.latency_threshold", "%g is not a bucket boundary of %s, so no series would count the requests within it; use one of %s",
		c.SLO.LatencyThreshold, c.Metric, strings.Join(bs, ", "))
}

// latencyChecked says whether any check reads the latency buckets.
func (c *Config) latencyChecked() bool {
	return c.Checks.Latency.Enabled || c.Checks.Guardrail.Enabled
}

// durationBuckets returns the classic buckets of the request duration
// histogram, whose source of truth is telemetry/names.go.
func durationBuckets() []float64 { return telemetry.DurationBuckets() }
