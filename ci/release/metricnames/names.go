// Package metricnames is the metric-name contract between the release
// pipeline, which pushes these series to a Prometheus Pushgateway, and the
// delivery dashboard, which queries them. Tests in dashboards/ check every
// name the dashboard uses against Names, so a rename here (or there) fails.
//
// The pipeline is a batch job: every push replaces the whole group
// (job=JobName), so counters must be pushed as cumulative totals the pipeline
// carries from run to run (for example in its state file). Prometheus'
// increase() copes with a reset if that state is lost.
//
// The Pushgateway must be scraped with honor_labels: true so that job stays
// JobName instead of the Pushgateway's own job name.
package metricnames

// JobName is the Pushgateway grouping key (job label) the pipeline pushes under.
const JobName = "release"

// Metric names pushed by the release pipeline.
const (
	// StageDurationSeconds is a gauge: how long the most recent run of each
	// stage took. Labels: LabelStage, LabelResult.
	StageDurationSeconds = "release_stage_duration_seconds"
	// StageRunsTotal is a counter: stage runs so far, by result.
	// Labels: LabelStage, LabelResult.
	StageRunsTotal = "release_stage_runs_total"
	// RunsTotal is a counter: pipeline runs so far, by final outcome.
	// Label: LabelOutcome. Deploy frequency is the increase of
	// outcome="promoted"; rollbacks are outcome="rolled_back"; change failure
	// rate is rolled_back / (promoted + rolled_back).
	RunsTotal = "release_runs_total"
	// Info is a gauge = 1 describing the most recent run.
	// Labels: LabelVersion, LabelRevision, LabelOutcome.
	Info = "release_info"
	// LastRunTimestampSeconds is a gauge: Unix time the most recent run ended.
	LastRunTimestampSeconds = "release_last_run_timestamp_seconds"
	// LastSuccessTimestampSeconds is a gauge: Unix time of the most recent
	// promotion.
	LastSuccessTimestampSeconds = "release_last_success_timestamp_seconds"
	// LastFailureTimestampSeconds is a gauge: Unix time of the most recent
	// rollback or failed run.
	LastFailureTimestampSeconds = "release_last_failure_timestamp_seconds"
	// RestoreDurationSeconds is a gauge: for the most recent rollback, the
	// seconds from the canary taking traffic to the rollback completing,
	// i.e. how long users were exposed to the bad change (time to restore).
	RestoreDurationSeconds = "release_restore_duration_seconds"

	// LeadTimeSeconds is a gauge: for the most recent promotion, the
	// seconds from the released commit's commit time to the promotion
	// (lead time for changes). Labels: LabelVersion, LabelRevision.
	LeadTimeSeconds = "release_lead_time_seconds"

	// PushTimeSeconds is added by the Pushgateway itself to every group.
	PushTimeSeconds = "push_time_seconds"
)

// Test-stage facts of the most recent build whose tests ran (package
// ci/testfacts), each with LabelVersion and LabelRevision of that build,
// so every commit's facts are their own series.
const (
	// Tests is a gauge: tests and subtests by result (pass, fail, skip).
	// Labels: LabelPackage, LabelResult.
	Tests = "release_tests"
	// TestCoverageRatio is a gauge: statement coverage, 0 to 1.
	// Label: LabelPackage.
	TestCoverageRatio = "release_test_coverage_ratio"
	// TestAssertions is a gauge: assertions in the package's test
	// functions, counted from the syntax tree. Label: LabelPackage.
	TestAssertions = "release_test_assertions"
	// TestFunctionsWithoutAssertions is a gauge: test functions that
	// cannot fail. Label: LabelPackage.
	TestFunctionsWithoutAssertions = "release_test_functions_without_assertions"
	// FuzzExecutions is a gauge: inputs a fuzz target ran in the test
	// stage. Labels: LabelPackage, LabelTarget.
	FuzzExecutions = "release_fuzz_executions"
	// LintFindings is a gauge: findings by linter. Label: LabelLinter.
	LintFindings = "release_lint_findings"
	// BuildDurationSeconds is a gauge: wall time of the build stage.
	BuildDurationSeconds = "release_build_duration_seconds"
	// BinarySizeBytes is a gauge: size of each built binary.
	// Label: LabelBinary.
	BinarySizeBytes = "release_binary_size_bytes"
	// BenchGuardRatio is a gauge: a benchmark's cost over its package's
	// baseline benchmark in the same run. Labels: LabelPackage,
	// LabelBenchmark.
	BenchGuardRatio = "release_bench_guard_ratio"
	// TestCheckDurationSeconds is a gauge: wall time of each check of
	// the test stage (go test, source scan, fuzz, lint, bench).
	// Label: LabelCheck.
	TestCheckDurationSeconds = "release_test_check_duration_seconds"
	// TestFactsTimestampSeconds is a gauge: Unix time the facts were
	// collected; one series per build, for per-commit annotations.
	TestFactsTimestampSeconds = "release_test_facts_timestamp_seconds"
	// TestHealthFindings is a gauge: findings of the most recent
	// test-health check by kind and state (blocking, overridden).
	// Labels: LabelKind, LabelState.
	TestHealthFindings = "release_test_health_findings"
	// TestHealthOverridesTotal is a counter: findings let through by a
	// Test-Health-Override trailer, by kind. Label: LabelKind.
	TestHealthOverridesTotal = "release_test_health_overrides_total"
)

// Label names and values.
const (
	LabelStage    = "stage"
	LabelResult   = "result"
	LabelOutcome  = "outcome"
	LabelVersion  = "version"
	LabelRevision = "revision"
	// Labels of the test-stage facts.
	LabelPackage   = "package"   // Go import path
	LabelTarget    = "target"    // fuzz target
	LabelLinter    = "linter"    // go vet, staticcheck
	LabelBinary    = "binary"    // shortener, gate
	LabelBenchmark = "benchmark" // benchmark function
	LabelCheck     = "check"     // go_test, source_scan, fuzz, go_vet, staticcheck, bench
	LabelKind      = "kind"      // kind of test-health finding (testfacts.Kinds)
	LabelState     = "state"     // StateBlocking, StateOverridden

	// Values of LabelStage, in pipeline order.
	StageBuild = "build"
	StageTest  = "test"
	// StageTestHealth compares the test-stage facts with the last
	// promoted build's: no release whose tests got weaker.
	StageTestHealth = "test_health"
	StageSmoke      = "smoke"
	StagePreflight  = "preflight" // gate preflight: no release while an alert fires or the budget is spent
	StagePlan       = "plan"      // gate plan: the canary share and analysis duration today's traffic needs
	StageCanary     = "canary"
	StageGate       = "gate"
	StagePromote    = "promote"
	StageRollback   = "rollback"

	// Values of LabelResult.
	ResultSuccess = "success"
	ResultFailure = "failure"

	// Values of LabelState.
	StateBlocking   = "blocking"
	StateOverridden = "overridden"

	// Values of LabelOutcome.
	OutcomePromoted   = "promoted"    // canary passed the gate and is stable now
	OutcomeRolledBack = "rolled_back" // canary reached users and was rolled back
	OutcomeFailed     = "failed"      // the pipeline stopped before any user saw the change
)

// Stages lists the values of LabelStage, in pipeline order.
func Stages() []string {
	return []string{StageBuild, StageTest, StageTestHealth, StageSmoke, StagePreflight, StagePlan, StageCanary, StageGate, StagePromote, StageRollback}
}

// Names lists every metric the pipeline pushes, plus the Pushgateway's own
// push_time_seconds.
func Names() []string {
	return []string{
		StageDurationSeconds,
		StageRunsTotal,
		RunsTotal,
		Info,
		LastRunTimestampSeconds,
		LastSuccessTimestampSeconds,
		LastFailureTimestampSeconds,
		RestoreDurationSeconds,
		LeadTimeSeconds,
		Tests,
		TestCoverageRatio,
		TestAssertions,
		TestFunctionsWithoutAssertions,
		FuzzExecutions,
		LintFindings,
		BuildDurationSeconds,
		BinarySizeBytes,
		BenchGuardRatio,
		TestCheckDurationSeconds,
		TestFactsTimestampSeconds,
		TestHealthFindings,
		TestHealthOverridesTotal,
		PushTimeSeconds,
	}
}
