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

	// PushTimeSeconds is added by the Pushgateway itself to every group.
	PushTimeSeconds = "push_time_seconds"
)

// Label names and values.
const (
	LabelStage    = "stage"
	LabelResult   = "result"
	LabelOutcome  = "outcome"
	LabelVersion  = "version"
	LabelRevision = "revision"

	// Values of LabelStage, in pipeline order.
	StageBuild     = "build"
	StageTest      = "test"
	StageSmoke     = "smoke"
	StagePreflight = "preflight" // gate preflight: no release while an alert fires or the budget is spent
	StagePlan      = "plan"      // gate plan: the canary share and analysis duration today's traffic needs
	StageCanary    = "canary"
	StageGate      = "gate"
	StagePromote   = "promote"
	StageRollback  = "rollback"

	// Values of LabelResult.
	ResultSuccess = "success"
	ResultFailure = "failure"

	// Values of LabelOutcome.
	OutcomePromoted   = "promoted"    // canary passed the gate and is stable now
	OutcomeRolledBack = "rolled_back" // canary reached users and was rolled back
	OutcomeFailed     = "failed"      // the pipeline stopped before any user saw the change
)

// Stages lists the values of LabelStage, in pipeline order.
func Stages() []string {
	return []string{StageBuild, StageTest, StageSmoke, StagePreflight, StagePlan, StageCanary, StageGate, StagePromote, StageRollback}
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
		PushTimeSeconds,
	}
}
