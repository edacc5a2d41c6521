package release

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obsshort/shortener/internal/testenv"
)

// TestStableBudgetQueryLeavesGameDaysOut evaluates the preflight's budget
// query in promtool's PromQL engine over two stables: one that served
// 2,000 requests with 10 5xx, and a game-day one (fault injection on) that
// served 200 5xx of 2,000. Only the first counts: 10/2000 over a budget of
// 0.1% is 5 (500% spent); counting both would give 210/4000/0.001 = 52.5.
// Both counters start at 0 and are sampled at the same times, so
// increase()'s extrapolation cancels out of the ratio.
func TestStableBudgetQueryLeavesGameDaysOut(t *testing.T) {
	query := strings.ReplaceAll(stableBudgetQuery, "{{.ErrorBudget}}", "0.001")
	const m = `http_server_request_duration_seconds_count`
	test := `rule_files: [none.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: '` + m + `{job="shortener",track="stable",version="v1",http_response_status_code="302"}'
        values: '0+199x10'
      - series: '` + m + `{job="shortener",track="stable",version="v1",http_response_status_code="500"}'
        values: '0+1x10'
      - series: '` + m + `{job="shortener",track="stable",version="v1",fault_injection="on",http_response_status_code="302"}'
        values: '0+180x10'
      - series: '` + m + `{job="shortener",track="stable",version="v1",fault_injection="on",http_response_status_code="500"}'
        values: '0+20x10'
      - series: '` + m + `{job="shortener",track="canary",version="v2",http_response_status_code="500"}'
        values: '0+50x10'
    promql_expr_test:
      - expr: '` + query + `'
        eval_time: 10m
        exp_samples:
          - labels: '{}'
            value: 5
`
	promtoolTest(t, test)
}

// promtoolTest runs a promtool rules test file (with no rules of its own).
func promtoolTest(t *testing.T, test string) {
	t.Helper()
	promtool := testenv.RequireTool(t, "promtool")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "none.yml"), []byte("groups: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "test.yml")
	if err := os.WriteFile(file, []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "test", "rules", file).CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s\n%s", err, out, test)
	}
}
