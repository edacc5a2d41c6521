package gate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the gate's YAML configuration (ci/canary.yaml documents every
// field). Flags override it; Validate names the first bad field.
type Config struct {
	Prometheus PrometheusConfig `yaml:"prometheus"`
	Selectors  Selectors        `yaml:"selectors"`
	Metric     string           `yaml:"metric"`
	Analysis   Analysis         `yaml:"analysis"`
	SLO        SLO              `yaml:"slo"`
	Checks     Checks           `yaml:"checks"`
	Preflight  PreflightConfig  `yaml:"preflight"`
	Output     string           `yaml:"output"`
	Pushgw     Pushgateway      `yaml:"pushgateway"`
}

// PrometheusConfig says how to reach anything that speaks the Prometheus
// HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics). Secrets are read
// from files or environment variables, never from flags or the YAML itself.
type PrometheusConfig struct {
	URL                  string            `yaml:"url"`
	BearerTokenFile      string            `yaml:"bearer_token_file"`
	BasicAuth            BasicAuth         `yaml:"basic_auth"`
	Headers              map[string]string `yaml:"headers"`
	CAFile               string            `yaml:"ca_file"`
	Timeout              Duration          `yaml:"timeout"`
	Retries              int               `yaml:"retries"`
	MaxConsecutiveErrors int               `yaml:"max_consecutive_errors"`
}

// BasicAuth holds a user name and where its password lives.
type BasicAuth struct {
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
}

// Selectors are PromQL label matchers (without braces) picking each arm.
type Selectors struct {
	Canary   string `yaml:"canary"`
	Baseline string `yaml:"baseline"`
}

// Analysis holds timing and statistics settings.
type Analysis struct {
	Warmup         Duration `yaml:"warmup"`
	Interval       Duration `yaml:"interval"`
	MaxDuration    Duration `yaml:"max_duration"`
	Alpha          float64  `yaml:"alpha"`
	CanaryShare    float64  `yaml:"canary_share"`
	ShareTolerance float64  `yaml:"share_tolerance"`
	MinRequests    int64    `yaml:"min_requests"`
	Concentration  float64  `yaml:"concentration"`
}

// SLO are the service level objectives the guardrails are scaled from.
type SLO struct {
	ErrorBudget      float64 `yaml:"error_budget"`
	LatencyThreshold float64 `yaml:"latency_threshold"`
	LatencyBudget    float64 `yaml:"latency_budget"`
}

// Checks configures the built-in checks and lists the custom ones.
type Checks struct {
	Errors    Comparative   `yaml:"errors"`
	Latency   Comparative   `yaml:"latency"`
	Guardrail Guardrail     `yaml:"guardrail"`
	Custom    []CustomCheck `yaml:"custom"`
}

// Comparative configures a canary-against-baseline sequential test.
type Comparative struct {
	Enabled bool `yaml:"enabled"`
	// Margin: fail only when the canary ratio is shown above margin × the
	// baseline ratio (1 = any regression).
	Margin float64 `yaml:"margin"`
	// Tolerance: pass early when the canary ratio is shown below
	// tolerance × the baseline ratio (0 disables the early pass).
	Tolerance float64 `yaml:"tolerance"`
}

// Guardrail configures the absolute fast-path checks on the canary alone.
type Guardrail struct {
	Enabled        bool    `yaml:"enabled"`
	BudgetMultiple float64 `yaml:"budget_multiple"`
}

// CustomCheck is a PromQL template evaluated for each arm.
type CustomCheck struct {
	Name      string   `yaml:"name"`
	Query     string   `yaml:"query"`
	Direction string   `yaml:"direction"`
	Threshold *float64 `yaml:"threshold"`
	// Tolerance compares against the baseline instead: the canary fails
	// when worse than baseline × (1 ± tolerance).
	Tolerance *float64 `yaml:"tolerance"`
	For       int      `yaml:"for"`
}

// PreflightConfig configures `gate preflight`.
type PreflightConfig struct {
	AlertNameRegex string  `yaml:"alert_name_regex"`
	AlertMatchers  string  `yaml:"alert_matchers"`
	Selector       string  `yaml:"selector"`
	BudgetQuery    string  `yaml:"budget_query"`
	BudgetLimit    float64 `yaml:"budget_limit"`
	BlockOnNoData  bool    `yaml:"block_on_no_data"`
}

// Pushgateway configures where the decision is pushed.
type Pushgateway struct {
	URL string `yaml:"url"`
	Job string `yaml:"job"`
}

// Directions of custom checks.
const (
	HigherIsWorse = "higher_is_worse"
	LowerIsWorse  = "lower_is_worse"
)

// Duration is a time.Duration written as a Go duration string in YAML.
type Duration time.Duration

// UnmarshalYAML parses "30s", "10m" and so on.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// DefaultConfig is what applies when neither the file nor a flag says
// otherwise. ci/canary.yaml repeats these values with comments.
func DefaultConfig() Config {
	return Config{
		Prometheus: PrometheusConfig{
			URL:                  "http://127.0.0.1:9090",
			Timeout:              Duration(10 * time.Second),
			Retries:              2,
			MaxConsecutiveErrors: 5,
		},
		Selectors: Selectors{Canary: `track="canary"`, Baseline: `track="stable"`},
		Metric:    "http_server_request_duration_seconds",
		Analysis: Analysis{
			Interval:       Duration(5 * time.Second),
			MaxDuration:    Duration(10 * time.Minute),
			Alpha:          0.05,
			ShareTolerance: 0.5,
			MinRequests:    100,
			Concentration:  10,
		},
		SLO: SLO{ErrorBudget: 0.001, LatencyThreshold: 0.1, LatencyBudget: 0.01},
		Checks: Checks{
			Errors:    Comparative{Enabled: true, Margin: 1, Tolerance: 0},
			Latency:   Comparative{Enabled: true, Margin: 1, Tolerance: 0},
			Guardrail: Guardrail{Enabled: true, BudgetMultiple: 50},
		},
		Preflight: PreflightConfig{
			AlertNameRegex: `.*(FastBurn|SustainedBurn|BurnRate|SLO|ErrorBudget).*`,
			AlertMatchers:  `severity="page"`,
			BudgetQuery:    defaultBudgetQuery,
			BudgetLimit:    1,
		},
		Output: "text",
		Pushgw: Pushgateway{Job: "canary_gate"},
	}
}

// defaultBudgetQuery is the share of the 30-day error budget spent: the
// 30-day 5xx ratio divided by the budget. It needs no recording rule.
const defaultBudgetQuery = `(sum(increase(http_server_request_duration_seconds_count{http_response_status_code=~"5..", {{.Selector}}}[30d])) / sum(increase(http_server_request_duration_seconds_count{ {{.Selector}} }[30d]))) / {{.ErrorBudget}}`

// LoadConfig reads a YAML file over the defaults. Unknown fields are an
// error that names the field: a typo must not silently become a default.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	if err := decodeStrict(b, &cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

func decodeStrict(b []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return explainTypeError(te)
		}
		return err
	}
	return nil
}

// yamlPaths maps the Go types of the config to where they sit in the YAML,
// so an unknown field is reported as "analysis.alpah", not as a Go type.
var yamlPaths = map[string]string{
	"Config": "", "PrometheusConfig": "prometheus.", "BasicAuth": "prometheus.basic_auth.",
	"Selectors": "selectors.", "Analysis": "analysis.", "SLO": "slo.", "Checks": "checks.",
	"Comparative": "checks.(errors|latency).", "Guardrail": "checks.guardrail.",
	"CustomCheck": "checks.custom[].", "PreflightConfig": "preflight.", "Pushgateway": "pushgateway.",
}

var unknownFieldRE = regexp.MustCompile(`^line (\d+): field (\S+) not found in type gate\.(\w+)$`)

func explainTypeError(te *yaml.TypeError) error {
	var msgs []string
	field := ""
	for _, e := range te.Errors {
		if m := unknownFieldRE.FindStringSubmatch(e); m != nil {
			f := yamlPaths[m[3]] + m[2]
			if field == "" {
				field = f
			}
			msgs = append(msgs, fmt.Sprintf("%s: unknown field (line %s)", f, m[1]))
			continue
		}
		msgs = append(msgs, e)
	}
	if field != "" && len(msgs) == 1 {
		return &FieldError{Field: field, Msg: strings.TrimPrefix(msgs[0], field+": ")}
	}
	return errors.New(strings.Join(msgs, "; "))
}

// FieldError is a configuration error naming the offending field.
type FieldError struct {
	Field, Msg string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

var metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

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
	for _, cmp := range []struct {
		name string
		c    Comparative
	}{{"checks.errors", c.Checks.Errors}, {"checks.latency", c.Checks.Latency}} {
		if cmp.c.Margin < 1 {
			return fieldErr(cmp.name+".margin", "must be at least 1, got %g", cmp.c.Margin)
		}
		if cmp.c.Tolerance != 0 && cmp.c.Tolerance <= 1 {
			return fieldErr(cmp.name+".tolerance", "must be above 1 (or 0 to disable the early pass), got %g", cmp.c.Tolerance)
		}
	}
	if c.Checks.Guardrail.Enabled && c.Checks.Guardrail.BudgetMultiple <= 1 {
		return fieldErr("checks.guardrail.budget_multiple", "must be above 1, got %g", c.Checks.Guardrail.BudgetMultiple)
	}
	if !c.Checks.Errors.Enabled && !c.Checks.Latency.Enabled && !c.Checks.Guardrail.Enabled && len(c.Checks.Custom) == 0 {
		return fieldErr("checks", "every check is disabled")
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
	switch {
	case p.URL == "":
		return fieldErr("prometheus.url", "must not be empty")
	case !strings.HasPrefix(p.URL, "http://") && !strings.HasPrefix(p.URL, "https://"):
		return fieldErr("prometheus.url", "must start with http:// or https://, got %q", p.URL)
	case p.Timeout.D() <= 0:
		return fieldErr("prometheus.timeout", "must be positive")
	case p.Retries < 0:
		return fieldErr("prometheus.retries", "must not be negative")
	case p.MaxConsecutiveErrors < 1:
		return fieldErr("prometheus.max_consecutive_errors", "must be at least 1")
	case p.BasicAuth.PasswordFile != "" && p.BasicAuth.Username == "":
		return fieldErr("prometheus.basic_auth.username", "must be set when a password file is given")
	}
	for k := range p.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			return fieldErr("prometheus.headers", "bad header name %q", k)
		}
	}
	return nil
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

// normalizeSelector strips surrounding braces and spaces, so both
// `track="canary"` and `{track="canary"}` are accepted.
func normalizeSelector(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "{")
	s = strings.TrimSuffix(s, "}")
	return strings.TrimSpace(s)
}

// renderQuery substitutes {{.Selector}} (label matchers without braces)
// and {{.ErrorBudget}} in a PromQL template.
func renderQuery(tmpl, selector string, errorBudget float64) (string, error) {
	t, err := template.New("q").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("parse template: %w", err)
	}
	var b strings.Builder
	data := struct {
		Selector    string
		ErrorBudget float64
	}{normalizeSelector(selector), errorBudget}
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render template: %w", err)
	}
	return b.String(), nil
}
