package board

// The test stage on the delivery dashboard: what each build's tests did
// (ci/testfacts, pushed by the release pipeline with version and revision
// labels, so every build is its own series) and the test-health gate.

// builds marks each build whose tests ran, at the time its facts were
// collected: one annotation per commit.
var builds = Annotation{
	Name:            "Builds",
	Color:           "purple",
	Expr:            `max by (version, revision) (release_test_facts_timestamp_seconds) * 1000`,
	Title:           "Build {{version}}",
	Text:            "tests of revision {{revision}}",
	TagKeys:         "version",
	UseValueForTime: true,
}

// testHealthBlocks marks the builds the test-health gate blocked.
var testHealthBlocks = Annotation{
	Name:    "Blocked by test health",
	Color:   "red",
	Expr:    `max by (version, revision, kind) (release_test_health_findings{state="blocking"}) > 0`,
	Title:   "Blocked {{version}}",
	Text:    "tests weaker than the last promoted build: {{kind}}",
	TagKeys: "version,kind",
}

// testStage is the row of test-stage panels starting at grid row y.
func testStage(y int) Row {
	at := func(x, dy, w, h int) Pos { return Pos{X: x, Y: y + dy, W: w, H: h} }
	ts := func(title, desc, unit string, pos Pos, qs ...Query) Panel {
		return Panel{Kind: TimeSeries, Title: title, Description: desc, Unit: unit, Pos: pos, Queries: qs}
	}
	st := func(title, desc, unit string, pos Pos, expr string, steps ...Step) Panel {
		return Panel{Kind: Stat, Title: title, Description: desc, Unit: unit, Pos: pos, Thresholds: steps,
			Queries: []Query{{Expr: expr, Legend: "__auto"}}}
	}
	ok := Step{Color: "green"}
	return Row{Title: "Test stage (each build; release --skip-tests collects none)", Y: y, Panels: []Panel{
		st("Tests (last build)", "Tests and subtests that reported a result in the last build's test stage (go test -json).", "short",
			at(0, 1, 4, 4), `sum(release_tests)`),
		st("Skipped tests", "Tests that skipped in the last build; a test that passed in the last promoted build and skips now blocks the release.", "short",
			at(4, 1, 4, 4), `sum(release_tests{result="skip"})`),
		st("Failed tests", "Tests that failed in the last build (the test stage then blocks the release).", "short",
			at(8, 1, 4, 4), `sum(release_tests{result="fail"})`, ok, Step{Color: "red", Value: 1}),
		st("Test functions without assertions", "Test functions in which no call can fail the test (t.Error, t.Fatal or a helper that calls them), counted from the syntax tree.", "short",
			at(12, 1, 4, 4), `sum(release_test_functions_without_assertions)`, ok, Step{Color: "orange", Value: 1}),
		st("Blocking test-health findings", "Findings of the last test-health check that no Test-Health-Override trailer covers: the release was blocked at the test stage.", "short",
			at(16, 1, 4, 4), `sum(release_test_health_findings{state="blocking"})`, ok, Step{Color: "red", Value: 1}),
		st("Lead time for changes", "From the commit time of the last promoted revision to its promotion.", "s",
			at(20, 1, 4, 4), `max(release_lead_time_seconds)`),

		ts("Tests by result, per build", "Tests and subtests of each build by result; a drop is a test that disappeared.", "short", at(0, 5, 12, 8),
			Query{Expr: `sum by (result) (release_tests)`, Legend: "{{result}}"}),
		ts("Assertions, per build", "Assertions in the test functions of each build, and test functions that cannot fail.", "short", at(12, 5, 12, 8),
			Query{Expr: `sum(release_test_assertions)`, Legend: "assertions"},
			Query{Expr: `sum(release_test_functions_without_assertions)`, Legend: "test functions without assertions"}),

		{Kind: BarGauge, Title: "Coverage by package (last build)", Description: "Statement coverage of each package's own tests (go test -cover).",
			Unit: "percentunit", Min: F(0), Max: F(1), Pos: at(0, 13, 12, 10),
			Queries: []Query{{Expr: `max by (package) (release_test_coverage_ratio)`, Legend: "{{package}}", Instant: true}}},
		ts("Coverage, per build", "Mean statement coverage over the packages, and the lowest package's; a package losing more than one point blocks the release.", "percentunit", at(12, 13, 12, 10),
			Query{Expr: `avg(release_test_coverage_ratio)`, Legend: "mean over packages"},
			Query{Expr: `min(release_test_coverage_ratio)`, Legend: "lowest package"}),

		ts("Test-health findings by kind", "Findings of each test-health check against the last promoted build, blocking or overridden.", "short", at(0, 23, 12, 8),
			Query{Expr: `sum by (kind, state) (release_test_health_findings)`, Legend: "{{kind}} {{state}}"}),
		ts("Overrides so far", "Findings let through by a Test-Health-Override trailer in the commit message, by kind (running totals).", "short", at(12, 23, 12, 8),
			Query{Expr: `sum by (kind) (release_test_health_overrides_total)`, Legend: "{{kind}}"}),

		{Kind: TimeSeries, Title: "Test stage cost by check", Description: "Wall time of each check of the test stage: go test, the syntax-tree scan, fuzzing, go vet, staticcheck, the guard benchmarks.",
			Unit: "s", Stacked: true, Pos: at(0, 31, 12, 8),
			Queries: []Query{{Expr: `max by (check) (release_test_check_duration_seconds)`, Legend: "{{check}}"}}},
		ts("Lead time for changes, per promotion", "From commit to promotion, for each promoted build.", "s", at(12, 31, 12, 8),
			Query{Expr: `max by (version) (release_lead_time_seconds)`, Legend: "{{version}}"}),

		ts("Binary size", "Size of each built binary.", "bytes", at(0, 39, 8, 8),
			Query{Expr: `max by (binary) (release_binary_size_bytes)`, Legend: "{{binary}}"}),
		ts("Build time", "Wall time of the build stage of each build.", "s", at(8, 39, 8, 8),
			Query{Expr: `max(release_build_duration_seconds)`, Legend: "build"}),
		ts("Lint findings", "go vet and staticcheck findings of each build.", "short", at(16, 39, 8, 8),
			Query{Expr: `sum by (linter) (release_lint_findings)`, Legend: "{{linter}}"}),

		ts("Benchmark guard ratios", "Each benchmark's CPU time per operation over its package's baseline benchmark in the same run (higher is slower); more than 50% above the last promoted build blocks the release.", "short", at(0, 47, 12, 8),
			Query{Expr: `max by (benchmark) (release_bench_guard_ratio)`, Legend: "{{benchmark}}"}),
		ts("Fuzz executions", "Inputs each fuzz target ran in the test stage.", "short", at(12, 47, 12, 8),
			Query{Expr: `sum by (target) (release_fuzz_executions)`, Legend: "{{target}}"}),
	}}
}
