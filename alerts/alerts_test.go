package alerts

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/obsshort/shortener/dashboards/metriccheck"
	"github.com/obsshort/shortener/internal/testenv"
)

const runbookPrefix = "https://github.com/obsshort/shortener/blob/main/alerts/RUNBOOK.md#"

func mustLoad(t *testing.T) []Rule {
	t.Helper()
	rules, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) == 0 {
		t.Fatal("no rules loaded")
	}
	return rules
}

func alertRules(rules []Rule) []Rule {
	var out []Rule
	for _, r := range rules {
		if r.Alert != "" {
			out = append(out, r)
		}
	}
	return out
}

// TestPromtoolCheckRules runs Prometheus' own linter on every rule file.
func TestPromtoolCheckRules(t *testing.T) {
	promtool := testenv.RequireTool(t, "promtool")
	files, err := FileNames()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, append([]string{"check", "rules"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	// promtool prints lint warnings (for example on rule names) but still
	// exits 0; treat them as failures.
	if strings.Contains(strings.ToLower(string(out)), "warning") {
		t.Fatalf("promtool check rules warned:\n%s", out)
	}
}

// TestPromtoolTestRules runs the rule unit tests in tests/.
func TestPromtoolTestRules(t *testing.T) {
	promtool := testenv.RequireTool(t, "promtool")
	tests, err := filepath.Glob(filepath.Join("tests", "*.yml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no promtool tests found in tests/ (err %v)", err)
	}
	out, err := exec.Command(promtool, append([]string{"test", "rules"}, tests...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// promtoolTests is the part of a promtool test file this package checks.
type promtoolTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name           string `yaml:"name"`
		AlertRuleTests []struct {
			AlertName string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestEveryAlertHasFiringAndSilentTests makes sure the promtool tests cover
// every alert both ways: a case where it fires (promtool then checks labels
// and annotations) and one where it must not.
func TestEveryAlertHasFiringAndSilentTests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("tests", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	fires, silent := map[string]int{}, map[string]int{}
	loaded := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var pt promtoolTests
		if err := yaml.Unmarshal(b, &pt); err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
		for _, rf := range pt.RuleFiles {
			loaded[filepath.Base(rf)] = true
		}
		for _, tc := range pt.Tests {
			for _, at := range tc.AlertRuleTests {
				if len(at.ExpAlerts) > 0 {
					fires[at.AlertName]++
				} else {
					silent[at.AlertName]++
				}
			}
		}
	}
	names, err := FileNames()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !loaded[n] {
			t.Errorf("rule file %s is not loaded by any promtool test", n)
		}
	}
	for _, r := range alertRules(mustLoad(t)) {
		if fires[r.Alert] == 0 {
			t.Errorf("alert %s: no promtool test where it fires", r.Alert)
		}
		if silent[r.Alert] == 0 {
			t.Errorf("alert %s: no promtool test where it must stay silent", r.Alert)
		}
	}
}

var pascalCase = regexp.MustCompile(`^[A-Z][a-zA-Z0-9]+$`)

// TestAlertsAreWellFormed checks the conventions every alert follows (see
// STYLE.md): PascalCase name, a for clause, a known severity, a one-sentence
// summary, a description with the value and a runbook link that resolves.
func TestAlertsAreWellFormed(t *testing.T) {
	anchors := runbookAnchors(t)
	seen := map[string]bool{}
	for _, r := range alertRules(mustLoad(t)) {
		t.Run(r.Alert, func(t *testing.T) {
			if seen[r.Alert] {
				t.Errorf("alert name defined twice")
			}
			seen[r.Alert] = true
			if !pascalCase.MatchString(r.Alert) {
				t.Errorf("name is not PascalCase")
			}
			if r.For == "" {
				t.Errorf("no for: clause (one bad scrape would page)")
			}
			if sev := r.Labels["severity"]; sev != "page" && sev != "ticket" {
				t.Errorf("severity %q, want page or ticket", sev)
			}
			if s := r.Annotations["summary"]; s == "" || !strings.HasSuffix(s, ".") || strings.Count(s, ". ") > 0 {
				t.Errorf("summary %q should be one sentence", s)
			}
			if d := r.Annotations["description"]; !strings.Contains(d, "$value") {
				t.Errorf("description %q does not show the value", d)
			}
			u := r.Annotations["runbook_url"]
			anchor, ok := strings.CutPrefix(u, runbookPrefix)
			if !ok {
				t.Fatalf("runbook_url %q does not start with %s", u, runbookPrefix)
			}
			if !anchors[anchor] {
				t.Errorf("runbook_url anchor #%s is not a heading in RUNBOOK.md", anchor)
			}
			if want := githubAnchor(r.Alert); anchor != want {
				t.Errorf("runbook_url anchor #%s, want the alert's own section #%s", anchor, want)
			}
		})
	}
}

// runbookAnchors returns the GitHub anchors of RUNBOOK.md's headings.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("RUNBOOK.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		anchors[githubAnchor(strings.TrimLeft(line, "# "))] = true
	}
	return anchors
}

// githubAnchor turns a heading into the fragment GitHub gives it: lower
// case, punctuation dropped, spaces as hyphens.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestGithubAnchor(t *testing.T) {
	for heading, want := range map[string]string{
		"AvailabilityFastBurn":              "availabilityfastburn",
		"Investigating an SLO burn":         "investigating-an-slo-burn",
		"What's `up` (and down)?":           "whats-up-and-down",
		"  TargetDown  ":                    "targetdown",
		"job:slo_errors:ratio_rate5m":       "jobslo_errorsratio_rate5m",
		"Canary vs. stable -- side by side": "canary-vs-stable----side-by-side",
	} {
		if got := githubAnchor(heading); got != want {
			t.Errorf("githubAnchor(%q) = %q, want %q", heading, got, want)
		}
	}
}

var recordName = regexp.MustCompile(`^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$`)

// TestRecordingRuleNames checks the level:metric:operations convention and
// that every recording rule keeps the labels the alerts join on.
func TestRecordingRuleNames(t *testing.T) {
	for _, r := range mustLoad(t) {
		if r.Record == "" {
			continue
		}
		if !recordName.MatchString(r.Record) {
			t.Errorf("recording rule %s is not level:metric:operations", r.Record)
		}
		if !strings.Contains(r.Expr, "by (job, track)") {
			t.Errorf("recording rule %s should aggregate by (job, track): the canary alerts compare tracks", r.Record)
		}
	}
}

// TestRulesUseExportedMetrics is the static half of the metric contract for
// rules: every name a rule selects is exported by the app, written by
// Prometheus, or recorded by a rule here.
func TestRulesUseExportedMetrics(t *testing.T) {
	rules := mustLoad(t)
	c := metriccheck.New(RecordedNames(rules))
	for _, r := range rules {
		if err := c.Check(r.Expr); err != nil {
			t.Errorf("%s (%s): %v", r.Name(), r.File, err)
		}
	}
}

// TestRenamedMetricIsCaught shows the check above is not vacuous: the same
// rules with the request histogram renamed (as a careless refactor of
// telemetry/names.go would leave them) fail it.
func TestRenamedMetricIsCaught(t *testing.T) {
	rules := mustLoad(t)
	c := metriccheck.New(RecordedNames(rules))
	failed := 0
	for _, r := range rules {
		renamed := strings.ReplaceAll(r.Expr, "http_server_request_duration_seconds", "http_server_request_latency_seconds")
		if renamed == r.Expr {
			continue
		}
		if err := c.Check(renamed); errors.Is(err, metriccheck.ErrUnknownMetric) {
			failed++
		} else {
			t.Errorf("%s with a renamed metric passed the check (err %v)", r.Name(), err)
		}
	}
	if failed == 0 {
		t.Fatal("no rule uses the request histogram; the test proves nothing")
	}
}
