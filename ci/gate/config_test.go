package gate

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// The shipped ci/canary.yaml documents the defaults: it must load strictly
// and say exactly what DefaultConfig says.
func TestShippedConfigIsTheDefault(t *testing.T) {
	t.Parallel()
	got, err := LoadConfig(filepath.Join("..", "canary.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Checks.Custom) == 0 {
		got.Checks.Custom = nil // `custom: []` in YAML
	}
	want := DefaultConfig()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ci/canary.yaml differs from DefaultConfig:\n got %+v\nwant %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
	if err := got.ValidatePreflight(); err != nil {
		t.Errorf("validate preflight: %v", err)
	}
}

// Every error of a config file names the field by its YAML path and the
// line, whatever the YAML library's own wording.
func TestConfigFileErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml string
		field      string
		line       int
	}{
		{"unknown top-level field", "analysys:\n  alpha: 0.1\n", "analysys", 1},
		{"unknown nested field", "analysis:\n  alpah: 0.1\n", "analysis.alpah", 2},
		{"unknown custom check field", "checks:\n  custom:\n    - name: x\n      querry: y\n", "checks.custom[0].querry", 4},
		{"unknown field of the second custom check", "checks:\n  custom:\n    - name: x\n    - nmae: y\n", "checks.custom[1].nmae", 4},
		{"bad duration", "analysis:\n  interval: fast\n", "analysis.interval", 2},
		{"duration of the wrong kind", "prometheus:\n  timeout: [1]\n", "prometheus.timeout", 2},
		{"wrong type", "analysis:\n  alpha: [1]\n", "analysis.alpha", 2},
		{"string for a number", "analysis:\n  min_requests: many\n", "analysis.min_requests", 2},
		{"mapping for a list", "checks:\n  custom:\n    name: x\n", "checks.custom", 3},
		{"key given twice", "analysis:\n  alpha: 0.1\n  alpha: 0.2\n", "analysis.alpha", 3},
		{"header given twice", "prometheus:\n  http_headers:\n    X-Org:\n      values: [a]\n    X-Org:\n      values: [b]\n", "prometheus.http_headers.X-Org", 5},
		{"unknown field of the HTTP client config", "prometheus:\n  tls_config:\n    cafile: x.pem\n", "prometheus.tls_config.cafile", 3},
		{"unknown field of basic auth", "prometheus:\n  basic_auth:\n    user: gate\n", "prometheus.basic_auth.user", 3},
		{"unknown field of a header", "prometheus:\n  http_headers:\n    X-Org:\n      valuez: [a]\n", "prometheus.http_headers.X-Org.valuez", 4},
		{"bad proxy URL", "prometheus:\n  proxy_url: \"::\"\n", "prometheus.proxy_url", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(c.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(path)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != c.field || fe.Line != c.line {
				t.Errorf("error %v, want one naming %s on line %d", err, c.field, c.line)
			}
			if fe != nil && !strings.Contains(err.Error(), path) {
				t.Errorf("error %v does not name the file", err)
			}
		})
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("a missing config file loaded without error")
	}
}

// A value in the wrong place is described by its kind, never repeated: it
// may be a secret.
func TestConfigErrorsDoNotRepeatValues(t *testing.T) {
	t.Parallel()
	for _, y := range []string{
		"prometheus:\n  basic_auth: hunter2-secret\n",
		"prometheus:\n  retries: hunter2-secret\n",
		"prometheus:\n  headers: hunter2-secret\n",
		"prometheus:\n  proxy_url: \"http://u:hunter2-secret@proxy:port\"\n", // does not parse
	} {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadConfig(path)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: error %v", y, err)
		}
	}
}

// The fields of prometheus/common/config's HTTPClientConfig load beside
// the gate's own shorthands, and an empty file or section is the defaults.
func TestConfigLoadsHTTPClientFields(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.yaml")
	y := `prometheus:
  url: https://mimir.example/prometheus
  ca_file: /etc/ca.pem
  headers:
    X-Scope-OrgID: team-a
  basic_auth:
    username: gate
    password_file: /run/secrets/pass
  tls_config:
    cert_file: /etc/client.pem
    key_file: /etc/client-key.pem
    server_name: prom.internal
  proxy_url: http://proxy.example:3128
  follow_redirects: false
  http_headers:
    X-Api-Key:
      files: [/run/secrets/api-key]
checks:
  custom:
    - name: active
      query: sum(x{ {{.Selector}} })
      direction: higher_is_worse
      threshold: 10
`
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Prometheus
	switch {
	case p.URL != "https://mimir.example/prometheus", p.CAFile != "/etc/ca.pem", p.Headers["X-Scope-OrgID"] != "team-a":
		t.Errorf("gate fields: %+v", p)
	case p.HTTP.BasicAuth == nil || p.HTTP.BasicAuth.Username != "gate" || p.HTTP.BasicAuth.PasswordFile != "/run/secrets/pass":
		t.Errorf("basic_auth: %+v", p.HTTP.BasicAuth)
	case p.HTTP.TLSConfig.CertFile != "/etc/client.pem" || p.HTTP.TLSConfig.KeyFile != "/etc/client-key.pem" || p.HTTP.TLSConfig.ServerName != "prom.internal":
		t.Errorf("tls_config: %+v", p.HTTP.TLSConfig)
	case p.HTTP.ProxyURL.URL == nil || p.HTTP.ProxyURL.Host != "proxy.example:3128":
		t.Errorf("proxy_url: %+v", p.HTTP.ProxyURL)
	case p.HTTP.FollowRedirects || !p.HTTP.EnableHTTP2:
		t.Errorf("follow_redirects %v (want false, set), enable_http2 %v (want the default true)", p.HTTP.FollowRedirects, p.HTTP.EnableHTTP2)
	case p.HTTP.HTTPHeaders == nil || len(p.HTTP.HTTPHeaders.Headers["X-Api-Key"].Files) != 1:
		t.Errorf("http_headers: %+v", p.HTTP.HTTPHeaders)
	case len(cfg.Checks.Custom) != 1 || cfg.Checks.Custom[0].Threshold == nil || *cfg.Checks.Custom[0].Threshold != 10:
		t.Errorf("custom checks: %+v", cfg.Checks.Custom)
	case p.Timeout != DefaultConfig().Prometheus.Timeout:
		t.Errorf("timeout %v, want the default", p.Timeout)
	}
	for _, y := range []string{"", "prometheus:\n", "# only a comment\n"} {
		if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := LoadConfig(path)
		if err != nil || !reflect.DeepEqual(got, DefaultConfig()) {
			t.Errorf("%q: want the defaults, got %v", y, err)
		}
	}
}

// Every validation rule, each named by the field it rejects.
func TestConfigValidateNamesTheField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		field string
		mod   func(*Config)
	}{
		{"prometheus.url", func(c *Config) { c.Prometheus.URL = "" }},
		{"prometheus.url", func(c *Config) { c.Prometheus.URL = "127.0.0.1:9090" }},
		{"prometheus.timeout", func(c *Config) { c.Prometheus.Timeout = 0 }},
		{"prometheus.retries", func(c *Config) { c.Prometheus.Retries = -1 }},
		{"prometheus.max_consecutive_errors", func(c *Config) { c.Prometheus.MaxConsecutiveErrors = 0 }},
		{"prometheus.basic_auth.username", func(c *Config) { c.Prometheus.HTTP.BasicAuth = &config.BasicAuth{PasswordFile: "/x"} }},
		{"prometheus.bearer_token", func(c *Config) { c.Prometheus.HTTP.BearerToken = "s3cret" }},
		{"prometheus.basic_auth.password", func(c *Config) { c.Prometheus.HTTP.BasicAuth = &config.BasicAuth{Username: "u", Password: "s3cret"} }},
		{"prometheus.authorization.credentials", func(c *Config) { c.Prometheus.HTTP.Authorization = &config.Authorization{Credentials: "s3cret"} }},
		{"prometheus.oauth2.client_secret", func(c *Config) {
			c.Prometheus.HTTP.OAuth2 = &config.OAuth2{ClientID: "gate", ClientSecret: "s3cret", TokenURL: "https://idp.example/token"}
		}},
		{"prometheus.tls_config.key", func(c *Config) { c.Prometheus.HTTP.TLSConfig.Key = "-----BEGIN PRIVATE KEY-----" }},
		{"prometheus.http_headers.X-Api-Key.secrets", func(c *Config) {
			c.Prometheus.HTTP.HTTPHeaders = &config.Headers{Headers: map[string]config.Header{"X-Api-Key": {Secrets: []config.Secret{"s3cret"}}}}
		}},
		{"prometheus.http_headers.X-Api-Key.values", func(c *Config) {
			c.Prometheus.HTTP.HTTPHeaders = &config.Headers{Headers: map[string]config.Header{"X-Api-Key": {Values: []string{"s3cret"}}}}
		}},
		{"prometheus.headers.Cookie", func(c *Config) { c.Prometheus.Headers = map[string]string{"Cookie": "session=s3cret"} }},
		{"prometheus.headers.Authorization", func(c *Config) { c.Prometheus.Headers = map[string]string{"Authorization": "Bearer s3cret"} }},
		{"prometheus.url", func(c *Config) { c.Prometheus.URL = "http://gate:s3cret@host:port" }},
		{"prometheus.headers", func(c *Config) { c.Prometheus.Headers = map[string]string{"Bad Name": "v"} }},
		{"selectors.canary", func(c *Config) { c.Selectors.Canary = " " }},
		{"selectors.baseline", func(c *Config) { c.Selectors.Baseline = "" }},
		{"selectors.canary", func(c *Config) { c.Selectors.Canary = `{track="stable"}` }},
		{"metric", func(c *Config) { c.Metric = "http-duration" }},
		{"analysis.warmup", func(c *Config) { c.Analysis.Warmup = -1 }},
		{"analysis.interval", func(c *Config) { c.Analysis.Interval = 0 }},
		{"analysis.max_duration", func(c *Config) { c.Analysis.MaxDuration = 1 }},
		{"analysis.alpha", func(c *Config) { c.Analysis.Alpha = 0 }},
		{"analysis.alpha", func(c *Config) { c.Analysis.Alpha = 1 }},
		{"analysis.canary_share", func(c *Config) { c.Analysis.CanaryShare = 1 }},
		{"analysis.canary_share", func(c *Config) { c.Analysis.CanaryShare = -0.1 }},
		{"analysis.share_tolerance", func(c *Config) { c.Analysis.ShareTolerance = 0 }},
		{"analysis.min_requests", func(c *Config) { c.Analysis.MinRequests = 0 }},
		{"analysis.concentration", func(c *Config) { c.Analysis.Concentration = 0 }},
		{"slo.error_budget", func(c *Config) { c.SLO.ErrorBudget = 0 }},
		{"slo.latency_budget", func(c *Config) { c.SLO.LatencyBudget = 1 }},
		{"slo.latency_threshold", func(c *Config) { c.SLO.LatencyThreshold = 0 }},
		{"slo.latency_threshold", func(c *Config) { c.SLO.LatencyThreshold = 0.3 }},
		{"slo.latency_threshold", func(c *Config) { c.SLO.LatencyThreshold = 0.1000001 }},
		{"slo.latency_threshold", func(c *Config) { c.Checks.Latency.Enabled = false; c.SLO.LatencyThreshold = 0.2 }}, // the guardrail reads it too
		{"output", func(c *Config) { c.Output = "xml" }},
		{"checks.errors.margin", func(c *Config) { c.Checks.Errors.Margin = 0.5 }},
		{"checks.latency.tolerance", func(c *Config) { c.Checks.Latency.Tolerance = 0.9 }},
		{"checks.guardrail.budget_multiple", func(c *Config) { c.Checks.Guardrail.BudgetMultiple = 1 }},
		{"checks", func(c *Config) {
			c.Checks.Errors.Enabled, c.Checks.Latency.Enabled, c.Checks.LoadBalancer.Enabled = false, false, false
		}},
		{"checks.errors.tolerance", func(c *Config) { c.Checks.Errors.Tolerance = 0.9 }},
		{"checks.errors.floor", func(c *Config) { c.Checks.Errors.Floor = -1 }},
		{"checks.errors.floor", func(c *Config) { c.Checks.Errors.Tolerance, c.Checks.Errors.Floor = 1, 0 }},
		{"checks.load_balancer.tolerance", func(c *Config) { c.Checks.LoadBalancer.Tolerance = 0 }},
		{"checks.latency.min_le", func(c *Config) { c.Checks.Latency.MinLE = -1 }},
		{"checks.status.margin", func(c *Config) { c.Checks.Status.Margin = 0.5 }},
		{"checks.presence.grace", func(c *Config) { c.Checks.Presence.Grace = -1 }},
		{"labels", func(c *Config) { c.Labels.Route = "http route" }},
		{"checks.load_balancer.canary", func(c *Config) { c.Checks.LoadBalancer.Canary = "" }},
		{"checks.load_balancer.canary", func(c *Config) { c.Checks.LoadBalancer.Canary = c.Checks.LoadBalancer.Baseline }},
		{"checks.load_balancer.baseline", func(c *Config) { c.Checks.LoadBalancer.Baseline = " " }},
		{"checks.load_balancer.attempts", func(c *Config) { c.Checks.LoadBalancer.Attempts = nil }},
		{"checks.load_balancer.failures", func(c *Config) { c.Checks.LoadBalancer.Failures = nil }},
		{"checks.load_balancer.failures[1]", func(c *Config) { c.Checks.LoadBalancer.Failures = []string{"ok_total", `x{code=~"5.."}`} }},
		{"checks.custom[0].name", func(c *Config) { c.Checks.Custom = []CustomCheck{{Query: "{{.Selector}}"}} }},
		{"checks.custom[1].name", func(c *Config) {
			cc := CustomCheck{Name: "a", Query: "x{ {{.Selector}} }", Direction: HigherIsWorse, Threshold: ptr(1)}
			c.Checks.Custom = []CustomCheck{cc, cc}
		}},
		{"checks.custom[0].query", func(c *Config) {
			c.Checks.Custom = []CustomCheck{{Name: "a", Direction: HigherIsWorse, Threshold: ptr(1)}}
		}},
		{"checks.custom[0].query", func(c *Config) {
			c.Checks.Custom = []CustomCheck{{Name: "a", Query: "up", Direction: HigherIsWorse, Threshold: ptr(1)}}
		}},
		{"checks.custom[0].query", func(c *Config) {
			c.Checks.Custom = []CustomCheck{{Name: "a", Query: "x{ {{.Selector}} }{{.Nope}}", Direction: HigherIsWorse, Threshold: ptr(1)}}
		}},
		{"checks.custom[0].direction", func(c *Config) {
			c.Checks.Custom = []CustomCheck{{Name: "a", Query: "x{ {{.Selector}} }", Direction: "up", Threshold: ptr(1)}}
		}},
		{"checks.custom[0]", func(c *Config) {
			c.Checks.Custom = []CustomCheck{{Name: "a", Query: "x{ {{.Selector}} }", Direction: HigherIsWorse}}
		}},
		{"checks.custom[0]", func(c *Config) {
			c.Checks.Custom = []CustomCheck{{Name: "a", Query: "x{ {{.Selector}} }", Direction: HigherIsWorse, Threshold: ptr(1), Tolerance: ptr(1)}}
		}},
		{"checks.custom[0].tolerance", func(c *Config) {
			c.Checks.Custom = []CustomCheck{{Name: "a", Query: "x{ {{.Selector}} }", Direction: HigherIsWorse, Tolerance: ptr(-1)}}
		}},
		{"checks.custom[0].for", func(c *Config) {
			c.Checks.Custom = []CustomCheck{{Name: "a", Query: "x{ {{.Selector}} }", Direction: HigherIsWorse, Threshold: ptr(1), For: -1}}
		}},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		c.mod(&cfg)
		err := cfg.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("want an error naming %s, got %v", c.field, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error repeats the secret: %v", c.field, err)
		}
	}
	// and preflight's own fields
	pre := []struct {
		field string
		mod   func(*Config)
	}{
		{"preflight.alert_name_regex", func(c *Config) { c.Preflight.AlertNameRegex = "(" }},
		{"preflight", func(c *Config) { c.Preflight = PreflightConfig{} }},
		{"preflight.budget_query", func(c *Config) { c.Preflight.BudgetQuery = "{{" }},
		{"preflight.budget_limit", func(c *Config) { c.Preflight.BudgetLimit = 0 }},
		{"prometheus.url", func(c *Config) { c.Prometheus.URL = "" }},
	}
	for _, c := range pre {
		cfg := DefaultConfig()
		c.mod(&cfg)
		err := cfg.ValidatePreflight()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("preflight: want an error naming %s, got %v", c.field, err)
		}
	}
}

// slo.latency_threshold must be a bucket boundary of the request duration
// histogram (telemetry/names.go) whenever a check reads the buckets.
func TestLatencyThresholdMustBeABucket(t *testing.T) {
	t.Parallel()
	buckets := durationBuckets()
	if len(buckets) == 0 {
		t.Fatal("no buckets")
	}
	for _, b := range buckets {
		cfg := DefaultConfig()
		cfg.SLO.LatencyThreshold = b
		if err := cfg.Validate(); err != nil {
			t.Errorf("boundary %g refused: %v", b, err)
		}
	}
	if !slices.Contains(buckets, DefaultConfig().SLO.LatencyThreshold) {
		t.Errorf("the default threshold %g is no boundary", DefaultConfig().SLO.LatencyThreshold)
	}
	// Nothing reads the buckets: nothing to check.
	cfg := DefaultConfig()
	cfg.SLO.LatencyThreshold = 0.3
	cfg.Checks.Latency.Enabled, cfg.Checks.Guardrail.Enabled = false, false
	if err := cfg.Validate(); err != nil {
		t.Errorf("latency unchecked, yet: %v", err)
	}
	// Another histogram: its buckets are unknown here (analysis says so).
	cfg = DefaultConfig()
	cfg.SLO.LatencyThreshold = 0.3
	cfg.Metric = "other_request_duration_seconds"
	if err := cfg.Validate(); err != nil {
		t.Errorf("other metric: %v", err)
	}
}

func TestLeMatcher(t *testing.T) {
	t.Parallel()
	for th, want := range map[float64]string{
		0.1:  `le="0.1"`,
		2.5:  `le="2.5"`,
		1:    `le=~"1|1\\.0"`,
		10:   `le=~"10|10\\.0"`,
		1e-5: `le="1e-05"`,
	} {
		if got := leMatcher(th); got != want {
			t.Errorf("leMatcher(%g) = %s, want %s", th, got, want)
		}
	}
}

func TestRenderQuery(t *testing.T) {
	t.Parallel()
	got, err := renderQuery(`sum(x{a="b", {{.Selector}}}) / {{.ErrorBudget}}`, `{track="canary"}`, 0.001)
	if err != nil {
		t.Fatal(err)
	}
	if want := `sum(x{a="b", track="canary"}) / 0.001`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestCounterTracker(t *testing.T) {
	t.Parallel()
	s := func(code string, v float64) *model.Sample {
		return &model.Sample{Metric: model.Metric{"__name__": "c", "http_response_status_code": model.LabelValue(code)}, Value: model.SampleValue(v)}
	}
	tr := newCounterTracker()
	tr.update(model.Vector{s("200", 1000)})              // start: where counters stand
	tr.update(model.Vector{s("200", 1010), s("500", 2)}) // +10; a 500 series born after the start counts whole
	tr.update(model.Vector{s("200", 4), s("500", 3)})    // reset: the process restarted and served 4; +1
	tr.update(model.Vector{s("500", 3)})                 // the 200 series vanished: its counts stay
	sum := func(keep func(string) bool) int64 {
		total := 0.0
		for fp, inc := range tr.inc {
			if keep == nil || keep(string(tr.metric[fp]["http_response_status_code"])) {
				total += inc
			}
		}
		return int64(total)
	}
	if got := sum(nil); got != 10+4+3 {
		t.Errorf("total %d, want 17", got)
	}
	if got := sum(is5xx); got != 3 {
		t.Errorf("5xx %d, want 3", got)
	}
	empty := newCounterTracker()
	empty.update(nil)
	empty.update(nil)
	if empty.ever {
		t.Error("a tracker that never saw a series claims data")
	}
}
