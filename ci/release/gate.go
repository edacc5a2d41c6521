package release

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"time"
)

// Gate verdicts, from `gate analyze`'s exit code.
const (
	VerdictPass         = "pass"
	VerdictFail         = "fail"
	VerdictInconclusive = "inconclusive"
	VerdictError        = "error"
)

// GateResult is what `gate analyze` decided.
type GateResult struct {
	Verdict  string
	ExitCode int
	Summary  string
	Duration time.Duration
	JSON     map[string]any // the gate's --output json report, when it printed one
}

// Deadlines of the gate's runs. The gate bounds its own analysis
// (--max-duration) and its calls out; these are the pipeline's backstop for
// a gate that hangs anyway: it is killed, and a killed gate is an error,
// which never promotes.
const (
	preflightTimeout = time.Minute
	// planTimeout bounds `gate plan` (it simulates analyses; a few
	// seconds on busy traffic, longer on a trickle).
	planTimeout = 3 * time.Minute
	// gateGrace is how long past warmup plus analysis window `gate analyze`
	// may take to report.
	gateGrace = time.Minute
)

// gateCmd runs the gate binary; stdout is returned, stderr goes to p.Err.
func (p *Pipeline) gateCmd(ctx context.Context, bin string, args ...string) ([]byte, int, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = p.Stack.RepoRoot
	// Once the gate is killed, a child of it still holding stdout must not
	// keep Wait waiting.
	cmd.WaitDelay = 5 * time.Second
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, p.Err
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.Bytes(), 0, nil
	case errors.As(err, &ee):
		return stdout.Bytes(), ee.ExitCode(), nil
	default:
		return stdout.Bytes(), -1, fmt.Errorf("run %s: %w", bin, err)
	}
}

// stableBudgetQuery is the gate's default 30-day budget query, restricted
// to the stable track.
const stableBudgetQuery = `(sum(increase(http_server_request_duration_seconds_count{http_response_status_code=~"5..",job="shortener",track="stable"}[30d]))` +
	` / sum(increase(http_server_request_duration_seconds_count{job="shortener",track="stable"}[30d]))) / {{.ErrorBudget}}`

func (p *Pipeline) preflight(ctx context.Context, opt Options) (string, error) {
	// Firing alerts of the service block, except those of the canary
	// track: the pipeline runs only when no canary is deployed, so such an
	// alert is what a rolled-back canary left behind (a burn rate over 5
	// minutes outlives the canary by that long). The error budget is read
	// from the stable track only for the same reason: a canary that was
	// rolled back is not production, and its errors must not freeze the
	// fix that follows it.
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	out, code, err := p.gateCmd(ctx, opt.GateBinary, "preflight",
		"--prometheus", p.Stack.PrometheusURL(), "--config", opt.GateConfig,
		"--selector", PreflightSelector,
		"--budget-query", stableBudgetQuery)
	if err != nil {
		return "", err
	}
	text := strings.TrimSpace(string(out))
	line := firstLine(text)
	if code != 0 {
		// Say why: the lines after the verdict name the alerts or the budget.
		var why []string
		for _, l := range strings.Split(text, "\n") {
			if r, ok := strings.CutPrefix(strings.TrimSpace(l), "blocked: "); ok {
				why = append(why, r)
			}
		}
		if len(why) > 0 {
			line += ": " + strings.Join(why, "; ")
		}
		return line, fmt.Errorf("gate preflight exit %d: %s", code, line)
	}
	return line, nil
}

// PreflightSelector picks the service's alerts that may block a release:
// all but the canary track's (series without a track label match too).
const PreflightSelector = `job="shortener", track!="canary"`

// PlanResult is what `gate plan` recommended.
type PlanResult struct {
	SharePercent int
	Duration     time.Duration
	Feasible     bool
	Summary      string
}

// plan asks `gate plan` for the canary share and analysis duration that
// give 90% power on today's stable traffic. A plan that says the traffic
// cannot suffice is used anyway (its largest share and its bound): the
// analysis then most likely ends inconclusive and the release is rolled
// back, which is the honest outcome; the summary says so up front.
func (p *Pipeline) plan(ctx context.Context, opt Options) (PlanResult, error) {
	ctx, cancel := context.WithTimeout(ctx, planTimeout)
	defer cancel()
	shares := make([]string, len(opt.PlanShares))
	for i, s := range opt.PlanShares {
		shares[i] = fmt.Sprint(float64(s) / 100)
	}
	out, code, err := p.gateCmd(ctx, opt.GateBinary, "plan",
		"--prometheus", p.Stack.PrometheusURL(), "--config", opt.GateConfig,
		"--baseline", `track="stable"`, "--lookback", "5m",
		"--max-duration", opt.PlanMaxDuration.String(), "--shares", strings.Join(shares, ","),
		"--output", "json")
	if err != nil {
		return PlanResult{}, err
	}
	if code != 0 && code != 2 {
		return PlanResult{}, fmt.Errorf("gate plan exit %d: %s", code, firstLine(strings.TrimSpace(string(out))))
	}
	var raw struct {
		Share       float64 `json:"share"`
		DurationSec float64 `json:"duration_seconds"`
		Feasible    bool    `json:"feasible"`
		Summary     string  `json:"summary"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &raw); err != nil || raw.Share <= 0 || raw.DurationSec <= 0 {
		return PlanResult{}, fmt.Errorf("gate plan (exit %d) gave no usable plan: %s", code, firstLine(strings.TrimSpace(string(out))))
	}
	return PlanResult{
		SharePercent: int(math.Round(raw.Share * 100)),
		Duration:     time.Duration(raw.DurationSec * float64(time.Second)),
		Feasible:     raw.Feasible,
		Summary:      raw.Summary,
	}, nil
}

func (p *Pipeline) analyze(ctx context.Context, opt Options, pct int) GateResult {
	t0 := time.Now()
	limit := opt.GateWarmup + opt.GateMaxDuration + p.grace()
	gctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	out, code, err := p.gateCmd(gctx, opt.GateBinary, "analyze",
		"--prometheus", p.Stack.PrometheusURL(),
		"--config", opt.GateConfig,
		"--canary", fmt.Sprintf(`track="canary",version=%q`, opt.Version),
		"--baseline", `track="stable"`,
		"--interval", opt.GateInterval.String(),
		"--warmup", opt.GateWarmup.String(),
		"--max-duration", opt.GateMaxDuration.String(),
		// HAProxy's weights promise this split; the gate checks the
		// observed one against it, so a routing mistake is not analysed.
		"--canary-share", fmt.Sprint(float64(pct)/100),
		"--pushgateway", p.Stack.PushgatewayURL(),
		"--output", "json",
		"--html", p.Stack.ReleaseDir(opt.Version)+fmt.Sprintf("/gate-report-%d.html", pct),
	)
	g := GateResult{ExitCode: code, Duration: time.Since(t0)}
	switch {
	case ctx.Err() != nil:
		g.Verdict, g.Summary = VerdictError, fmt.Sprintf("interrupted after %s: %v", g.Duration.Round(100*time.Millisecond), ctx.Err())
		return g
	case gctx.Err() != nil:
		g.Verdict, g.Summary = VerdictError, fmt.Sprintf("no verdict within %s (warmup, analysis window and %s grace): gate killed", limit.Round(time.Second), p.grace())
		return g
	case err != nil:
		g.Verdict, g.Summary = VerdictError, err.Error()
		return g
	case code == 0:
		g.Verdict = VerdictPass
	case code == 1:
		g.Verdict = VerdictFail
	case code == 2:
		g.Verdict = VerdictInconclusive
	default:
		g.Verdict = VerdictError
	}
	var report map[string]any
	if json.Unmarshal(bytes.TrimSpace(out), &report) == nil {
		g.JSON = report
	}
	g.Summary = fmt.Sprintf("%s after %s", g.Verdict, g.Duration.Round(100*time.Millisecond))
	if r := reason(report); r != "" {
		g.Summary += ": " + r
	} else if g.Verdict == VerdictError {
		g.Summary += fmt.Sprintf(" (exit %d) %s", code, firstLine(strings.TrimSpace(string(out))))
	}
	return g
}

func (p *Pipeline) grace() time.Duration {
	if p.gateGrace > 0 {
		return p.gateGrace
	}
	return gateGrace
}

// reason picks the gate's one-line explanation out of its JSON report.
func reason(report map[string]any) string {
	for _, k := range []string{"reason", "summary", "message"} {
		if s, ok := report[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}
