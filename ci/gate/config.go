package gate

import (
	"time"

	"github.com/prometheus/common/config"
)

// Config is the gate's YAML configuration (ci/canary.yaml documents every
// field). Flags override it; Validate names the first bad field.
type Config struct {
	Prometheus PrometheusConfig `yaml:"prometheus"`
	Selectors  Selectors        `yaml:"selectors"`
	Metric     string           `yaml:"metric"`
	Labels     Labels           `yaml:"labels"`
	Analysis   Analysis         `yaml:"analysis"`
	SLO        SLO              `yaml:"slo"`
	Checks     Checks           `yaml:"checks"`
	Preflight  PreflightConfig  `yaml:"preflight"`
	Output     string           `yaml:"output"`
	Pushgw     Pushgateway      `yaml:"pushgateway"`
}

// PrometheusConfig says how to reach anything that speaks the Prometheus
// HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics). Secrets are read
// from files or environment variables, never from flags or the YAML itself
// (Validate refuses the inline secret fields of HTTPClientConfig).
type PrometheusConfig struct {
	URL string `yaml:"url"`
	// HTTP holds authentication, TLS, proxy and header settings in the
	// format Prometheus uses for its own outbound requests
	// (github.com/prometheus/common/config): bearer_token_file,
	// basic_auth, authorization, oauth2, tls_config, proxy_url, no_proxy,
	// proxy_from_environment, http_headers, follow_redirects, enable_http2.
	HTTP config.HTTPClientConfig `yaml:",inline"`
	// Headers are extra headers with literal values, such as
	// X-Scope-OrgID for Mimir (shorthand for http_headers.<name>.values).
	// Credential-bearing headers are refused here: see access.go.
	Headers map[string]string `yaml:"headers"`
	// CAFile is shorthand for tls_config.ca_file.
	CAFile               string   `yaml:"ca_file"`
	Timeout              Duration `yaml:"timeout"`
	Retries              int      `yaml:"retries"`
	MaxConsecutiveErrors int      `yaml:"max_consecutive_errors"`
	// HeaderFiles and HeaderEnv come from --header-file and --header-env:
	// header name -> file path / environment variable holding the value.
	HeaderFiles map[string]string `yaml:"-"`
	HeaderEnv   map[string]string `yaml:"-"`
}

// Selectors are PromQL label matchers (without braces) picking each arm.
type Selectors struct {
	Canary   string `yaml:"canary"`
	Baseline string `yaml:"baseline"`
}

// Labels name the labels of Metric the per-route and status checks read.
type Labels struct {
	Route  string `yaml:"route"`
	Status string `yaml:"status"`
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
	Errors       Comparative       `yaml:"errors"`
	Latency      LatencyCheck      `yaml:"latency"`
	Status       StatusCheck       `yaml:"status"`
	Routes       RoutesCheck       `yaml:"routes"`
	LoadBalancer LoadBalancerCheck `yaml:"load_balancer"`
	Presence     PresenceCheck     `yaml:"presence"`
	Guardrail    Guardrail         `yaml:"guardrail"`
	Custom       []CustomCheck     `yaml:"custom"`
}

// Comparative configures a canary-against-baseline check: a sequential
// test that fails a regression, and a non-inferiority test that passes a
// canary shown no worse.
type Comparative struct {
	Enabled bool `yaml:"enabled"`
	// Margin: fail only when the canary ratio is shown above margin × the
	// baseline ratio (1 = any regression).
	Margin float64 `yaml:"margin"`
	// Tolerance and Floor: the canary passes this check once its ratio is
	// shown below tolerance × the baseline ratio + floor × the SLO budget.
	Tolerance float64 `yaml:"tolerance"`
	Floor     float64 `yaml:"floor"`
}

// LatencyCheck compares the whole latency distribution: the share of
// requests slower than each bucket boundary from MinLE up.
type LatencyCheck struct {
	Comparative `yaml:",inline"`
	MinLE       float64 `yaml:"min_le"`
}

// StatusCheck compares the mix of status codes (5xx aside, which the
// errors check has): a canary that answers a code more often fails.
type StatusCheck struct {
	Enabled bool    `yaml:"enabled"`
	Margin  float64 `yaml:"margin"`
}

// RoutesCheck judges the errors of every route on its own.
type RoutesCheck struct {
	Enabled bool `yaml:"enabled"`
}

// LoadBalancerCheck reads the load balancer's per-server counters, which
// see the failures the app never counts (refused connections, timeouts,
// crashes, answers masked by retries).
type LoadBalancerCheck struct {
	Comparative `yaml:",inline"`
	// Required: without load-balancer series for both arms the canary
	// cannot pass (otherwise the check is skipped and says so).
	Required bool `yaml:"required"`
	// Canary and Baseline are label matchers of each arm's server.
	Canary   string `yaml:"canary"`
	Baseline string `yaml:"baseline"`
	// Attempts and Failures are series selectors (a metric name with
	// optional name="value" matchers) summed per arm.
	Attempts []string `yaml:"attempts"`
	Failures []string `yaml:"failures"`
}

// PresenceCheck fails a canary that vanishes: its scrape target down or
// gone, or its series stale, for longer than Grace.
type PresenceCheck struct {
	Enabled bool     `yaml:"enabled"`
	Grace   Duration `yaml:"grace"`
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

// DefaultConfig is what applies when neither the file nor a flag says
// otherwise. ci/canary.yaml repeats these values with comments.
func DefaultConfig() Config {
	return Config{
		Prometheus: PrometheusConfig{
			URL:                  "http://127.0.0.1:9090",
			HTTP:                 config.DefaultHTTPClientConfig,
			Timeout:              Duration(10 * time.Second),
			Retries:              2,
			MaxConsecutiveErrors: 5,
		},
		Selectors: Selectors{Canary: `track="canary"`, Baseline: `track="stable"`},
		Metric:    "http_server_request_duration_seconds",
		Labels:    Labels{Route: "http_route", Status: "http_response_status_code"},
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
			Errors:  Comparative{Enabled: true, Margin: 1, Tolerance: 1.5, Floor: 0.5},
			Latency: LatencyCheck{Comparative: Comparative{Enabled: true, Margin: 1.5, Tolerance: 1.5, Floor: 0.5}, MinLE: 0.01},
			Status:  StatusCheck{Enabled: true, Margin: 1.5},
			Routes:  RoutesCheck{Enabled: true},
			LoadBalancer: LoadBalancerCheck{
				Comparative: Comparative{Enabled: true, Margin: 1, Tolerance: 1.5, Floor: 0.5},
				Canary:      `proxy="shortener",server="canary"`,
				Baseline:    `proxy="shortener",server="stable"`,
				Attempts:    []string{"haproxy_server_sessions_total", "haproxy_server_retry_warnings_total"},
				Failures: []string{
					`haproxy_server_http_responses_total{code="5xx"}`,
					"haproxy_server_connection_errors_total",
					"haproxy_server_response_errors_total",
					"haproxy_server_retry_warnings_total",
					"haproxy_server_redispatch_warnings_total",
				},
			},
			Presence:  PresenceCheck{Enabled: true, Grace: Duration(10 * time.Second)},
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
