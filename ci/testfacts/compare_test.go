package testfacts

import (
	"reflect"
	"strings"
	"testing"
)

func pct(v float64) *float64 { return &v }

func TestCompareCoverageAndGuards(t *testing.T) {
	base := &Facts{
		Packages: map[string]*Package{
			"m/a": {Tests: map[string]string{"TestA": ResultPass}, Coverage: pct(80)},
			"m/b": {Tests: map[string]string{"TestB": ResultPass}, Coverage: pct(50)},
		},
		BenchRatios: map[string]float64{"m/t.BenchmarkInstrumented": 2.0, "m/t.BenchmarkSampled": 3.0},
	}
	cur := &Facts{
		Packages: map[string]*Package{
			"m/a": {Tests: map[string]string{"TestA": ResultPass}, Coverage: pct(79.0)}, // one point: allowed
			"m/b": {Tests: map[string]string{"TestB": ResultPass}, Coverage: pct(48.9)}, // 1.1 points: not
		},
		BenchRatios: map[string]float64{"m/t.BenchmarkInstrumented": 2.49, "m/t.BenchmarkSampled": 3.76},
	}
	got := Compare(base, cur, Tolerance{CoveragePoints: 1, BenchRatio: 0.25})
	var s []string
	for _, f := range got {
		s = append(s, f.String())
	}
	want := []string{
		"coverage: m/b: statement coverage 48.9%, 50.0% before (more than 1.0 points lower)",
		"bench_guard: BenchmarkSampled (m/t): guard ratio 3.76, 3.00 before (more than 25% worse)",
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("findings\n%q\nwant\n%q", s, want)
	}
	// Without a bench run (no ratios at all) a guard is not a finding:
	// the check was not asked for.
	cur.BenchRatios = nil
	for _, f := range Compare(base, cur, DefaultTolerance) {
		if f.Kind == KindBenchGuard {
			t.Errorf("bench finding without a bench run: %s", f)
		}
	}
	// A whole package gone: its tests and coverage.
	delete(cur.Packages, "m/a")
	got = Compare(base, cur, DefaultTolerance)
	if k := kinds(got); !reflect.DeepEqual(k, []string{"coverage ", "tests_removed TestA", "coverage "}) {
		t.Errorf("a package gone: %q", k)
	}
}

func TestParseOverrides(t *testing.T) {
	msg := `app: the greeting ends with a space

Product asked for it.

Test-Health-Override: TestGreeting: the greeting now ends with a space (issue 42)
test-health-override: github.com/obsshort/shortener/bench: benchmarks moved to bench/v2
Test-Health-Override: TestNoReason
Test-Health-Override: two words: reason
Signed-off-by: A <a@example.com>
`
	ok, bad := ParseOverrides(msg)
	want := []Override{
		{Target: "TestGreeting", Reason: "the greeting now ends with a space (issue 42)"},
		{Target: "github.com/obsshort/shortener/bench", Reason: "benchmarks moved to bench/v2"},
	}
	if !reflect.DeepEqual(ok, want) {
		t.Errorf("overrides %+v, want %+v", ok, want)
	}
	if len(bad) != 2 || !strings.Contains(bad[0], "reason is required") || !strings.Contains(bad[1], "want Test-Health-Override") {
		t.Errorf("bad trailers %q", bad)
	}
}

func TestApplyOverrides(t *testing.T) {
	findings := func() []Finding {
		return []Finding{
			{Kind: KindExpectation, Package: "m/app", Test: "TestGreeting"},
			{Kind: KindTestsRemoved, Package: "m/app", Test: "TestTable"},
			{Kind: KindSkipped, Package: "m/app", Test: "TestTable/case_1"},
			{Kind: KindCoverage, Package: "m/app"},
			{Kind: KindExpectation, Package: "m/other", Test: "TestGreeting"},
		}
	}
	tests := []struct {
		target string
		want   []int // indexes overridden
	}{
		{"TestGreeting", []int{0, 4}},
		{"m/app.TestGreeting", []int{0}},
		{"TestTable", []int{1, 2}},
		{"TestTable/case_1", []int{2}},
		{"m/app", []int{0, 1, 2, 3}},
		{"m/ap", nil},
		{"TestGreet", nil},
	}
	for _, tt := range tests {
		fs := findings()
		n := Apply(fs, []Override{{Target: tt.target, Reason: "because"}})
		var got []int
		for i, f := range fs {
			if f.Override != "" {
				got = append(got, i)
			}
		}
		if !reflect.DeepEqual(got, tt.want) || n != len(tt.want) || len(Blocking(fs)) != len(fs)-n {
			t.Errorf("override %q: overrode %v (n=%d), want %v", tt.target, got, n, tt.want)
		}
	}
}

func TestSplitQualified(t *testing.T) {
	for q, want := range map[string][2]string{
		"github.com/x/y.BenchmarkA": {"github.com/x/y", "BenchmarkA"},
		"m.BenchmarkA":              {"m", "BenchmarkA"},
		"gopkg.in/a.v1/b.BenchX":    {"gopkg.in/a.v1/b", "BenchX"},
		"noname":                    {"noname", ""},
	} {
		if p, n := SplitQualified(q); p != want[0] || n != want[1] {
			t.Errorf("SplitQualified(%q) = %q, %q; want %q", q, p, n, want)
		}
	}
}
