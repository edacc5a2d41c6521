package board

// Pipeline is pipeline.json: Shortener / Delivery pipeline.
func Pipeline() Board {
	return Board{
		File:        "pipeline.json",
		UID:         "shortener-pipeline",
		Title:       "Shortener / Delivery pipeline",
		Description: "What the release pipeline pushes to the Pushgateway (names in ci/release/metricnames): stage durations and results, deployments by outcome, rollbacks, change failure rate and time to restore.",
		Tags:        []string{"shortener", "delivery"},
		Rows: []Row{
			{Title: "Delivery (over the dashboard time range)", Y: 0, Panels: []Panel{
				{
					Kind:        Stat,
					Title:       "Deployments promoted",
					Description: "Releases that passed the canary gate and became stable.",
					Pos:         Pos{X: 0, Y: 1, W: 4, H: 4},
					Unit:        "short",
					Decimals:    F(0),
					Queries: []Query{
						{Expr: `sum(increase(release_runs_total{outcome="promoted"}[$__range]))`, Legend: "__auto"},
					},
				},
				{
					Kind:        Stat,
					Title:       "Rollbacks",
					Description: "Releases that reached users as a canary and were rolled back.",
					Pos:         Pos{X: 4, Y: 1, W: 4, H: 4},
					Unit:        "short",
					Decimals:    F(0),
					Thresholds:  []Step{{Color: "green"}, {Color: "orange", Value: 1}},
					Queries: []Query{
						{Expr: `sum(increase(release_runs_total{outcome="rolled_back"}[$__range]))`, Legend: "__auto"},
					},
				},
				{
					Kind:        Stat,
					Title:       "Failed before deploy",
					Description: "Pipeline runs stopped by build, test or smoke test: no user saw them.",
					Pos:         Pos{X: 8, Y: 1, W: 4, H: 4},
					Unit:        "short",
					Decimals:    F(0),
					Queries: []Query{
						{Expr: `sum(increase(release_runs_total{outcome="failed"}[$__range]))`, Legend: "__auto"},
					},
				},
				{
					Kind:        Stat,
					Title:       "Change failure rate",
					Description: "Rolled back / (promoted + rolled back).",
					Pos:         Pos{X: 12, Y: 1, W: 4, H: 4},
					Unit:        "percentunit",
					Decimals:    F(0),
					Thresholds:  []Step{{Color: "green"}, {Color: "orange", Value: 0.15}, {Color: "red", Value: 0.3}},
					Queries: []Query{
						{Expr: `sum(increase(release_runs_total{outcome="rolled_back"}[$__range])) / sum(increase(release_runs_total{outcome=~"promoted|rolled_back"}[$__range]))`, Legend: "__auto"},
					},
				},
				{
					Kind:        Stat,
					Title:       "Time to restore (last rollback)",
					Description: "From the canary taking traffic to the rollback completing.",
					Pos:         Pos{X: 16, Y: 1, W: 4, H: 4},
					Unit:        "s",
					Queries: []Query{
						{Expr: `max(release_restore_duration_seconds)`, Legend: "__auto"},
					},
				},
				{
					Kind:        Stat,
					Title:       "Since last promotion",
					Description: "Time since a release was last promoted.",
					Pos:         Pos{X: 20, Y: 1, W: 4, H: 4},
					Unit:        "s",
					Queries: []Query{
						{Expr: `time() - max(release_last_success_timestamp_seconds)`, Legend: "__auto"},
					},
				},
				{
					Kind:        Table,
					Title:       "Last release",
					Description: "The most recent pipeline run: version, revision and outcome.",
					Pos:         Pos{X: 0, Y: 5, W: 12, H: 5},
					Unit:        "short",
					Hide:        []string{"Time", "Value"},
					Queries: []Query{
						{Expr: `max by (version, revision, outcome) (release_info)`, Legend: "__auto", Instant: true, Format: "table"},
					},
				},
				{
					Kind:        Stat,
					Title:       "Last run ended",
					Description: "When the pipeline last finished (any outcome).",
					Pos:         Pos{X: 12, Y: 5, W: 6, H: 5},
					Unit:        "dateTimeFromNow",
					Queries: []Query{
						{Expr: `max(release_last_run_timestamp_seconds) * 1000`, Legend: "__auto"},
					},
				},
				{
					Kind:        Stat,
					Title:       "Last failure",
					Description: "When a run was last rolled back or failed.",
					Pos:         Pos{X: 18, Y: 5, W: 6, H: 5},
					Unit:        "dateTimeFromNow",
					Queries: []Query{
						{Expr: `max(release_last_failure_timestamp_seconds) * 1000`, Legend: "__auto"},
					},
				},
			}},
			{Title: "Stages", Y: 10, Panels: []Panel{
				{
					Kind:        BarGauge,
					Title:       "Stage duration (last run)",
					Description: "How long each stage of the most recent run took.",
					Pos:         Pos{X: 0, Y: 11, W: 12, H: 8},
					Unit:        "s",
					Queries: []Query{
						{Expr: `max by (stage) (release_stage_duration_seconds)`, Legend: "{{stage}}", Instant: true},
					},
				},
				{
					Kind:        BarGauge,
					Title:       "Stage results",
					Description: "Stage runs in the time range, by stage and result.",
					Pos:         Pos{X: 12, Y: 11, W: 12, H: 8},
					Unit:        "short",
					Queries: []Query{
						{Expr: `sum by (stage, result) (increase(release_stage_runs_total[$__range]))`, Legend: "{{stage}} {{result}}", Instant: true},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Stage duration over time",
					Description: "Duration of each stage, per run.",
					Pos:         Pos{X: 0, Y: 19, W: 24, H: 8},
					Unit:        "s",
					Queries: []Query{
						{Expr: `max by (stage, result) (release_stage_duration_seconds)`, Legend: "{{stage}} {{result}}"},
					},
				},
			}},
			{Title: "Trends", Y: 27, Panels: []Panel{
				{
					Kind:        TimeSeries,
					Title:       "Deployments per day by outcome",
					Description: "Pipeline runs per day.",
					Pos:         Pos{X: 0, Y: 28, W: 12, H: 8},
					Unit:        "short",
					Queries: []Query{
						{Expr: `sum by (outcome) (increase(release_runs_total[1d]))`, Legend: "{{outcome}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Change failure rate (30 days)",
					Description: "Rolled back / (promoted + rolled back) over the 30 days before each point.",
					Pos:         Pos{X: 12, Y: 28, W: 12, H: 8},
					Unit:        "percentunit",
					Min:         F(0),
					Max:         F(1),
					Queries: []Query{
						{Expr: `sum(increase(release_runs_total{outcome="rolled_back"}[30d])) / sum(increase(release_runs_total{outcome=~"promoted|rolled_back"}[30d]))`, Legend: "change failure rate"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Pushgateway freshness",
					Description: "Seconds since the pipeline last pushed.",
					Pos:         Pos{X: 0, Y: 36, W: 24, H: 5},
					Unit:        "s",
					Queries: []Query{
						{Expr: `time() - max(push_time_seconds{job="release"})`, Legend: "since last push"},
					},
				},
			}},
			testStage(41),
		},
		Annotations: []Annotation{builds, testHealthBlocks},
	}
}
