package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/obsshort/shortener/ci/release"
	pm "github.com/obsshort/shortener/ci/release/metricnames"
	"github.com/obsshort/shortener/ci/stack"
	"github.com/obsshort/shortener/ci/testfacts"
	"github.com/obsshort/shortener/internal/loadgen"
)

// TestStageOptions of the test-stage replay.
type TestStageOptions struct {
	RPS float64 // user load during the releases, so the gate can pass
	// Packages the releases test (default ./app: the package whose test
	// the scenario edits, fast enough to run four times).
	Packages []string
	// Release holds the pipeline settings (version, tests and baseline
	// are set per scenario).
	Release release.Options
	// Work is where the scratch clone goes (default: a temporary folder,
	// removed at the end).
	Work string
}

// Change is one commit the scenario makes in the scratch clone: each edit
// replaces Old by New in File (an empty Old creates File with New).
type Change struct {
	Message string
	Edits   []Edit
}

// Edit is one file change.
type Edit struct{ File, Old, New string }

// The scenario's changes to the shortener. The first is the incident as it
// happened: the output breaks, and the test's expected value is edited to
// match it, so the tests pass.
var (
	changeEditedExpectation = Change{
		Message: "validate: shorter message for an empty URL\n\nThe test is updated to the new message.",
		Edits: []Edit{
			{File: "app/validate.go", Old: `"url is required: give an absolute`, New: `"url: give an absolute`},
			{File: "app/validate_test.go", Old: `{"empty", "", "", "url is required"},`, New: `{"empty", "", "", "url: give"},`},
		},
	}
	changeDeletedAssertion = Change{
		Message: "tests: drop a check that gets in the way",
		Edits: []Edit{{File: "app/validate_test.go",
			Old: "\t\t\t\tif app.ErrorCode(err) != app.EINVALID {\n\t\t\t\t\tt.Errorf(\"code = %q, want invalid\", app.ErrorCode(err))\n\t\t\t\t}\n",
			New: ""}},
	}
	changeAddedTest = Change{
		Message: "tests: an alias at the length limits",
		Edits: []Edit{{File: "app/replay_added_test.go", New: `package app_test

import (
	"strings"
	"testing"

	"github.com/obsshort/shortener/app"
)

// Added by the test-stage replay: a change that adds a test.
func TestAliasLengthLimits(t *testing.T) {
	for _, n := range []int{3, 64} {
		if err := app.ValidateAlias(strings.Repeat("a", n)); err != nil {
			t.Errorf("alias of %d letters refused: %v", n, err)
		}
	}
	if err := app.ValidateAlias(strings.Repeat("a", 65)); err == nil {
		t.Error("alias of 65 letters accepted")
	}
}
`}},
	}
)

// TestStageReport is the outcome of the test-stage replay.
type TestStageReport struct {
	Checks                                 []Check
	Baseline, Edited, NoAssertion, AddTest release.Result
}

// Passed reports whether every check passed.
func (r TestStageReport) Passed() bool { return Report{Checks: r.Checks}.Passed() }

// RunTestStage replays the incident at the test stage, on a running stack
// with user load: from a scratch clone of the repository, a baseline
// release is promoted; then a commit that breaks an output and edits the
// test's expected value to match, and one that deletes an assertion, must
// each be blocked at the test-health stage (exit 2) with a message naming
// the test, the stable version untouched; a commit that adds a test must
// be promoted. The releases keep their own test-facts baseline, so real
// releases' baselines are not moved.
func RunTestStage(ctx context.Context, cfg stack.Config, o TestStageOptions, stdout, stderr io.Writer) (TestStageReport, error) {
	var rep TestStageReport
	say := func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }
	check := checker(&rep.Checks, say)
	if len(o.Packages) == 0 {
		o.Packages = []string{"./app"}
	}
	dep, err := cfg.LoadDeployment()
	if err != nil {
		return rep, err
	}
	if dep.Stable == nil {
		return rep, fmt.Errorf("no stable deployment in %s: run `release stack up` first", cfg.StateDir)
	}

	work := o.Work
	if work == "" {
		if work, err = os.MkdirTemp("", "replay-test-stage-"); err != nil {
			return rep, err
		}
		defer os.RemoveAll(work)
	}
	clone := filepath.Join(work, "repo")
	say("=== test-stage replay: scratch clone of %s at HEAD in %s", cfg.RepoRoot, clone)
	if _, err := gitRun(ctx, work, "clone", "--quiet", "--no-hardlinks", cfg.RepoRoot, clone); err != nil {
		return rep, err
	}
	base, err := gitRun(ctx, clone, "rev-parse", "HEAD")
	if err != nil {
		return rep, err
	}

	gen, err := loadgen.New(loadgen.Config{BaseURL: cfg.ProxyURL(), RPS: o.RPS, CreateShare: 0.1})
	if err != nil {
		return rep, err
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { gen.Run(loadCtx) })
	defer func() { stopLoad(); wg.Wait() }()

	scratch := cfg
	scratch.RepoRoot = clone
	p := &release.Pipeline{Stack: scratch, Out: indent(stdout), Err: stderr}
	stamp := time.Now().Format("150405")
	opts := o.Release
	opts.SkipTests, opts.TestCommand = false, nil
	opts.TestHealth.Packages = o.Packages
	// Its own baseline, started afresh: a previous replay's promoted
	// build (with the test this one adds) must not be compared with.
	opts.TestHealth.Baseline = "replay-test-stage"
	if err := os.Remove(p.BaselinePath(opts.TestHealth, nil)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return rep, err
	}
	releaseAt := func(version, rev string) release.Result {
		opt := opts
		opt.Version, opt.Revision = version, rev
		return p.Run(ctx, opt)
	}
	healthStage := func(r release.Result) (release.Stage, bool) {
		for _, s := range r.Stages {
			if s.Name == pm.StageTestHealth {
				return s, true
			}
		}
		return release.Stage{}, false
	}

	say("=== scenario T1: baseline %s (%.12s) through the whole pipeline, tests of %s", "ts-base-"+stamp, base, strings.Join(o.Packages, " "))
	rep.Baseline = releaseAt("ts-base-"+stamp, base)
	check("the baseline is promoted with its test facts", rep.Baseline.Outcome == pm.OutcomePromoted && rep.Baseline.TestFacts != nil,
		"outcome %s (exit %d), %s", rep.Baseline.Outcome, rep.Baseline.ExitCode, factsSummary(rep.Baseline.TestFacts))

	blockedAt := func(name string, r release.Result, test, kind string) {
		hs, ok := healthStage(r)
		msg := ""
		if r.Err != nil {
			msg = r.Err.Error()
		}
		testsPassed := len(r.Stages) > 1 && r.Stages[1].Name == pm.StageTest && r.Stages[1].Result == pm.ResultSuccess
		check(name, r.ExitCode == release.ExitBlocked && ok && hs.Result == pm.ResultFailure && testsPassed &&
			strings.Contains(msg, test) && strings.Contains(msg, kind) && r.CanaryTraffic.IsZero(),
			"exit %d, tests passed %v, test-health %s: %s", r.ExitCode, testsPassed, hs.Result, firstLineOf(msg))
	}

	say("=== scenario T2: the incident: the output breaks and the test's expected value is edited to match")
	rev, err := commitChange(ctx, clone, base, changeEditedExpectation)
	if err != nil {
		return rep, err
	}
	rep.Edited = releaseAt("ts-edited-"+stamp, rev)
	blockedAt("the edited expectation is blocked at the test stage, naming the test", rep.Edited, "TestValidateURL", testfacts.KindExpectation)
	ok, detail := pushgatewayHasFinding(ctx, cfg, "ts-edited-"+stamp, testfacts.KindExpectation)
	check("pushgateway holds the blocking finding of ts-edited-"+stamp, ok, "%s", detail)

	say("=== scenario T3: an assertion deleted")
	rev, err = commitChange(ctx, clone, base, changeDeletedAssertion)
	if err != nil {
		return rep, err
	}
	rep.NoAssertion = releaseAt("ts-noassert-"+stamp, rev)
	blockedAt("the deleted assertion is blocked at the test stage, naming the test", rep.NoAssertion, "TestValidateURL", testfacts.KindAssertions)
	v, err := servedVersion(ctx, cfg)
	check("stable still serves ts-base-"+stamp, err == nil && v == "ts-base-"+stamp, "version=%q %s", v, errOrEmpty(err))

	say("=== scenario T4: a change that adds a test")
	rev, err = commitChange(ctx, clone, base, changeAddedTest)
	if err != nil {
		return rep, err
	}
	rep.AddTest = releaseAt("ts-added-"+stamp, rev)
	hs, _ := healthStage(rep.AddTest)
	check("the change that adds a test is not blocked, and is promoted", rep.AddTest.Outcome == pm.OutcomePromoted && hs.Result == pm.ResultSuccess && len(testfacts.Blocking(rep.AddTest.TestHealth)) == 0,
		"outcome %s (exit %d), test-health %s: %s", rep.AddTest.Outcome, rep.AddTest.ExitCode, hs.Result, hs.Detail)

	stopLoad()
	wg.Wait()
	say("users during the test-stage replay: %s", gen.Counts())
	say("=== test-stage replay: %s", tally(rep.Checks))
	return rep, nil
}

func factsSummary(f *testfacts.Facts) string {
	if f == nil {
		return "no test facts"
	}
	t := f.Totals()
	return fmt.Sprintf("%d tests, %d assertions in %d test functions", t.Tests, t.Assertions, t.Functions)
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// commitChange checks out a new branch at base in the clone, applies the
// change and commits it; it returns the new commit.
func commitChange(ctx context.Context, clone, base string, c Change) (string, error) {
	if _, err := gitRun(ctx, clone, "checkout", "--quiet", "--detach", base); err != nil {
		return "", err
	}
	for _, e := range c.Edits {
		path := filepath.Join(clone, e.File)
		if e.Old == "" {
			if err := os.WriteFile(path, []byte(e.New), 0o644); err != nil {
				return "", err
			}
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		if !strings.Contains(string(b), e.Old) {
			return "", fmt.Errorf("the scenario's change no longer applies: %s lacks %q (update ci/release/replay/teststage.go)", e.File, e.Old)
		}
		if err := os.WriteFile(path, []byte(strings.Replace(string(b), e.Old, e.New, 1)), 0o644); err != nil {
			return "", err
		}
	}
	if _, err := gitRun(ctx, clone, "add", "-A"); err != nil {
		return "", err
	}
	if _, err := gitRun(ctx, clone, "-c", "user.name=replay", "-c", "user.email=replay@localhost", "commit", "--quiet", "-m", c.Message); err != nil {
		return "", err
	}
	return gitRun(ctx, clone, "rev-parse", "HEAD")
}

// gitRun runs git in dir with a deadline and returns its trimmed output.
func gitRun(ctx context.Context, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// pushgatewayHasFinding looks for release_test_health_findings{kind,
// state="blocking", version} = 1 on the Pushgateway.
func pushgatewayHasFinding(ctx context.Context, cfg stack.Config, version, kind string) (bool, string) {
	lines, err := getLines(ctx, cfg.PushgatewayURL()+"/metrics")
	if err != nil {
		return false, err.Error()
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, pm.TestHealthFindings+"{") || strings.HasSuffix(l, " 0") {
			continue
		}
		v, _ := label(l, pm.LabelVersion)
		k, _ := label(l, pm.LabelKind)
		st, _ := label(l, pm.LabelState)
		if v == version && k == kind && st == pm.StateBlocking {
			return true, l
		}
	}
	return false, fmt.Sprintf("no %s{kind=%q,state=%q,version=%q} > 0 on the pushgateway", pm.TestHealthFindings, kind, pm.StateBlocking, version)
}
