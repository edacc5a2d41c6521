package release

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pm "github.com/obsshort/shortener/ci/release/metricnames"
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

	r1, err := newReporter(gw.URL, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r1.stage(pm.StageBuild, pm.ResultSuccess, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r1.run("v2-bad", "abc", pm.OutcomeRolledBack, time.Unix(1000, 0), 40*time.Second); err != nil {
		t.Fatal(err)
	}
	// A new process: totals come from the state file.
	r2, err := newReporter(gw.URL, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.stage(pm.StageBuild, pm.ResultSuccess, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r2.run("v2", "def", pm.OutcomePromoted, time.Unix(2000, 0), 0); err != nil {
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
