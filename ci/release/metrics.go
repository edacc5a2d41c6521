package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	pm "github.com/obsshort/shortener/ci/release/metricnames"
	"github.com/obsshort/shortener/ci/testfacts"
)

// totals is what the pipeline carries from run to run so the counters it
// pushes are cumulative (every push replaces the whole Pushgateway group).
type totals struct {
	StageRuns      map[string]float64 `json:"stage_runs"`      // "stage|result" -> count
	StageDurations map[string]float64 `json:"stage_durations"` // "stage|result" -> seconds, latest
	Runs           map[string]float64 `json:"runs"`            // outcome -> count
	LastRun        float64            `json:"last_run"`
	LastSuccess    float64            `json:"last_success"`
	LastFailure    float64            `json:"last_failure"`
	RestoreSeconds float64            `json:"restore_seconds"`
	HasRestore     bool               `json:"has_restore"`
	Version        string             `json:"version"`
	Revision       string             `json:"revision"`
	Outcome        string             `json:"outcome"`
	testTotals
}

// Deadlines of the pushes. A Pushgateway that accepts connections but never
// answers must not hold a release: one push waits at most pushTimeout, and
// all pushes of one run together at most pushBudget; after that the run
// stops pushing (the totals stay in the state file, and the next run that
// reaches the Pushgateway pushes them).
const (
	pushTimeout = 2 * time.Second
	pushBudget  = 5 * time.Second
)

// errPushBudgetSpent says that earlier pushes of this run used up the time
// the run may spend on the Pushgateway.
var errPushBudgetSpent = errors.New("earlier pushes of this run timed out: not pushing again until the next run")

// reporter pushes the pipeline's metrics to the Pushgateway after every
// stage. A push failure is reported but never fails the release: the gate,
// not the dashboard, decides.
type reporter struct {
	file string
	t    totals

	pusher  func() *push.Pusher // a Pusher for one push, credentials included
	shown   string              // the Pushgateway's URL with the password redacted
	urlErr  error               // the URL could not be parsed: every push fails with it
	timeout time.Duration
	budget  time.Duration // left for the pushes of this run

	facts *testfacts.Facts // of the last build whose tests ran (testmetrics.go)
}

func newReporter(pushgatewayURL, stateDir string) (*reporter, error) {
	r := &reporter{
		file:    filepath.Join(stateDir, "release-metrics.json"),
		shown:   RedactURL(pushgatewayURL),
		timeout: pushTimeout,
		budget:  pushBudget,
	}
	r.pusher, r.urlErr = newPusher(pushgatewayURL)
	b, err := os.ReadFile(r.file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read pipeline totals: %w", err)
	default:
		if err := json.Unmarshal(b, &r.t); err != nil {
			return nil, fmt.Errorf("parse %s: %w", r.file, err)
		}
	}
	if r.t.StageRuns == nil {
		r.t.StageRuns = map[string]float64{}
	}
	if r.t.StageDurations == nil {
		r.t.StageDurations = map[string]float64{}
	}
	if r.t.Runs == nil {
		r.t.Runs = map[string]float64{}
	}
	r.loadTestFacts()
	return r, nil
}

// newPusher takes the credentials out of the URL and hands them to the
// Pusher as basic auth, so no error message of the push library (which
// print the URL they pushed to) can carry them.
func newPusher(raw string) (func() *push.Pusher, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		// url.Parse's error repeats the raw URL: never show it.
		return nil, fmt.Errorf("pushgateway URL %s is not an absolute http(s) URL", RedactURL(raw))
	}
	user := u.User
	u.User = nil
	clean := u.String()
	// Timeout backs up the context's deadline for the whole exchange,
	// body included.
	client := &http.Client{Timeout: pushTimeout}
	return func() *push.Pusher {
		p := push.New(clean, pm.JobName).Client(client)
		if user != nil {
			pass, _ := user.Password()
			p = p.BasicAuth(user.Username(), pass)
		}
		return p
	}, nil
}

// stage records one stage's result. The push does not inherit ctx's
// cancellation: an interrupted run still reports its last stages.
func (r *reporter) stage(ctx context.Context, name, result string, d time.Duration) error {
	k := name + "|" + result
	r.t.StageRuns[k]++
	r.t.StageDurations[k] = d.Seconds()
	return r.flush(ctx)
}

// run records the outcome of a whole run. restore is the time users were
// exposed to a rolled-back canary (zero when there was none).
func (r *reporter) run(ctx context.Context, version, revision, outcome string, end time.Time, restore time.Duration) error {
	r.t.Runs[outcome]++
	r.t.LastRun = float64(end.UnixNano()) / 1e9
	switch outcome {
	case pm.OutcomePromoted:
		r.t.LastSuccess = r.t.LastRun
	default:
		r.t.LastFailure = r.t.LastRun
	}
	if outcome == pm.OutcomeRolledBack {
		r.t.RestoreSeconds, r.t.HasRestore = restore.Seconds(), true
	}
	r.t.Version, r.t.Revision, r.t.Outcome = version, revision, outcome
	return r.flush(ctx)
}

// flush saves the totals, then pushes them within the deadlines above.
func (r *reporter) flush(ctx context.Context) error {
	b, err := json.MarshalIndent(r.t, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(r.file, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save pipeline totals: %w", err)
	}
	if r.urlErr != nil {
		return r.urlErr
	}
	if r.budget <= 0 {
		return fmt.Errorf("push to %s: %w", r.shown, errPushBudgetSpent)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(r.timeout, r.budget))
	defer cancel()
	t0 := time.Now()
	err = r.pusher().Gatherer(r.registry()).PushContext(ctx)
	r.budget -= time.Since(t0)
	if err != nil {
		return fmt.Errorf("push to %s: %w", r.shown, err)
	}
	return nil
}

// registry builds the metrics from the totals: one snapshot per push.
func (r *reporter) registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	dur := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: pm.StageDurationSeconds, Help: "Duration of the most recent run of each release stage.",
	}, []string{pm.LabelStage, pm.LabelResult})
	stageRuns := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: pm.StageRunsTotal, Help: "Release stage runs, by result.",
	}, []string{pm.LabelStage, pm.LabelResult})
	runs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: pm.RunsTotal, Help: "Release pipeline runs, by outcome.",
	}, []string{pm.LabelOutcome})
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: pm.Info, Help: "The most recent release run: version, revision, outcome.",
	}, []string{pm.LabelVersion, pm.LabelRevision, pm.LabelOutcome})
	lastRun := prometheus.NewGauge(prometheus.GaugeOpts{Name: pm.LastRunTimestampSeconds, Help: "Unix time the most recent release run ended."})
	lastOK := prometheus.NewGauge(prometheus.GaugeOpts{Name: pm.LastSuccessTimestampSeconds, Help: "Unix time of the most recent promotion."})
	lastFail := prometheus.NewGauge(prometheus.GaugeOpts{Name: pm.LastFailureTimestampSeconds, Help: "Unix time of the most recent rollback or failed run."})
	restore := prometheus.NewGauge(prometheus.GaugeOpts{Name: pm.RestoreDurationSeconds, Help: "Seconds from a rolled-back canary taking traffic to the rollback completing."})
	reg.MustRegister(dur, stageRuns, runs)
	for k, v := range r.t.StageDurations {
		stage, result, _ := strings.Cut(k, "|")
		dur.WithLabelValues(stage, result).Set(v)
	}
	for k, v := range r.t.StageRuns {
		stage, result, _ := strings.Cut(k, "|")
		stageRuns.WithLabelValues(stage, result).Add(v)
	}
	for k, v := range r.t.Runs {
		runs.WithLabelValues(k).Add(v)
	}
	if r.t.Outcome != "" {
		reg.MustRegister(info, lastRun)
		info.WithLabelValues(r.t.Version, r.t.Revision, r.t.Outcome).Set(1)
		lastRun.Set(r.t.LastRun)
	}
	if r.t.LastSuccess > 0 {
		reg.MustRegister(lastOK)
		lastOK.Set(r.t.LastSuccess)
	}
	if r.t.LastFailure > 0 {
		reg.MustRegister(lastFail)
		lastFail.Set(r.t.LastFailure)
	}
	if r.t.HasRestore {
		reg.MustRegister(restore)
		restore.Set(r.t.RestoreSeconds)
	}
	r.registerTestFacts(reg)
	return reg
}
