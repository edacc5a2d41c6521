package release

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	pm "github.com/obsshort/shortener/ci/release/metricnames"
	"github.com/obsshort/shortener/ci/testfacts"
)

// TestHealthOptions configure what the test stage collects besides the
// test results, and the test-health gate that follows it.
type TestHealthOptions struct {
	// Packages are the go test patterns of the test stage (default ./...).
	// Facts are compared only with a baseline of the same patterns.
	Packages []string
	// FuzzTime runs every fuzz target this long (0: none).
	FuzzTime time.Duration
	// Lint counts go vet and staticcheck findings.
	Lint bool
	// BenchCount runs of the guard benchmarks (0: none), BenchTime each.
	BenchCount int
	BenchTime  string
	// Tolerance of the comparison (zero: testfacts.DefaultTolerance).
	Tolerance testfacts.Tolerance
	// Baseline names the baseline this release compares with and, when
	// promoted, replaces; "" derives it from Packages. A replay keeps its
	// own so that it never moves the baseline of real releases.
	Baseline string
}

// gitTimeout bounds each git call of the test stages.
const gitTimeout = 10 * time.Second

// testStages runs stage 2 (the tests, collecting their facts) and the
// test-health gate. An error blocks the release.
func (p *Pipeline) testStages(ctx context.Context, opt Options, res *Result, stage stageFunc, skip func(int, string, string)) error {
	if opt.SkipTests {
		skip(2, pm.StageTest, "--skip-tests")
		p.say("    tests: skipped (--skip-tests)")
		skip(3, pm.StageTestHealth, "no test facts without the test stage")
		return nil
	}
	if len(opt.TestCommand) > 0 {
		// A command of the caller's own: results only, no facts.
		if err := stage(2, pm.StageTest, strings.Join(opt.TestCommand, " "), func() (string, error) {
			return p.runTests(ctx, opt.Version, opt.TestCommand)
		}); err != nil {
			return err
		}
		skip(3, pm.StageTestHealth, "a custom test command gives no test facts")
		return nil
	}
	pkgs := opt.TestHealth.Packages
	if len(pkgs) == 0 {
		pkgs = []string{"./..."}
	}
	what := "go test -json -cover -count=1 " + strings.Join(pkgs, " ") + ", and collect the test facts"
	if err := stage(2, pm.StageTest, what, func() (string, error) {
		return p.testStage(ctx, opt, pkgs, res)
	}); err != nil {
		return err
	}
	return stage(3, pm.StageTestHealth, "compare the test facts with the last promoted build's", func() (string, error) {
		return p.testHealth(ctx, opt, res)
	})
}

// testStage runs the tests once with -json -cover and collects the facts
// from that run; they are saved beside the release's binaries and pushed
// with the stage's metrics.
func (p *Pipeline) testStage(ctx context.Context, opt Options, pkgs []string, res *Result) (string, error) {
	root := p.Stack.RepoRoot
	f := &testfacts.Facts{Version: opt.Version, Revision: opt.Revision, Collected: time.Now().UTC()}
	f.CommitTime = commitTime(ctx, root, opt.Revision)
	for _, s := range res.Stages {
		if s.Name == pm.StageBuild {
			f.BuildSeconds = s.Duration.Seconds()
		}
	}
	dir := p.Stack.ReleaseDir(opt.Version)
	for _, b := range []string{"shortener", "gate"} {
		if st, err := os.Stat(filepath.Join(dir, b)); err == nil {
			if f.BinaryBytes == nil {
				f.BinaryBytes = map[string]int64{}
			}
			f.BinaryBytes[b] = st.Size()
		}
	}
	h := opt.TestHealth
	cfg := testfacts.Config{
		Root: root, Packages: pkgs,
		Env:      []string{TestStageEnv + "=" + opt.Version},
		FuzzTime: h.FuzzTime, Lint: h.Lint, BenchCount: h.BenchCount, BenchTime: h.BenchTime,
		Log: p.Out,
	}
	out, err := testfacts.Collect(ctx, cfg, f)
	f.Collected = time.Now().UTC()
	res.TestFacts = f
	path := filepath.Join(dir, "testfacts.json")
	if serr := f.Save(path); serr != nil {
		p.say("    warning: %v", serr)
	} else if p.rep != nil {
		p.rep.setTestFacts(f, path)
	}
	if err != nil {
		fmt.Fprintf(p.Err, "%s\n", tail(out.Text, 4000))
		return "", err
	}
	t := f.Totals()
	return fmt.Sprintf("%d packages, %d tests (%d skipped), %d assertions in %d test functions (%d without any); facts in %s",
		t.Packages, t.Tests, t.Skipped, t.Assertions, t.Functions, t.WithoutAssertions, path), nil
}

// BaselinePath is where the facts of the last promoted build with the same
// test scope (or baseline name) are kept.
func (p *Pipeline) BaselinePath(opt TestHealthOptions, f *testfacts.Facts) string {
	name := opt.Baseline
	if name == "" {
		name = f.ScopeKey()
	}
	return filepath.Join(p.Stack.StateDir, "testfacts", "promoted-"+testfacts.ScopeKey([]string{name})+".json")
}

// testHealth compares this build's facts with the last promoted build's and
// blocks when a test got weaker, unless the commits since name it in an
// override trailer.
func (p *Pipeline) testHealth(ctx context.Context, opt Options, res *Result) (string, error) {
	cur := res.TestFacts
	if cur == nil {
		return "", errors.New("no test facts from the test stage")
	}
	base, err := testfacts.Load(p.BaselinePath(opt.TestHealth, cur))
	if errors.Is(err, testfacts.ErrNoFacts) {
		return fmt.Sprintf("no promoted build with test facts for %s yet: nothing to compare (this build's facts become the baseline when it is promoted)", strings.Join(cur.Scope, " ")), nil
	}
	if err != nil {
		return "", err // an unreadable baseline blocks: the check must not pass by accident
	}
	tol := opt.TestHealth.Tolerance
	if tol == (testfacts.Tolerance{}) {
		tol = testfacts.DefaultTolerance
	}
	findings := testfacts.Compare(base, cur, tol)
	overrides, bad := testfacts.ParseOverrides(commitMessages(ctx, p.Stack.RepoRoot, base.Revision, cur.Revision))
	n := testfacts.Apply(findings, overrides)
	res.TestHealth = findings
	if p.rep != nil {
		p.rep.setTestHealth(cur, findings)
	}
	for _, b := range bad {
		p.say("    ignored %s trailer %s", testfacts.OverrideTrailer, b)
	}
	for _, f := range findings {
		if f.Override != "" {
			p.say("    overridden  %s (%s: %s)", f, testfacts.OverrideTrailer, f.Override)
		} else {
			p.say("    BLOCKS      %s", f)
		}
	}
	blocking := testfacts.Blocking(findings)
	if len(blocking) == 0 {
		return fmt.Sprintf("no test weaker than in %s (%.12s)%s", base.Version, base.Revision, overriddenNote(n)), nil
	}
	first := blocking[0]
	more := ""
	if len(blocking) > 1 {
		more = fmt.Sprintf(" (and %d more)", len(blocking)-1)
	}
	target := first.Test
	if target == "" {
		target = first.Package
	}
	return "", fmt.Errorf("tests weaker than in %s, the last promoted build: %s%s; if deliberate, say so in the commit message: %s: %s: <why>",
		base.Version, first, more, testfacts.OverrideTrailer, target)
}

func overriddenNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; %d finding(s) overridden by %s", n, testfacts.OverrideTrailer)
}

// promoted keeps the promoted build's test facts as the baseline of its
// scope and computes the lead time of the change.
func (p *Pipeline) promoted(ctx context.Context, opt Options, res *Result) {
	if f := res.TestFacts; f != nil {
		if err := f.Save(p.BaselinePath(opt.TestHealth, f)); err != nil {
			p.say("    warning: test facts not kept as the baseline: %v", err)
		}
	}
	ct := commitTime(ctx, p.Stack.RepoRoot, opt.Revision)
	if ct.IsZero() {
		return
	}
	res.LeadTime = time.Since(ct)
	if p.rep != nil {
		p.rep.setLeadTime(opt.Version, opt.Revision, res.LeadTime)
	}
	p.say("    lead time for changes: %s from commit %.12s to promotion", res.LeadTime.Round(time.Second), opt.Revision)
}

// commitTime is the committer time of rev, zero when git cannot say.
func commitTime(ctx context.Context, root, rev string) time.Time {
	out, err := git(ctx, root, "show", "-s", "--format=%ct", rev)
	if err != nil {
		return time.Time{}
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

// commitMessages returns the messages of the commits after base up to
// rev, or rev's alone when base is unknown here (a shallow clone, a
// rewritten history).
func commitMessages(ctx context.Context, root, base, rev string) string {
	if base != "" && base != rev {
		if out, err := git(ctx, root, "log", "--format=%B", base+".."+rev); err == nil {
			return out
		}
	}
	out, _ := git(ctx, root, "log", "-1", "--format=%B", rev)
	return out
}

func git(ctx context.Context, root string, args ...string) (string, error) {
	if strings.HasPrefix(args[len(args)-1], "-") {
		return "", fmt.Errorf("git %s: bad revision", strings.Join(args, " "))
	}
	ctx, cancel := context.WithTimeout(ctx, gitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = root
	out, err := cmd.Output()
	return string(out), err
}
