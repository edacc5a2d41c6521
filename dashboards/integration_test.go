package dashboards

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/obsshort/shortener/alerts"
	pm "github.com/obsshort/shortener/ci/release/metricnames"
	"github.com/obsshort/shortener/dashboards/preview"
	"github.com/obsshort/shortener/internal/loadgen"
	"github.com/obsshort/shortener/internal/promtest"
	"github.com/obsshort/shortener/internal/testenv"
)

// trafficDuration is how long the integration test sends requests. Every
// recording rule has data after two scrapes, so this is about giving the
// rate windows enough samples and the fast-burn alert time to go pending.
const trafficDuration = 25 * time.Second

// noDataAllowed lists dashboard queries that may legitimately return no
// data (or only NaN) in this short test, keyed by Query.String(), with the
// reason. It is empty on purpose: the test pushes pipeline metrics to a real
// Pushgateway, runs a dead target and a failing canary, and every business
// counter exists from the start at zero, so every panel has data. Add an
// entry only with a reason a reviewer can check.
func noDataAllowed() map[string]string {
	return map[string]string{}
}

// integrationVars are what a user picks in the dashboards: the job, and All
// for instance and track. The durations are what Grafana would compute for a
// 1 s scrape interval over the last hour.
func integrationVars() map[string]string {
	return map[string]string{
		"job": "shortener", "instance": ".*", "track": ".*",
		"__rate_interval": "1m", "__interval": "5s", "__range": "1h",
	}
}

// TestQueriesAgainstRealPrometheus is the proof against a real Prometheus:
// two real shortener processes (stable; canary answering every public
// request 500 after 150 ms, with a store that refuses writes and a log
// output that fails), a target that is down, and a Pushgateway with
// pipeline metrics, scraped every second by the Debian prometheus with every
// rule file of alerts/ loaded. After ~25 s of traffic every dashboard query
// and every rule expression must parse and return data, and the fast-burn
// availability alert must be pending for the canary only.
func TestQueriesAgainstRealPrometheus(t *testing.T) {
	if testing.Short() {
		// Under CI this fails instead: nothing may skip there.
		testenv.SkipUnlessCI(t, "-short: this test starts Prometheus, a Pushgateway and two shortener processes")
	}
	pgBin := testenv.RequireTool(t, "prometheus-pushgateway")
	bin := testenv.BuildBinary(t, "./app/cmd/shortener", "")
	root := testenv.ModuleRoot(t)

	// Stable and canary share one database, as in production.
	db := filepath.Join(t.TempDir(), "shortener.db")
	// start runs the shortener through wrap (a command that execs it).
	start := func(wrap []string, logLevel string, extra ...string) (public, admin string) {
		public, admin = testenv.FreeAddr(t), testenv.FreeAddr(t)
		args := append([]string{"--addr", public, "--admin-addr", admin, "--db", db,
			"--log-level", logLevel, "--rate-limit", "0"}, extra...)
		argv := append(append(slices.Clone(wrap), bin), args...)
		testenv.Start(t, []string{"OTEL_SDK_DISABLED=true", "OTEL_TRACES_EXPORTER=none"}, argv[0], argv[1:]...)
		testenv.WaitHTTP(t, "http://"+admin+"/readyz", 30*time.Second)
		return "http://" + public, admin
	}
	stable, stableAdmin := start(nil, "warn") // first: it creates the schema
	// The canary's store also refuses writes and its log output fails, as
	// a full disk does to each (StoreNotWritable, LogLinesLost):
	// prlimit --fsize=0 makes every write to a regular file fail (EFBIG,
	// an I/O error to SQLite) while reads work, and stdout goes to
	// /dev/full (ENOSPC). At log level info every request has a line to
	// lose. sh and prlimit exec, so the process is the shortener itself.
	canaryWrap := []string{testenv.RequireTool(t, "sh"), "-c", `exec "$@" >/dev/full`, "sh",
		testenv.RequireTool(t, "prlimit"), "--fsize=0", "--"}
	canary, canaryAdmin := start(canaryWrap, "info", "--fault-error-rate", "1", "--fault-latency", "150ms")
	// Nothing listens on port 1 (and, unlike a free port picked now, no
	// other test can grab it meanwhile): this target is down, for TargetDown.
	deadTarget := "127.0.0.1:1"

	pgAddr := testenv.FreeAddr(t)
	testenv.Start(t, nil, pgBin, "--web.listen-address="+pgAddr)
	testenv.WaitHTTP(t, "http://"+pgAddr+"/-/ready", 15*time.Second)
	pushPipelineMetrics(t, "http://"+pgAddr, 1)

	names, err := alerts.FileNames()
	if err != nil {
		t.Fatal(err)
	}
	var ruleFiles []string
	for _, n := range names {
		ruleFiles = append(ruleFiles, filepath.Join(root, "alerts", n))
	}
	prom := promtest.Start(t, promtest.Config{
		Interval:  time.Second,
		RuleFiles: ruleFiles,
		ScrapeConfigs: fmt.Sprintf(`- job_name: shortener
  static_configs:
    - targets: [%q]
      labels: {track: stable, version: v1}
    - targets: [%q]
      labels: {track: canary, version: v2}
    - targets: [%q]
      labels: {track: stable, version: v1}
- job_name: pushgateway
  honor_labels: true
  static_configs:
    - targets: [%q]
`, stableAdmin, canaryAdmin, deadTarget, pgAddr),
	})
	prom.WaitTargetsUp(t, 3, 30*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), trafficDuration)
	defer cancel()
	wg := sendTraffic(ctx, t, stable, canary)

	// While the canary fails, the fast-burn page must go pending for it
	// (firing needs its 2m for:), and never for stable.
	pending := `ALERTS{alertname="AvailabilityFastBurn", alertstate="pending", job="shortener", track="canary"}`
	var sawPending bool
	pushedAgain := false
	for ctx.Err() == nil {
		if n, _, err := evaluate(context.Background(), prom, pending); err == nil && n > 0 && !sawPending {
			sawPending = true
			t.Logf("AvailabilityFastBurn pending for the canary after %s of traffic", trafficDuration-time.Until(deadline(ctx)))
		}
		if !pushedAgain && time.Until(deadline(ctx)) < trafficDuration/2 {
			// A second pipeline run, so increase() over the counters is > 0.
			pushPipelineMetrics(t, "http://"+pgAddr, 2)
			pushedAgain = true
		}
		time.Sleep(500 * time.Millisecond)
	}
	wg.Wait()
	time.Sleep(2 * time.Second) // two more scrapes and rule evaluations
	qctx := context.Background()
	if !sawPending {
		if n, _, err := evaluate(qctx, prom, pending); err != nil || n == 0 {
			t.Errorf("AvailabilityFastBurn never went pending for the failing canary (err %v)", err)
		}
	}
	if n, _, err := evaluate(qctx, prom, `ALERTS{alertname="AvailabilityFastBurn", track="stable"}`); err != nil || n != 0 {
		t.Errorf("AvailabilityFastBurn is active for the healthy stable track (%d series, err %v)", n, err)
	}

	t.Run("dashboards", func(t *testing.T) {
		allowed := noDataAllowed()
		ds, err := Load()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			qs, err := d.Queries()
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range qs {
				expr := Substitute(q.Expr, integrationVars())
				n, labels, err := evaluate(qctx, prom, expr)
				switch {
				case err != nil:
					t.Errorf("%s: %v", q, err)
				case n == 0 && allowed[q.String()] == "":
					raw, _ := prom.Query(qctx, expr)
					t.Errorf("%s: no data (or only NaN) for\n%s\nanswer: %.500s", q, expr, raw)
				case q.Kind == KindVariable:
					// The variable lists values of its label: the
					// series must carry it.
					label := variableLabel(d, q.Where)
					if label != "" && !labels[label] {
						t.Errorf("%s: series of %s have no label %q", q, expr, label)
					}
				}
			}
		}
	})

	// What a person would see: every panel of every dashboard evaluated
	// and drawn in one page per dashboard, opened in headless Chromium;
	// each panel must show a chart with marks, none "No data" or an error.
	t.Run("preview", func(t *testing.T) {
		chromium := testenv.RequireTool(t, "chromium")
		ds, err := Load()
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		b, err := preview.NewBrowser(qctx, chromium, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		cfg := preview.Config{Prometheus: prom.Client, Range: 2 * time.Minute, Vars: map[string]string{"job": "shortener"}, Substitute: Substitute}
		for _, d := range ds {
			title, _ := d.Raw["title"].(string)
			page, err := preview.Evaluate(qctx, cfg, preview.Source{File: d.File, Title: title, Panels: d.Panels()})
			if err != nil {
				t.Fatal(err)
			}
			html := filepath.Join(dir, strings.TrimSuffix(d.File, ".json")+".html")
			if err := page.WriteFile(html); err != nil {
				t.Fatal(err)
			}
			seen, err := b.Inspect(qctx, html, "")
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, p := range page.Panels {
				if p.Type != "row" {
					want++
				}
			}
			if len(seen) != want {
				t.Errorf("%s: the browser shows %d panels, the dashboard has %d", d.File, len(seen), want)
			}
			for _, s := range seen {
				if !s.OK() {
					t.Errorf("%s: panel %q (%s) in the browser: state %s, drawn %v, shows %q", d.File, s.Title, s.Type, s.State, s.Drawn, s.Shown)
				}
			}
		}
	})

	t.Run("rules", func(t *testing.T) {
		rules, err := alerts.Load()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			// Every rule returns data here: the canary fails every request
			// slowly, so each burn-rate, canary and no-redirect alert
			// condition holds for it, as do the store and log conditions,
			// and the dead target is down.
			n, _, err := evaluate(qctx, prom, r.Expr)
			if err != nil {
				t.Errorf("%s: %v", r.Name(), err)
			} else if n == 0 {
				t.Errorf("%s: expression returned no data:\n%s", r.Name(), r.Expr)
			}
			if r.Alert != "" {
				// The alerts single out what is broken: the canary, or
				// the dead target; never the healthy stable instance.
				series, err := seriesOf(qctx, prom, r.Expr)
				if err != nil {
					t.Errorf("%s: %v", r.Name(), err)
				}
				for _, m := range series {
					if r.Alert == "TargetDown" {
						if m["instance"] != deadTarget {
							t.Errorf("TargetDown condition holds for %v, want only %s", m, deadTarget)
						}
					} else if m["track"] == "stable" {
						t.Errorf("%s condition holds for the healthy stable track: %v", r.Alert, m)
					}
				}
			}
			if r.Record != "" {
				// Prometheus itself evaluated the rule and stored it.
				for _, track := range []string{"stable", "canary"} {
					q := fmt.Sprintf(`%s{job="shortener", track=%q}`, r.Record, track)
					if n, _, err := evaluate(qctx, prom, q); err != nil || n == 0 {
						t.Errorf("recorded series %s missing (err %v)", q, err)
					}
				}
			}
		}
		// The canary's availability SLI is all errors, stable's has none;
		// only the canary's store refuses writes.
		for q, want := range map[string]float64{
			`job:slo_availability_errors:ratio_rate5m{job="shortener", track="canary"}`: 1,
			`job:slo_availability_errors:ratio_rate5m{job="shortener", track="stable"}`: 0,
			`job:slo_latency_errors:ratio_rate5m{job="shortener", track="canary"}`:      1,
			`shortener_store_writable{job="shortener", track="canary"}`:                 0,
			`shortener_store_writable{job="shortener", track="stable"}`:                 1,
		} {
			if got, err := scalarValue(qctx, prom, q); err != nil || got != want {
				t.Errorf("%s = %v (err %v), want %v", q, got, err, want)
			}
		}
	})
}

func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// variableLabel returns the label a label_values(selector, label) variable
// lists.
func variableLabel(d Dashboard, name string) string {
	for _, v := range d.Variables() {
		if v["name"] != name {
			continue
		}
		q := strings.TrimSuffix(strings.TrimSpace(variableQuery(v["query"])), ")")
		if i := lastTopLevelComma(q); i >= 0 && strings.HasPrefix(q, "label_values(") {
			return strings.TrimSpace(q[i+1:])
		}
	}
	return ""
}

// promResult is the part of an instant query answer the test reads.
type promResult struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

// evaluate runs an instant query and returns how many series (or the
// scalar) carry a value other than NaN, and the label names seen.
func evaluate(ctx context.Context, prom *promtest.Server, expr string) (int, map[string]bool, error) {
	raw, err := prom.Query(ctx, expr)
	if err != nil {
		return 0, nil, err
	}
	var res promResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return 0, nil, fmt.Errorf("decode result: %w", err)
	}
	labels := map[string]bool{}
	switch res.ResultType {
	case "vector":
		var series []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(res.Result, &series); err != nil {
			return 0, nil, fmt.Errorf("decode vector: %w", err)
		}
		n := 0
		for _, s := range series {
			if !isNaN(s.Value[1]) {
				n++
			}
			for k := range s.Metric {
				labels[k] = true
			}
		}
		return n, labels, nil
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(res.Result, &v); err != nil {
			return 0, nil, fmt.Errorf("decode scalar: %w", err)
		}
		if isNaN(v[1]) {
			return 0, labels, nil
		}
		return 1, labels, nil
	}
	return 0, nil, fmt.Errorf("unexpected result type %q for %s", res.ResultType, expr)
}

// isNaN reads a sample value as the HTTP API writes it (a string holding
// a float) and reports whether it is not a number.
func isNaN(v any) bool {
	s, _ := v.(string)
	f, err := strconv.ParseFloat(s, 64)
	return err == nil && math.IsNaN(f)
}

// seriesOf returns the label sets of an instant vector query.
func seriesOf(ctx context.Context, prom *promtest.Server, expr string) ([]map[string]string, error) {
	raw, err := prom.Query(ctx, expr)
	if err != nil {
		return nil, err
	}
	var res struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
		} `json:"result"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	var out []map[string]string
	for _, r := range res.Result {
		out = append(out, r.Metric)
	}
	return out, nil
}

// scalarValue returns the value of a query expected to return one series.
func scalarValue(ctx context.Context, prom *promtest.Server, expr string) (float64, error) {
	raw, err := prom.Query(ctx, expr)
	if err != nil {
		return 0, err
	}
	var res struct {
		Result []struct {
			Value [2]any `json:"value"`
		} `json:"result"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return 0, fmt.Errorf("decode: %w", err)
	}
	if len(res.Result) != 1 {
		return 0, fmt.Errorf("%d series, want 1", len(res.Result))
	}
	s, _ := res.Result[0].Value[1].(string)
	var v float64
	if _, err := fmt.Sscan(s, &v); err != nil {
		return 0, fmt.Errorf("parse value %q: %w", s, err)
	}
	return v, nil
}

// pushPipelineMetrics pushes what the release pipeline would after `runs`
// runs: every name in ci/release/metricnames, with counters that grow per run.
func pushPipelineMetrics(t *testing.T, url string, runs float64) {
	t.Helper()
	reg := prometheus.NewRegistry()
	stageDur := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: pm.StageDurationSeconds, Help: "Duration of the last run of each stage."}, []string{pm.LabelStage, pm.LabelResult})
	stageRuns := prometheus.NewCounterVec(prometheus.CounterOpts{Name: pm.StageRunsTotal, Help: "Stage runs by result."}, []string{pm.LabelStage, pm.LabelResult})
	runsTotal := prometheus.NewCounterVec(prometheus.CounterOpts{Name: pm.RunsTotal, Help: "Pipeline runs by outcome."}, []string{pm.LabelOutcome})
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: pm.Info, Help: "The most recent run."}, []string{pm.LabelVersion, pm.LabelRevision, pm.LabelOutcome})
	lastRun := prometheus.NewGauge(prometheus.GaugeOpts{Name: pm.LastRunTimestampSeconds, Help: "End of the last run."})
	lastOK := prometheus.NewGauge(prometheus.GaugeOpts{Name: pm.LastSuccessTimestampSeconds, Help: "Last promotion."})
	lastFail := prometheus.NewGauge(prometheus.GaugeOpts{Name: pm.LastFailureTimestampSeconds, Help: "Last rollback or failure."})
	restore := prometheus.NewGauge(prometheus.GaugeOpts{Name: pm.RestoreDurationSeconds, Help: "Exposure of the last rollback."})
	reg.MustRegister(stageDur, stageRuns, runsTotal, info, lastRun, lastOK, lastFail, restore)

	now := float64(time.Now().Unix())
	for i, stage := range pm.Stages() {
		stageDur.WithLabelValues(stage, pm.ResultSuccess).Set(float64(5 + i))
		stageRuns.WithLabelValues(stage, pm.ResultSuccess).Add(3 * runs)
	}
	stageRuns.WithLabelValues(pm.StageGate, pm.ResultFailure).Add(runs)
	runsTotal.WithLabelValues(pm.OutcomePromoted).Add(2 * runs)
	runsTotal.WithLabelValues(pm.OutcomeRolledBack).Add(runs)
	runsTotal.WithLabelValues(pm.OutcomeFailed).Add(runs)
	info.WithLabelValues(fmt.Sprintf("v%.0f", runs+1), "abc123", pm.OutcomePromoted).Set(1)
	lastRun.Set(now)
	lastOK.Set(now)
	lastFail.Set(now - 600)
	restore.Set(42)
	testStageMetrics(reg, fmt.Sprintf("v%.0f", runs+1), fmt.Sprintf("rev%.0f", runs), now, runs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := push.New(url, pm.JobName).Gatherer(reg).PushContext(ctx); err != nil {
		t.Fatalf("push pipeline metrics: %v", err)
	}
}

// testStageMetrics registers what the test stage of one build pushes
// (ci/release/testmetrics.go): every test-fact series with the build's
// version and revision, a test-health check with one blocking and one
// overridden finding, the override counter and the lead time.
func testStageMetrics(reg *prometheus.Registry, version, revision string, now, runs float64) {
	vr := []string{pm.LabelVersion, pm.LabelRevision}
	gauge := func(name string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: name}, append(labels, vr...))
		reg.MustRegister(g)
		return g
	}
	pkg := "github.com/obsshort/shortener/app"
	gauge(pm.TestFactsTimestampSeconds).WithLabelValues(version, revision).Set(now)
	tests := gauge(pm.Tests, pm.LabelPackage, pm.LabelResult)
	tests.WithLabelValues(pkg, "pass", version, revision).Set(160)
	tests.WithLabelValues(pkg, "skip", version, revision).Set(1)
	tests.WithLabelValues(pkg, "fail", version, revision).Set(0)
	gauge(pm.TestCoverageRatio, pm.LabelPackage).WithLabelValues(pkg, version, revision).Set(0.9)
	gauge(pm.TestAssertions, pm.LabelPackage).WithLabelValues(pkg, version, revision).Set(90)
	gauge(pm.TestFunctionsWithoutAssertions, pm.LabelPackage).WithLabelValues(pkg, version, revision).Set(0)
	gauge(pm.FuzzExecutions, pm.LabelPackage, pm.LabelTarget).WithLabelValues(pkg, "FuzzValidateURL", version, revision).Set(12000)
	gauge(pm.LintFindings, pm.LabelLinter).WithLabelValues("go vet", version, revision).Set(0)
	gauge(pm.BuildDurationSeconds).WithLabelValues(version, revision).Set(12)
	gauge(pm.BinarySizeBytes, pm.LabelBinary).WithLabelValues("shortener", version, revision).Set(2.5e7)
	gauge(pm.BenchGuardRatio, pm.LabelPackage, pm.LabelBenchmark).WithLabelValues("github.com/obsshort/shortener/telemetry", "BenchmarkInstrumented", version, revision).Set(1.8)
	gauge(pm.TestCheckDurationSeconds, pm.LabelCheck).WithLabelValues("go_test", version, revision).Set(60)
	findings := gauge(pm.TestHealthFindings, pm.LabelKind, pm.LabelState)
	findings.WithLabelValues("expectation", pm.StateBlocking, version, revision).Set(1)
	findings.WithLabelValues("skipped", pm.StateOverridden, version, revision).Set(1)
	overrides := prometheus.NewCounterVec(prometheus.CounterOpts{Name: pm.TestHealthOverridesTotal, Help: "overrides"}, []string{pm.LabelKind})
	reg.MustRegister(overrides)
	overrides.WithLabelValues("skipped").Add(runs)
	gauge(pm.LeadTimeSeconds).WithLabelValues(version, revision).Set(3600)
}

// sendTraffic sends what users would until ctx ends: on stable creates,
// redirects (mostly to known codes, some unknown), the web page and QR
// codes; on the canary redirects and creates, which all fail.
func sendTraffic(ctx context.Context, t *testing.T, stable, canary string) *sync.WaitGroup {
	t.Helper()
	client := loadgen.NoRedirects(5*time.Second, 64)
	create := func(ctx context.Context, base string, i int) (loadgen.Link, int, error) {
		return loadgen.Create(ctx, client, base, fmt.Sprintf("https://example.com/article/%d", i))
	}
	// get requests base/path without following a redirect (Follow does
	// that for any path, not only a short code).
	get := func(ctx context.Context, base, path string) {
		_, _, _ = loadgen.Follow(ctx, client, base, path)
	}
	var codes []string
	for i := 0; i < 10; i++ {
		link, status, err := create(ctx, stable, i)
		if err != nil || status != http.StatusCreated {
			t.Fatalf("create link on stable: status %d, err %v", status, err)
		}
		codes = append(codes, link.Code)
	}

	var wg sync.WaitGroup
	drive := func(rps float64, do func(ctx context.Context, i int)) {
		wg.Go(func() {
			_, _ = loadgen.Drive(ctx, loadgen.Pace{RPS: rps}, func(ctx context.Context, r loadgen.Request) { do(ctx, r.Seq) })
		})
	}
	drive(40, func(ctx context.Context, i int) { // stable: the healthy release
		code := codes[rand.IntN(len(codes))]
		switch {
		case i%10 == 3:
			_, _, _ = create(ctx, stable, 100+i)
		case i%5 == 1:
			get(ctx, stable, "nosuch"+fmt.Sprint(i)) // unknown code: 404
		case i%20 == 7:
			get(ctx, stable, "")
		case i%25 == 12: // not 11: every such i has i%5 == 1, taken above
			get(ctx, stable, code+"/qr")
		default:
			get(ctx, stable, code)
		}
	})
	drive(12, func(ctx context.Context, i int) { // canary: every public request fails after 150 ms
		if i%5 == 4 {
			_, _, _ = create(ctx, canary, 1000+i)
			return
		}
		get(ctx, canary, codes[rand.IntN(len(codes))])
	})
	return &wg
}
