package metricnames

import (
	"regexp"
	"strings"
	"testing"
)

var metricName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// TestNamesFollowPrometheusConventions checks the naming guide's rules that
// can be checked mechanically: snake case, a shared prefix, _total exactly on
// the counters, units spelled out in base units.
func TestNamesFollowPrometheusConventions(t *testing.T) {
	counters := map[string]bool{StageRunsTotal: true, RunsTotal: true, TestHealthOverridesTotal: true}
	seen := map[string]bool{}
	for _, n := range Names() {
		if seen[n] {
			t.Errorf("%s listed twice", n)
		}
		seen[n] = true
		if !metricName.MatchString(n) {
			t.Errorf("%s is not a snake_case metric name", n)
		}
		if n != PushTimeSeconds && !strings.HasPrefix(n, "release_") {
			t.Errorf("%s lacks the release_ prefix", n)
		}
		if got := strings.HasSuffix(n, "_total"); got != counters[n] {
			t.Errorf("%s: ends in _total = %v, but is a counter = %v", n, got, counters[n])
		}
		for _, unit := range []string{"_milliseconds", "_minutes", "_ms"} {
			if strings.Contains(n, unit) {
				t.Errorf("%s: use base units (seconds)", n)
			}
		}
	}
	for c := range counters {
		if !seen[c] {
			t.Errorf("counter %s missing from Names()", c)
		}
	}
}

func TestStagesAreDistinctLabelValues(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Stages() {
		if seen[s] {
			t.Errorf("stage %s listed twice", s)
		}
		seen[s] = true
		if !metricName.MatchString(s) {
			t.Errorf("stage %q is not a snake_case label value", s)
		}
	}
	if len(seen) != 10 {
		t.Errorf("%d stages, want the pipeline's 10 (build to promote or rollback, test health and plan included)", len(seen))
	}
}
