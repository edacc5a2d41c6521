package release

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pm "github.com/obsshort/shortener/ci/release/metricnames"
	"github.com/obsshort/shortener/ci/testfacts"
	"github.com/obsshort/shortener/internal/testenv"
)

// TestReporterCarriesTotals runs two releases' worth of reports through a
// fake Pushgateway: every push replaces the group, so counters must be the
// running totals, and the state file must carry them to the next run.
func TestReporterCarriesTotals(t *testing.T) {
	var (
		mu     sync.Mutex
		pushes []string
	)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, "/job/"+pm.JobName) {
			t.Errorf("push %s %s: want PUT .../job/%s (replace the group)", r.Method, r.URL.Path, pm.JobName)
		}
		b, _ := io.ReadAll(r.Body)
		pushes = append(pushes, string(b))
		w.WriteHeader(http.StatusOK)
	}))
	defer gw.Close()
	dir := t.TempDir()
	ctx := context.Background()

	r1, err := newReporter(gw.URL, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r1.stage(ctx, pm.StageBuild, pm.ResultSuccess, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r1.run(ctx, "v2-bad", "abc", pm.OutcomeRolledBack, time.Unix(1000, 0), 40*time.Second); err != nil {
		t.Fatal(err)
	}
	// A new process: totals come from the state file.
	r2, err := newReporter(gw.URL, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.stage(ctx, pm.StageBuild, pm.ResultSuccess, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r2.run(ctx, "v2", "def", pm.OutcomePromoted, time.Unix(2000, 0), 0); err != nil {
		t.Fatal(err)
	}

	got := flatten(t, r2)
	want := map[string]float64{
		`release_runs_total{outcome="promoted"}`:                         1,
		`release_runs_total{outcome="rolled_back"}`:                      1,
		`release_stage_runs_total{result="success",stage="build"}`:       2,
		`release_stage_duration_seconds{result="success",stage="build"}`: 3,
		`release_info{outcome="promoted",revision="def",version="v2"}`:   1,
		`release_restore_duration_seconds{}`:                             40,
		`release_last_success_timestamp_seconds{}`:                       2000,
		`release_last_failure_timestamp_seconds{}`:                       1000,
		`release_last_run_timestamp_seconds{}`:                           2000,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("pushed %d series, want %d: %v", len(got), len(want), got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pushes) != 4 {
		t.Fatalf("%d pushes, want one per stage and one per run (4)", len(pushes))
	}
}

func TestReporterNamesAreTheContract(t *testing.T) {
	r, err := newReporter("http://127.0.0.1:1", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r.t.StageRuns["build|success"] = 1
	r.t.StageDurations["build|success"] = 1
	r.t.Runs[pm.OutcomeRolledBack] = 1
	r.t.Outcome, r.t.Version, r.t.LastSuccess, r.t.LastFailure, r.t.HasRestore = pm.OutcomeRolledBack, "v", 1, 1, true
	// Every test-stage fact, a test-health check with an override, a
	// promotion's lead time.
	cov := 50.0
	f := &testfacts.Facts{Version: "v", Revision: "abc",
		Packages: map[string]*testfacts.Package{"m/a": {Tests: map[string]string{"TestA": "pass"}, Coverage: &cov,
			Functions: map[string]testfacts.Function{"TestA": {Assertions: 2}}}},
		FuzzExecutions: map[string]int64{"m/a.FuzzA": 10}, Lint: map[string]int{"go vet": 0},
		BuildSeconds: 3, BinaryBytes: map[string]int64{"shortener": 1}, BenchRatios: map[string]float64{"m/a.BenchmarkA": 1.5},
		CheckSeconds: map[string]float64{testfacts.CheckGoTest: 1}}
	r.setTestFacts(f, "")
	r.setTestHealth(f, []testfacts.Finding{{Kind: testfacts.KindSkipped, Package: "m/a", Test: "TestA", Override: "why"}})
	r.setLeadTime("v", "abc", time.Minute)
	mfs, err := r.registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, n := range pm.Names() {
		known[n] = true
	}
	for _, mf := range mfs {
		if !known[mf.GetName()] {
			t.Errorf("pushed %s, which is not in ci/release/metricnames.Names()", mf.GetName())
		}
	}
	if len(mfs) != len(pm.Names())-1 { // all but push_time_seconds, which the Pushgateway adds
		t.Errorf("pushed %d families, want %d", len(mfs), len(pm.Names())-1)
	}
}

// flatten gathers the reporter's registry as name{label="v",...} -> value.
func flatten(t *testing.T, r *reporter) map[string]float64 {
	t.Helper()
	mfs, err := r.registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out[mf.GetName()+"{"+strings.Join(ls, ",")+"}"] = v
		}
	}
	return out
}

// TestDeadPushgatewayCostsAFewSeconds pushes a whole run's worth of stages
// to a Pushgateway that never answers: every push fails, none waits past
// its deadline, all of them together stay within the run's push budget,
// and the totals are still saved for the next run.
func TestDeadPushgatewayCostsAFewSeconds(t *testing.T) {
	t.Parallel()
	if pushTimeout > 3*time.Second || pushBudget > 10*time.Second {
		t.Fatalf("push timeout %s, budget %s: a dead Pushgateway must cost a release only a few seconds", pushTimeout, pushBudget)
	}
	dir := t.TempDir()
	r, err := newReporter("http://"+testenv.SilentServer(t), dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	var errs []error
	for range 8 {
		t0 := time.Now()
		errs = append(errs, r.stage(ctx, pm.StageBuild, pm.ResultSuccess, time.Second))
		if d := time.Since(t0); d > pushTimeout+time.Second {
			t.Errorf("one push took %s, deadline %s", d, pushTimeout)
		}
	}
	errs = append(errs, r.run(ctx, "v2", "abc", pm.OutcomePromoted, time.Unix(1000, 0), 0))
	took := time.Since(start)
	if took > pushBudget+time.Second {
		t.Errorf("9 pushes to a dead Pushgateway took %s, budget %s", took, pushBudget)
	}
	var timedOut, budgetSpent int
	for i, err := range errs {
		var ne net.Error
		switch {
		case err == nil:
			t.Errorf("push %d to a dead Pushgateway succeeded", i)
		case errors.Is(err, errPushBudgetSpent):
			budgetSpent++
		case errors.As(err, &ne) && ne.Timeout():
			timedOut++
		default:
			t.Errorf("push %d: %v, want a timeout or the budget spent", i, err)
		}
	}
	if timedOut == 0 || budgetSpent == 0 {
		t.Errorf("%d pushes timed out and %d were skipped for the budget; want both (errors: %v)", timedOut, budgetSpent, errs)
	}
	// The next run starts from the saved totals.
	next, err := newReporter("http://"+testenv.SilentServer(t), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := next.t.StageRuns[pm.StageBuild+"|"+pm.ResultSuccess]; got != 8 {
		t.Errorf("saved build runs = %v, want 8", got)
	}
	if got := next.t.Runs[pm.OutcomePromoted]; got != 1 {
		t.Errorf("saved promoted runs = %v, want 1", got)
	}
}

// TestPushSurvivesCancellation: an interrupted run (Ctrl-C, a cancelled CI
// job) still reports its last stages, within the push deadline.
func TestPushSurvivesCancellation(t *testing.T) {
	t.Parallel()
	var pushes atomic.Int32
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pushes.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer gw.Close()
	r, err := newReporter(gw.URL, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.stage(ctx, pm.StageRollback, pm.ResultSuccess, time.Second); err != nil {
		t.Fatalf("push after cancellation: %v", err)
	}
	if pushes.Load() != 1 {
		t.Errorf("%d pushes arrived, want 1", pushes.Load())
	}
}

// TestPushCredentialsStayOutOfMessages: a Pushgateway URL with user:pass@
// sends the credentials as basic auth, and no error message shows the
// password, whether the Pushgateway refuses, answers an error or is dead.
func TestPushCredentialsStayOutOfMessages(t *testing.T) {
	t.Parallel()
	const user, secret = "pipeline", "s3cret-Pa55"
	var gotAuth atomic.Bool
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); ok && u == user && p == secret {
			gotAuth.Store(true)
		}
		http.Error(w, "no space left", http.StatusInternalServerError)
	}))
	defer gw.Close()
	withCreds := func(hostport string) string { return "http://" + user + ":" + secret + "@" + hostport }
	refused := testenv.FreeAddr(t) // nothing listens there
	for _, tt := range []struct{ name, url string }{
		{"error answer", withCreds(strings.TrimPrefix(gw.URL, "http://"))},
		{"dead", withCreds(testenv.SilentServer(t))},
		{"refused", withCreds(refused)},
		{"unparsable", "http://" + user + ":" + secret + "@host:port:x/%zz"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := newReporter(tt.url, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			err = r.stage(context.Background(), pm.StageBuild, pm.ResultSuccess, time.Second)
			if err == nil {
				t.Fatal("push succeeded, want an error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
	if !gotAuth.Load() {
		t.Error("the Pushgateway never got the URL's credentials as basic auth")
	}
}

func TestRedactURL(t *testing.T) {
	const secret = "s3cret"
	tests := []struct {
		in       string
		keep     []string // what a reader still needs to see
		wantSame bool     // nothing to hide: unchanged
	}{
		{in: "http://127.0.0.1:19091", wantSame: true},
		{in: "https://prom.example.org/api/prom", wantSame: true},
		{in: "http://ci:" + secret + "@127.0.0.1:19091/path", keep: []string{"ci", "127.0.0.1:19091", "/path"}},
		{in: "https://:" + secret + "@prom.example.org", keep: []string{"prom.example.org"}},
		{in: "http://ci:" + secret + "@host:port:x/%zz"}, // does not parse
	}
	for _, tt := range tests {
		got := RedactURL(tt.in)
		if strings.Contains(got, secret) {
			t.Errorf("RedactURL(%q) = %q shows the password", tt.in, got)
		}
		if tt.wantSame && got != tt.in {
			t.Errorf("RedactURL(%q) = %q, want it unchanged", tt.in, got)
		}
		for _, k := range tt.keep {
			if !strings.Contains(got, k) {
				t.Errorf("RedactURL(%q) = %q lost %q", tt.in, got, k)
			}
		}
	}
}
