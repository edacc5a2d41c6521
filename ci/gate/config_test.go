package gate

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

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

func TestConfigFileErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown top-level field", "analysys:\n  alpha: 0.1\n", "analysys: unknown field (line 1)"},
		{"unknown nested field", "analysis:\n  alpah: 0.1\n", "analysis.alpah: unknown field (line 2)"},
		{"unknown custom check field", "checks:\n  custom:\n    - name: x\n      querry: y\n", "checks.custom[].querry: unknown field"},
		{"bad duration", "analysis:\n  interval: fast\n", `time: invalid duration "fast"`},
		{"wrong type", "analysis:\n  alpha: [1]\n", "cannot unmarshal"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(c.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(path)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("a missing config file loaded without error")
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
		{"prometheus.basic_auth.username", func(c *Config) { c.Prometheus.BasicAuth.PasswordFile = "/x" }},
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
		{"output", func(c *Config) { c.Output = "xml" }},
		{"checks.errors.margin", func(c *Config) { c.Checks.Errors.Margin = 0.5 }},
		{"checks.latency.tolerance", func(c *Config) { c.Checks.Latency.Tolerance = 0.9 }},
		{"checks.guardrail.budget_multiple", func(c *Config) { c.Checks.Guardrail.BudgetMultiple = 1 }},
		{"checks", func(c *Config) {
			c.Checks.Errors.Enabled, c.Checks.Latency.Enabled, c.Checks.Guardrail.Enabled = false, false, false
		}},
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
		return &model.Sample{Metric: model.Metric{"__name__": "c", statusLabel: model.LabelValue(code)}, Value: model.SampleValue(v)}
	}
	tr := newCounterTracker()
	tr.update(model.Vector{s("200", 1000)})              // start: where counters stand
	tr.update(model.Vector{s("200", 1010), s("500", 2)}) // +10; a 500 series born after the start counts whole
	tr.update(model.Vector{s("200", 4), s("500", 3)})    // reset: the process restarted and served 4; +1
	tr.update(model.Vector{s("500", 3)})                 // the 200 series vanished: its counts stay
	if got := tr.sum(nil); got != 10+4+3 {
		t.Errorf("total %d, want 17", got)
	}
	if got := tr.sum(is5xx); got != 3 {
		t.Errorf("5xx %d, want 3", got)
	}
	empty := newCounterTracker()
	empty.update(nil)
	empty.update(nil)
	if empty.ever {
		t.Error("a tracker that never saw a series claims data")
	}
}
