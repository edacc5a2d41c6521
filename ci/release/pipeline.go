// Package release is the release path: build, test, smoke test, preflight,
// canary behind HAProxy, the gate's analysis, then promote or roll back.
// Every stage reports its duration and result to the Pushgateway.
package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	pm "github.com/obsshort/shortener/ci/release/metricnames"
	"github.com/obsshort/shortener/ci/stack"
	"github.com/obsshort/shortener/ci/testfacts"
)

// Exit codes of a release run.
const (
	ExitPromoted   = 0
	ExitRolledBack = 1
	ExitBlocked    = 2 // stopped before any user saw the new version
	ExitError      = 3 // the pipeline itself failed
)

// Options of one release run.
type Options struct {
	Version  string
	Revision string
	// FaultErrorRate is passed to the canary (game days, the incident replay).
	FaultErrorRate float64
	// Steps are the canary's traffic shares in percent, analysed one after
	// the other; the default is a single step of 10%.
	Steps []int
	// SkipTests skips stage 2: the deploy workflow's test job has just run
	// the tests, and the end-to-end test runs the pipeline from inside
	// `go test` (a test stage run for real is kept from recursing by
	// TestStageEnv).
	SkipTests bool
	// TestCommand replaces stage 2's go test with a command of the
	// caller's own, run in the repository root; it yields no test facts,
	// so the test-health gate is skipped. Empty: go test -json -cover of
	// TestHealth.Packages, with the facts collected from that run.
	TestCommand []string
	// TestHealth configures the test facts and the test-health gate
	// (testhealth.go).
	TestHealth TestHealthOptions

	// Gate settings; GateBinary defaults to the gate built with the release.
	GateBinary      string
	GateConfig      string
	GateInterval    time.Duration
	GateWarmup      time.Duration
	GateMaxDuration time.Duration
	// Plan runs `gate plan` before the canary starts and analyses at the
	// share and for the duration it recommends (instead of Steps and
	// GateMaxDuration); PlanMaxDuration bounds it, PlanShares (percent,
	// ascending) are the shares it may pick from.
	Plan            bool
	PlanMaxDuration time.Duration
	PlanShares      []int
}

// Stage is the result of one step of the run.
type Stage struct {
	Name     string
	Result   string // success, failure, skipped
	Duration time.Duration
	Detail   string
}

// Result of a run.
type Result struct {
	Version  string
	Outcome  string // pm.OutcomePromoted, pm.OutcomeRolledBack, pm.OutcomeFailed
	ExitCode int
	Stages   []Stage
	// CanaryTraffic is when the canary first got a traffic share; CanaryOut
	// when its weight went back to 0 (rollback) or it became the only
	// server (promotion); Done when the old process was stopped.
	CanaryTraffic, CanaryOut, Done time.Time
	Gate                           GateResult
	Err                            error
	// TestFacts are what the test stage collected (nil when it did not
	// run); TestHealth the test-health gate's findings; LeadTime the
	// time from the commit to its promotion.
	TestFacts  *testfacts.Facts
	TestHealth []testfacts.Finding
	LeadTime   time.Duration
}

// Pipeline runs releases against a local stack.
type Pipeline struct {
	Stack stack.Config
	Out   io.Writer // step lines and the summary
	Err   io.Writer // output of the tools (go test, gate) on failure

	gateGrace time.Duration // tests: instead of gateGrace
	rep       *reporter     // this run's, for the test stages' facts
}

type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func blocked(err error) error                   { return &exitError{ExitBlocked, err} }
func pipeErr(err error) error                   { return &exitError{ExitError, err} }
func (p *Pipeline) say(format string, a ...any) { fmt.Fprintf(p.Out, format+"\n", a...) }

// Run releases opt.Version. The returned Result is complete even on error;
// Result.ExitCode says what happened.
func (p *Pipeline) Run(ctx context.Context, opt Options) Result {
	res := Result{Version: opt.Version}
	if err := p.defaults(&opt); err != nil {
		res.Outcome, res.ExitCode, res.Err = pm.OutcomeFailed, ExitError, err
		p.summary(res)
		return res
	}
	rep, err := newReporter(p.Stack.PushgatewayURL(), p.Stack.StateDir)
	if err != nil {
		res.Outcome, res.ExitCode, res.Err = pm.OutcomeFailed, ExitError, err
		p.summary(res)
		return res
	}
	p.rep = rep
	start := time.Now()
	p.say("release %s (revision %.12s) on the stack in %s", opt.Version, opt.Revision, p.Stack.StateDir)
	stage := func(n int, name, what string, f func() (string, error)) error {
		p.say("==> [%d/9] %s: %s", n, name, what)
		t0 := time.Now()
		detail, err := f()
		st := Stage{Name: name, Result: pm.ResultSuccess, Duration: time.Since(t0), Detail: detail}
		if err != nil {
			st.Result = pm.ResultFailure
			if st.Detail == "" {
				st.Detail = firstLine(err.Error())
			}
		}
		res.Stages = append(res.Stages, st)
		if err != nil {
			p.say("    FAIL (%s): %v", st.Duration.Round(time.Millisecond), err)
		} else {
			p.say("    ok (%s) %s", st.Duration.Round(time.Millisecond), detail)
		}
		if perr := rep.stage(ctx, name, st.Result, st.Duration); perr != nil {
			p.say("    warning: metrics not pushed: %v", perr)
		}
		return err
	}
	skip := func(n int, name, why string) {
		p.say("==> [%d/9] %s: skipped (%s)", n, name, why)
		res.Stages = append(res.Stages, Stage{Name: name, Result: "skipped", Detail: why})
	}

	err = p.run(ctx, opt, &res, stage, skip)
	end := time.Now()
	var ee *exitError
	switch {
	case err == nil && res.Outcome == "":
		res.Outcome, res.ExitCode = pm.OutcomePromoted, ExitPromoted
	case err == nil:
		// Outcome set by the run (rolled back).
	case errors.As(err, &ee):
		res.Err, res.ExitCode = err, ee.code
	default:
		res.Err, res.ExitCode = err, ExitError
	}
	if res.Outcome == "" {
		res.Outcome = pm.OutcomeFailed
	}
	var exposed time.Duration
	if res.Outcome == pm.OutcomeRolledBack && !res.CanaryTraffic.IsZero() {
		exposed = res.Done.Sub(res.CanaryTraffic)
	}
	if perr := rep.run(ctx, opt.Version, opt.Revision, res.Outcome, end, exposed); perr != nil {
		p.say("warning: run metrics not pushed: %v", perr)
	}
	p.say("")
	p.summaryTook(res, end.Sub(start))
	return res
}

func (p *Pipeline) defaults(opt *Options) error {
	if opt.Version == "" {
		return errors.New("a version is required")
	}
	if len(opt.Steps) == 0 {
		opt.Steps = []int{10}
	}
	for _, s := range opt.Steps {
		if s <= 0 || s > 100 {
			return fmt.Errorf("canary step %d%%: must be within 1..100", s)
		}
	}
	if opt.FaultErrorRate < 0 || opt.FaultErrorRate > 1 {
		return fmt.Errorf("fault error rate %v: must be within 0..1", opt.FaultErrorRate)
	}
	if opt.GateConfig == "" {
		opt.GateConfig = filepath.Join(p.Stack.RepoRoot, "ci", "canary.yaml")
	}
	if opt.GateBinary == "" {
		opt.GateBinary = filepath.Join(p.Stack.ReleaseDir(opt.Version), "gate")
	}
	if opt.GateInterval == 0 {
		opt.GateInterval = 2 * time.Second
	}
	if opt.GateWarmup == 0 {
		opt.GateWarmup = 5 * time.Second
	}
	if opt.GateMaxDuration == 0 {
		opt.GateMaxDuration = time.Minute
	}
	if opt.PlanMaxDuration == 0 {
		opt.PlanMaxDuration = 15 * time.Minute
	}
	if len(opt.PlanShares) == 0 {
		opt.PlanShares = []int{10, 20, 30, 50}
	}
	for i, s := range opt.PlanShares {
		if s <= 0 || s >= 100 || (i > 0 && s <= opt.PlanShares[i-1]) {
			return fmt.Errorf("plan shares %v: must be ascending within 1..99", opt.PlanShares)
		}
	}
	return nil
}

type stageFunc func(n int, name, what string, f func() (string, error)) error

func (p *Pipeline) run(ctx context.Context, opt Options, res *Result, stage stageFunc, skip func(int, string, string)) error {
	c := p.Stack
	dep, err := c.LoadDeployment()
	if err != nil {
		return pipeErr(err)
	}
	if dep.Stable == nil {
		return pipeErr(errors.New("no stable deployment: run `release stack up` first"))
	}
	if _, ok := c.InstancePID(*dep.Stable); !ok {
		return pipeErr(fmt.Errorf("stable %s is not running: run `release stack up`", dep.Stable.Version))
	}
	if dep.Canary != nil {
		return pipeErr(fmt.Errorf("canary %s is still deployed: another release is running", dep.Canary.Version))
	}
	if dep.Stable.Version == opt.Version {
		return blocked(fmt.Errorf("version %s is already stable", opt.Version))
	}

	var bin string
	if err := stage(1, pm.StageBuild, "go build the shortener and the gate, stamped "+opt.Version, func() (string, error) {
		var err error
		bin, err = stack.BuildRelease(ctx, c.RepoRoot, c.ReleaseDir(opt.Version), opt.Version, opt.Revision)
		return bin, err
	}); err != nil {
		return blocked(err)
	}

	if err := p.testStages(ctx, opt, res, stage, skip); err != nil {
		return blocked(err)
	}

	if err := stage(4, pm.StageSmoke, "run the binary alone: ready, create, follow, SIGTERM", func() (string, error) {
		return Smoke(ctx, bin)
	}); err != nil {
		return blocked(err)
	}

	if err := stage(5, pm.StagePreflight, "gate preflight: no release into an ongoing incident", func() (string, error) {
		return p.preflight(ctx, opt)
	}); err != nil {
		return blocked(err)
	}

	if opt.Plan {
		if err := stage(6, pm.StagePlan, "gate plan: the canary share and analysis duration today's traffic needs", func() (string, error) {
			pl, err := p.plan(ctx, opt)
			if err != nil {
				return "", err
			}
			opt.Steps = []int{pl.SharePercent}
			opt.GateMaxDuration = pl.Duration
			return pl.Summary, nil
		}); err != nil {
			return blocked(err)
		}
	} else {
		skip(6, pm.StagePlan, fmt.Sprintf("no plan: fixed share %v%% and analysis %s", opt.Steps, opt.GateMaxDuration))
	}

	canary, err := c.NewInstance(stack.TrackCanary, opt.Version, c.OtherSlot(dep.Stable.Slot).Name, bin)
	if err != nil {
		return pipeErr(err)
	}
	canary.FaultErrorRate = opt.FaultErrorRate
	ha := stack.HAProxy{Socket: c.Socket()}
	if err := stage(7, pm.StageCanary, fmt.Sprintf("start %s as track=canary on slot %s, then %d%% of traffic", opt.Version, canary.Slot, opt.Steps[0]), func() (string, error) {
		return p.startCanary(ctx, ha, &dep, canary, opt.Steps[0], res)
	}); err != nil {
		if res.CanaryTraffic.IsZero() {
			// Users never saw it: clean up and report a blocked release.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			if _, rerr := p.rollback(cctx, ha, &dep, res); rerr != nil {
				p.say("    cleanup of the canary: %v", rerr)
			}
			return blocked(err)
		}
		return p.rollbackAfter(ctx, ha, &dep, res, stage, err)
	}

	for i, step := range opt.Steps {
		if i > 0 {
			p.say("    canary share -> %d%%", step)
			if err := setShare(ctx, ha, step); err != nil {
				return p.rollbackAfter(ctx, ha, &dep, res, stage, err)
			}
		}
		var g GateResult
		gerr := stage(8, pm.StageGate, fmt.Sprintf("gate analyze: canary %s at %d%% against stable %s", opt.Version, step, dep.Stable.Version), func() (string, error) {
			g = p.analyze(ctx, opt, step)
			res.Gate = g
			if g.Verdict != VerdictPass {
				return g.Summary, fmt.Errorf("gate verdict %s: %s", g.Verdict, g.Summary)
			}
			return g.Summary, nil
		})
		if gerr != nil {
			return p.rollbackAfter(ctx, ha, &dep, res, stage, gerr)
		}
	}

	if err := stage(9, pm.StagePromote, fmt.Sprintf("canary %s takes 100%%, stable %s drains and stops, %s becomes stable", opt.Version, dep.Stable.Version, opt.Version), func() (string, error) {
		return p.promote(ctx, ha, &dep, res)
	}); err != nil {
		return pipeErr(err)
	}
	p.promoted(ctx, opt, res)
	res.Outcome = pm.OutcomePromoted
	return nil
}

// rollbackAfter runs stage 7 as a rollback and records the outcome. The
// cause (gate verdict or failure) is kept in the summary.
func (p *Pipeline) rollbackAfter(ctx context.Context, ha stack.HAProxy, dep *stack.Deployment, res *Result, stage stageFunc, cause error) error {
	// An interrupted run (Ctrl-C, a cancelled CI job) must still take its
	// canary out: the rollback does not inherit the cancellation.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	version := dep.Canary.Version
	err := stage(9, pm.StageRollback, fmt.Sprintf("canary %s weight 0, drain, stop, deregister; stable %s untouched", version, dep.Stable.Version), func() (string, error) {
		return p.rollback(ctx, ha, dep, res)
	})
	if err != nil {
		return pipeErr(fmt.Errorf("rollback after %v: %w", cause, err))
	}
	res.Outcome, res.ExitCode = pm.OutcomeRolledBack, ExitRolledBack
	return nil
}

// TestStageEnv is set, to the version being released, in the environment
// of stage 2's tests. The end-to-end test of this pipeline (TestReplayIncident
// in ci/cmd/release) checks it first and skips, even under CI: the tests of a
// release must not start another release (and that one's tests another, for
// ever); the run that set it is itself the pipeline being exercised.
const TestStageEnv = "RELEASE_PIPELINE_TEST_STAGE"

func (p *Pipeline) runTests(ctx context.Context, version string, command []string) (string, error) {
	cmd := exec.CommandContext(ctx, command[0], command[1:]...)
	cmd.Dir = p.Stack.RepoRoot
	cmd.Env = append(os.Environ(), TestStageEnv+"="+version)
	out, err := cmd.CombinedOutput()
	if err != nil {
		fmt.Fprintf(p.Err, "%s\n", tail(string(out), 4000))
		return "", fmt.Errorf("%s: %w", strings.Join(command, " "), err)
	}
	pkgs := strings.Count(string(out), "\nok ") + btoi(strings.HasPrefix(string(out), "ok "))
	return fmt.Sprintf("%d packages ok", pkgs), nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Abort rolls back a canary left deployed by an interrupted or failed run
// (the deploy workflow's last resort). Without a canary it does nothing.
func (p *Pipeline) Abort(ctx context.Context) (bool, error) {
	dep, err := p.Stack.LoadDeployment()
	if err != nil {
		return false, err
	}
	if dep.Canary == nil {
		p.say("no canary deployed: nothing to roll back")
		return false, nil
	}
	p.say("rolling back canary %s: weight 0, drain, stop, deregister", dep.Canary.Version)
	var res Result
	t0 := time.Now()
	detail, err := p.rollback(ctx, stack.HAProxy{Socket: p.Stack.Socket()}, &dep, &res)
	result := pm.ResultSuccess
	if err != nil {
		result = pm.ResultFailure
	}
	if rep, rerr := newReporter(p.Stack.PushgatewayURL(), p.Stack.StateDir); rerr == nil {
		if perr := rep.stage(ctx, pm.StageRollback, result, time.Since(t0)); perr != nil {
			p.say("warning: metrics not pushed: %v", perr)
		}
	}
	if err != nil {
		return true, err
	}
	p.say("%s; stable %s serves alone", detail, dep.Stable.Version)
	return true, nil
}
