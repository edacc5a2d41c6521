package release

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	pm "github.com/obsshort/shortener/ci/release/metricnames"
	"github.com/obsshort/shortener/ci/stack"
	"github.com/obsshort/shortener/internal/testenv"
)

// TestPushgatewayNeverDecidesTheOutcome runs the same release against a
// working, a refusing and a dead Pushgateway: the outcome and exit code are
// the same each time, and the dead one costs at most one push deadline.
// (The run stops at its first check, no stable deployed, so it needs no
// stack; every path of Run pushes through the same reporter.)
func TestPushgatewayNeverDecidesTheOutcome(t *testing.T) {
	t.Parallel()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer ok.Close()
	refusing := httptest.NewServer(http.NotFoundHandler())
	refusingAddr := strings.TrimPrefix(refusing.URL, "http://")
	refusing.Close() // nothing listens there any more

	type run struct {
		res  Result
		took time.Duration
		out  string
	}
	release := func(addr string) run {
		var out bytes.Buffer
		p := &Pipeline{Stack: stack.Config{StateDir: t.TempDir(), PushgatewayAddr: addr}, Out: &out, Err: &out}
		t0 := time.Now()
		res := p.Run(context.Background(), Options{Version: "v2", SkipTests: true})
		return run{res, time.Since(t0), out.String()}
	}
	want := release(strings.TrimPrefix(ok.URL, "http://"))
	if want.res.ExitCode != ExitError || want.res.Outcome != pm.OutcomeFailed {
		t.Fatalf("without a stable deployment: exit %d outcome %s, want %d %s\n%s", want.res.ExitCode, want.res.Outcome, ExitError, pm.OutcomeFailed, want.out)
	}
	if strings.Contains(want.out, "not pushed") {
		t.Errorf("a working Pushgateway got a warning:\n%s", want.out)
	}
	for name, addr := range map[string]string{"refusing": refusingAddr, "dead": testenv.SilentServer(t)} {
		got := release(addr)
		if got.res.ExitCode != want.res.ExitCode || got.res.Outcome != want.res.Outcome {
			t.Errorf("%s Pushgateway: exit %d outcome %s, want %d %s as with a working one", name, got.res.ExitCode, got.res.Outcome, want.res.ExitCode, want.res.Outcome)
		}
		if !strings.Contains(got.out, "not pushed") {
			t.Errorf("%s Pushgateway: no warning that the metrics were not pushed:\n%s", name, got.out)
		}
		if got.took > pushTimeout+time.Second {
			t.Errorf("%s Pushgateway: the run took %s, want at most about one push deadline (%s)", name, got.took, pushTimeout)
		}
	}
}

// TestTestStageSetsTheRecursionGuard: stage 2's tests see TestStageEnv with
// the version being released, which TestReplayIncident checks first.
func TestTestStageSetsTheRecursionGuard(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p := &Pipeline{Stack: stack.Config{RepoRoot: t.TempDir()}, Out: &out, Err: &out}
	check := []string{"sh", "-c", `test "$` + TestStageEnv + `" = v2-guard`}
	if _, err := p.runTests(context.Background(), "v2-guard", check); err != nil {
		t.Errorf("the test stage's environment lacks %s=v2-guard: %v", TestStageEnv, err)
	}
}
