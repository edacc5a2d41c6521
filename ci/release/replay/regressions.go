package replay

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/obsshort/shortener/ci/gate"
	"github.com/obsshort/shortener/ci/release"
	pm "github.com/obsshort/shortener/ci/release/metricnames"
	"github.com/obsshort/shortener/ci/stack"
	"github.com/obsshort/shortener/internal/loadgen"
)

// Regression is a release the gate must fail and the pipeline roll back,
// under the replay's load: a kind of failure subtler than 30% of errors.
type Regression struct {
	// Name says what is wrong ("2x errors"); it starts its check lines.
	Name string
	// Slug names the version: v2-<slug>-<time>.
	Slug string
	// Canary is what the canary does wrong (its fault injection).
	Canary stack.Fault
	// Stable, when set, is a fault stable runs with during this release
	// (a game day): a base error rate for the canary to be twice as bad
	// as. It is put on before the release and taken off after it, each
	// time blue-green (release.Pipeline.SetStableFault).
	Stable stack.Fault
	// Checks are the gate checks that see this kind of regression; the
	// verdict must name one of them ("latency:"), so it was failed for
	// what it is, not by chance.
	Checks []string
	// UnderSLO: the canary's requests must also have stayed within the
	// SLO's latency threshold (a slowdown no latency alert would see).
	UnderSLO bool
}

// errorChecks are the gate checks that count 5xx.
var errorChecks = []string{"errors:", "routes:", "load-balancer:", "error-guardrail:"}

// Regressions are the replay's standard regressions, each skipped when its
// parameter is zero:
//   - one route: the canary answers 500 to every request of route (a route
//     with little traffic, e.g. /{code}/qr), and nothing else is wrong;
//   - latency only: the canary delays every request by latency, well under
//     the SLO threshold, and answers correctly;
//   - 2x errors: stable runs with baseErrorRate of 500s on redirects
//     (/{code}, which HAProxy retries, so users do not see them) and the
//     canary with twice as many.
func Regressions(route string, latency time.Duration, baseErrorRate float64) []Regression {
	var out []Regression
	if route != "" {
		out = append(out, Regression{
			Name: "one route", Slug: "route",
			Canary: stack.Fault{ErrorRate: 1, Routes: []string{route}},
			Checks: errorChecks,
		})
	}
	if latency > 0 {
		out = append(out, Regression{
			Name: "latency only", Slug: "slow",
			Canary:   stack.Fault{Latency: stack.Duration(latency)},
			Checks:   []string{"latency:"},
			UnderSLO: true,
		})
	}
	if baseErrorRate > 0 {
		redirects := []string{"/{code}"}
		out = append(out, Regression{
			Name: "2x errors", Slug: "2x",
			Stable: stack.Fault{ErrorRate: baseErrorRate, Routes: redirects},
			Canary: stack.Fault{ErrorRate: 2 * baseErrorRate, Routes: redirects},
			Checks: errorChecks,
		})
	}
	return out
}

// scene is what a scenario of the replay works with.
type scene struct {
	cfg        stack.Config
	p          *release.Pipeline
	gen        *loadgen.Generator
	say        func(string, ...any)
	check      func(name string, pass bool, format string, a ...any)
	oldVersion string
}

// regression releases r's canary at a fixed share for at most maxDuration
// (no plan: each regression must end quickly) and checks that the gate
// failed it for what it is and that it was rolled back, never promoted.
func (s scene) regression(ctx context.Context, r Regression, opt release.Options, share int, maxDuration time.Duration) release.Result {
	opt.Fault, opt.Plan, opt.Steps, opt.GateMaxDuration = r.Canary, false, []int{share}, maxDuration
	before := s.gen.Counts()
	if r.Stable.Enabled() {
		s.say("  game day: stable %s is restarted (blue-green) with fault injection: %s", s.oldVersion, r.Stable)
		if err := s.p.SetStableFault(ctx, r.Stable); err != nil {
			s.check(r.Name+": stable runs with its base error rate", false, "%v", err)
			return release.Result{}
		}
	}
	res := s.p.Run(ctx, opt)
	if r.Stable.Enabled() {
		err := s.p.SetStableFault(ctx, stack.Fault{})
		s.check(r.Name+": stable back without fault injection", err == nil, "%s", errOr(err, "restarted blue-green without --fault-*"))
	}
	s.say("users during %s: %s", r.Name, s.gen.Counts().Sub(before))

	v, verr := servedVersion(ctx, s.cfg)
	named := false
	for _, c := range r.Checks {
		named = named || strings.Contains(res.Gate.Summary, c)
	}
	exposed := res.Done.Sub(res.CanaryTraffic)
	s.check(fmt.Sprintf("%s: the gate failed the canary (%s) and it was rolled back, never promoted", r.Name, r.Canary),
		res.Outcome == pm.OutcomeRolledBack && res.Gate.Verdict == release.VerdictFail && named && !res.CanaryTraffic.IsZero() &&
			verr == nil && v == s.oldVersion,
		"outcome %s, gate %s (must name %s), canary traffic to rollback done %s, stable serves %q %s: %s",
		res.Outcome, res.Gate.Verdict, strings.Join(r.Checks, " or "), exposed.Round(100*time.Millisecond), v, errOrEmpty(verr), firstLine(res.Gate.Summary))
	if r.UnderSLO {
		s.underSLO(ctx, r, opt)
	}
	return res
}

// underSLO checks that the slow canary still answered within the SLO's
// latency threshold (slo.latency_threshold of the gate config, a bucket
// boundary), at least as often as the SLO asks: the regression was one no
// latency alert would have seen.
func (s scene) underSLO(ctx context.Context, r Regression, opt release.Options) {
	path := opt.GateConfig
	if path == "" {
		path = filepath.Join(s.cfg.RepoRoot, "ci", "canary.yaml")
	}
	gc, err := gate.LoadConfig(path)
	if err != nil {
		s.check(r.Name+": the canary stayed within the SLO latency", false, "%v", err)
		return
	}
	le := strconv.FormatFloat(gc.SLO.LatencyThreshold, 'f', -1, 64)
	within := versionTotal(ctx, s.cfg, "http_server_request_duration_seconds_bucket", opt.Version, `le="`+le+`"`)
	all := versionTotal(ctx, s.cfg, "http_server_request_duration_seconds_count", opt.Version, "")
	want := 1 - gc.SLO.LatencyBudget
	s.check(fmt.Sprintf("%s: the canary answered within the SLO's %ss on at least %.3g%% of requests", r.Name, le, want*100),
		all > 0 && within/all >= want,
		"%.0f of %.0f canary requests (%.2f%%)", within, all, 100*ratioF(within, all))
}

// versionTotal is the total of a counter of the app over every series of
// one version (with more label matchers), from Prometheus: a version name
// is used once, so each series' maximum is its total. -1 when unknown.
func versionTotal(ctx context.Context, cfg stack.Config, metric, version, matchers string) float64 {
	if matchers != "" {
		matchers = "," + matchers
	}
	q := fmt.Sprintf(`sum(max_over_time(%s{job="shortener",version=%q%s}[15m]))`, metric, version, matchers)
	s, err := cfg.Query(ctx, q)
	if err != nil || len(s) == 0 {
		return -1
	}
	return s[0].Value
}

func ratioF(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

func errOr(err error, ok string) string {
	if err != nil {
		return err.Error()
	}
	return ok
}
