package release

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	pm "github.com/obsshort/shortener/ci/release/metricnames"
	"github.com/obsshort/shortener/ci/testfacts"
)

// testTotals is the test-stage part of the pipeline's state file: where
// the latest facts are, the latest test-health check, the overrides so
// far and the latest lead time. Every push replaces the group, so the
// facts of the last build that ran its tests are pushed again with every
// later stage.
type testTotals struct {
	TestFactsFile string `json:"test_facts_file,omitempty"`
	// HealthFindings counts the latest check's findings by "kind|state".
	HealthFindings  map[string]float64 `json:"test_health_findings,omitempty"`
	HealthVersion   string             `json:"test_health_version,omitempty"`
	HealthRevision  string             `json:"test_health_revision,omitempty"`
	Overrides       map[string]float64 `json:"test_health_overrides,omitempty"` // kind -> total
	LeadTimeSeconds float64            `json:"lead_time_seconds,omitempty"`
	LeadVersion     string             `json:"lead_version,omitempty"`
	LeadRevision    string             `json:"lead_revision,omitempty"`
}

// loadTestFacts reads the facts the state file points at; facts that are
// gone (a cleaned release folder) are simply not pushed.
func (r *reporter) loadTestFacts() {
	if r.t.TestFactsFile == "" {
		return
	}
	if f, err := testfacts.Load(r.t.TestFactsFile); err == nil {
		r.facts = f
	}
}

func (r *reporter) setTestFacts(f *testfacts.Facts, path string) {
	r.facts, r.t.TestFactsFile = f, path
}

// setTestHealth records a test-health check: its findings replace the
// last check's, and each overridden finding counts.
func (r *reporter) setTestHealth(f *testfacts.Facts, findings []testfacts.Finding) {
	r.t.HealthFindings = map[string]float64{}
	for _, k := range testfacts.Kinds() {
		r.t.HealthFindings[k+"|"+pm.StateBlocking] = 0
		r.t.HealthFindings[k+"|"+pm.StateOverridden] = 0
	}
	if r.t.Overrides == nil {
		r.t.Overrides = map[string]float64{}
	}
	for _, fd := range findings {
		state := pm.StateBlocking
		if fd.Override != "" {
			state = pm.StateOverridden
			r.t.Overrides[fd.Kind]++
		}
		r.t.HealthFindings[fd.Kind+"|"+state]++
	}
	r.t.HealthVersion, r.t.HealthRevision = f.Version, f.Revision
}

func (r *reporter) setLeadTime(version, revision string, d time.Duration) {
	r.t.LeadTimeSeconds, r.t.LeadVersion, r.t.LeadRevision = d.Seconds(), version, revision
}

// registerTestFacts adds the test-stage series to one push's registry.
func (r *reporter) registerTestFacts(reg *prometheus.Registry) {
	vr := []string{pm.LabelVersion, pm.LabelRevision}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, append(labels, vr...))
		reg.MustRegister(g)
		return g
	}
	if r.t.Overrides != nil {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: pm.TestHealthOverridesTotal, Help: "Test-health findings let through by a " + testfacts.OverrideTrailer + " trailer, by kind."}, []string{pm.LabelKind})
		reg.MustRegister(c)
		for _, k := range testfacts.Kinds() {
			c.WithLabelValues(k).Add(r.t.Overrides[k])
		}
	}
	if r.t.HealthFindings != nil {
		g := gauge(pm.TestHealthFindings, "Findings of the most recent test-health check, by kind and state.", pm.LabelKind, pm.LabelState)
		for k, v := range r.t.HealthFindings {
			kind, state, _ := strings.Cut(k, "|")
			g.WithLabelValues(kind, state, r.t.HealthVersion, r.t.HealthRevision).Set(v)
		}
	}
	if r.t.LeadVersion != "" {
		gauge(pm.LeadTimeSeconds, "Seconds from the commit time of the most recently promoted revision to its promotion.").
			WithLabelValues(r.t.LeadVersion, r.t.LeadRevision).Set(r.t.LeadTimeSeconds)
	}
	f := r.facts
	if f == nil {
		return
	}
	v, rev := f.Version, f.Revision
	gauge(pm.TestFactsTimestampSeconds, "Unix time the test facts of this build were collected.").
		WithLabelValues(v, rev).Set(float64(f.Collected.UnixNano()) / 1e9)
	tests := gauge(pm.Tests, "Tests and subtests of the most recent test stage, by result.", pm.LabelPackage, pm.LabelResult)
	cov := gauge(pm.TestCoverageRatio, "Statement coverage of each package's tests, 0 to 1.", pm.LabelPackage)
	asserts := gauge(pm.TestAssertions, "Assertions in each package's test functions, counted from the syntax tree.", pm.LabelPackage)
	without := gauge(pm.TestFunctionsWithoutAssertions, "Test functions that cannot fail, per package.", pm.LabelPackage)
	for path, p := range f.Packages {
		for _, res := range []string{testfacts.ResultPass, testfacts.ResultFail, testfacts.ResultSkip} {
			tests.WithLabelValues(path, res, v, rev).Set(float64(p.Count(res)))
		}
		if p.Coverage != nil {
			cov.WithLabelValues(path, v, rev).Set(*p.Coverage / 100)
		}
		asserts.WithLabelValues(path, v, rev).Set(float64(p.Assertions()))
		without.WithLabelValues(path, v, rev).Set(float64(len(p.WithoutAssertions())))
	}
	checks := gauge(pm.TestCheckDurationSeconds, "Wall time of each check of the test stage.", pm.LabelCheck)
	for c, s := range f.CheckSeconds {
		checks.WithLabelValues(c, v, rev).Set(s)
	}
	if len(f.FuzzExecutions) > 0 {
		fz := gauge(pm.FuzzExecutions, "Inputs each fuzz target ran in the test stage.", pm.LabelPackage, pm.LabelTarget)
		for k, n := range f.FuzzExecutions {
			pkg, target := testfacts.SplitQualified(k)
			fz.WithLabelValues(pkg, target, v, rev).Set(float64(n))
		}
	}
	if len(f.Lint) > 0 {
		l := gauge(pm.LintFindings, "Lint findings by linter.", pm.LabelLinter)
		for linter, n := range f.Lint {
			l.WithLabelValues(linter, v, rev).Set(float64(n))
		}
	}
	if f.BuildSeconds > 0 {
		gauge(pm.BuildDurationSeconds, "Wall time of the build stage of this build.").WithLabelValues(v, rev).Set(f.BuildSeconds)
	}
	if len(f.BinaryBytes) > 0 {
		b := gauge(pm.BinarySizeBytes, "Size of each built binary.", pm.LabelBinary)
		for name, n := range f.BinaryBytes {
			b.WithLabelValues(name, v, rev).Set(float64(n))
		}
	}
	if len(f.BenchRatios) > 0 {
		b := gauge(pm.BenchGuardRatio, "A benchmark's cost over its package's baseline benchmark in the same run.", pm.LabelPackage, pm.LabelBenchmark)
		for k, ratio := range f.BenchRatios {
			pkg, bench := testfacts.SplitQualified(k)
			b.WithLabelValues(pkg, bench, v, rev).Set(ratio)
		}
	}
}
