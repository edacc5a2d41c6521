package gate

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/obsshort/shortener/internal/promclient"
)

// analyzeFlags are the flags of `gate analyze` beyond the common ones.
type analyzeFlags struct {
	commonFlags
	canary, baseline, output, pushgateway, html string
	warmup, interval, maxDuration               time.Duration
	alpha, canaryShare                          float64
	minRequests                                 int64
	dryRun                                      bool
}

func runAnalyze(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("gate analyze", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f analyzeFlags
	f.register(fs)
	fs.StringVar(&f.canary, "canary", "", `label matchers of the canary (default track="canary")`)
	fs.StringVar(&f.baseline, "baseline", "", `label matchers of the baseline (default track="stable")`)
	fs.DurationVar(&f.warmup, "warmup", 0, "wait this long before the analysis starts")
	fs.DurationVar(&f.interval, "interval", 0, "poll interval (default 5s)")
	fs.DurationVar(&f.maxDuration, "max-duration", 0, "maximum analysis duration (default 10m)")
	fs.Float64Var(&f.alpha, "alpha", 0, "significance of the whole analysis, split across checks (default 0.05)")
	fs.Float64Var(&f.canaryShare, "canary-share", 0, "expected canary traffic share (default: observed only)")
	fs.Int64Var(&f.minRequests, "min-requests", 0, "requests needed on each arm for a pass (default 100)")
	fs.StringVar(&f.output, "output", "", "text or json")
	fs.BoolVar(&f.dryRun, "dry-run", false, "report the decision but always exit 0")
	fs.StringVar(&f.pushgateway, "pushgateway", "", "Pushgateway URL to push the decision, evidence and counts to")
	fs.StringVar(&f.html, "html", "", "also write a self-contained HTML report (charts of canary against baseline) to this file")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	if fs.NArg() > 0 {
		return usageErr(stderr, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	cfg, err := f.load(fs)
	if err != nil {
		return usageErr(stderr, err)
	}
	warnPasswordInArgv(stderr, "--prometheus", f.prometheus)
	warnPasswordInArgv(stderr, "--pushgateway", f.pushgateway)
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	a := &cfg.Analysis
	apply := []struct {
		name string
		fn   func()
	}{
		{"canary", func() { cfg.Selectors.Canary = f.canary }},
		{"baseline", func() { cfg.Selectors.Baseline = f.baseline }},
		{"warmup", func() { a.Warmup = Duration(f.warmup) }},
		{"interval", func() { a.Interval = Duration(f.interval) }},
		{"max-duration", func() { a.MaxDuration = Duration(f.maxDuration) }},
		{"alpha", func() { a.Alpha = f.alpha }},
		{"canary-share", func() { a.CanaryShare = f.canaryShare }},
		{"min-requests", func() { a.MinRequests = f.minRequests }},
		{"output", func() { cfg.Output = f.output }},
		{"pushgateway", func() { cfg.Pushgw.URL = f.pushgateway }},
	}
	for _, ap := range apply {
		if set[ap.name] {
			ap.fn()
		}
	}
	if err := cfg.Validate(); err != nil {
		return usageErr(stderr, err)
	}
	client, err := newPromClient(cfg.Prometheus, getenv)
	if err != nil {
		return usageErr(stderr, err)
	}
	var history []HistoryPoint
	v, err := analyze(ctx, cfg, client, stderr, func(v Verdict) { history = append(history, historyPoint(v)) })
	if err != nil {
		return usageErr(stderr, err)
	}
	rep := newReport(cfg, v, NewEngine(cfg).AlphaPerCheck(), f.dryRun)
	rep.History = history
	if f.html != "" {
		if err := rep.writeHTMLFile(f.html); err != nil {
			fmt.Fprintf(stderr, "gate: HTML report not written (the decision stands): %v\n", err)
		}
	}
	if err := rep.write(stdout, cfg.Output); err != nil {
		log.Error("write report", "err", err)
	}
	if path := getenv("GITHUB_STEP_SUMMARY"); path != "" {
		if err := rep.appendSummary(path); err != nil {
			log.Warn("append step summary", "path", path, "err", err)
		}
	}
	if cfg.Pushgw.URL != "" {
		if err := rep.push(ctx, cfg.Pushgw); err != nil {
			// The decision stands; a missing dashboard point is not a reason
			// to roll back.
			fmt.Fprintf(stderr, "gate: push to %s failed (the decision stands): %s\n",
				promclient.RedactURL(cfg.Pushgw.URL), promclient.RedactIn(err.Error(), cfg.Pushgw.URL))
		}
	}
	if f.dryRun {
		return ExitPass
	}
	return v.Outcome.ExitCode()
}

// Analyze polls Prometheus until the engine decides or the maximum
// duration runs out, writing one progress line per poll to progress. Its
// error is a configuration error (a query Prometheus refuses); trouble
// reaching Prometheus becomes an inconclusive verdict instead.
func Analyze(ctx context.Context, cfg Config, client *promclient.Client, progress io.Writer) (Verdict, error) {
	return analyze(ctx, cfg, client, progress, nil)
}

// analyze is Analyze with a callback for every evaluated poll.
func analyze(ctx context.Context, cfg Config, client *promclient.Client, progress io.Writer, each func(Verdict)) (Verdict, error) {
	engine := NewEngine(cfg)
	src := newPromSource(client, cfg)
	a := cfg.Analysis
	fmt.Fprintf(progress, "gate: analysing canary {%s} against baseline {%s} on %s: every %s for up to %s, alpha %g (%.4g per check)\n",
		src.q.canary.selector, src.q.baseline.selector, client.URL(), a.Interval.D(), a.MaxDuration.D(), a.Alpha, engine.AlphaPerCheck())
	if a.Warmup > 0 {
		fmt.Fprintf(progress, "gate: warming up for %s\n", a.Warmup.D())
		if !sleep(ctx, a.Warmup.D()) {
			return interrupted(ctx), nil
		}
	}

	// The first successful poll fixes where every counter stands at the
	// start; increases are counted from there.
	var start time.Time
	consecutive := 0
	var last Verdict
	for {
		now := time.Now()
		if start.IsZero() {
			_, err := src.poll(ctx, now)
			if err == nil {
				start = now
				consecutive = 0
				fmt.Fprintf(progress, "gate: start snapshot taken\n")
			} else if v, stop, cerr := onError(ctx, err, &consecutive, cfg, progress, 0); stop {
				return v, cerr
			}
		} else {
			elapsed := now.Sub(start)
			final := elapsed >= a.MaxDuration.D()
			obs, err := src.poll(ctx, now)
			if err != nil {
				if v, stop, cerr := onError(ctx, err, &consecutive, cfg, progress, elapsed); stop {
					v.Canary, v.Baseline, v.Checks, v.Share = last.Canary, last.Baseline, last.Checks, last.Share
					return v, cerr
				}
				if final {
					v := Verdict{Outcome: Inconclusive, Elapsed: elapsed, Reason: fmt.Sprintf("inconclusive: the last poll at the maximum duration failed: %v", err)}
					v.Canary, v.Baseline, v.Checks, v.Share = last.Canary, last.Baseline, last.Checks, last.Share
					return v, nil
				}
			} else {
				consecutive = 0
				obs.Elapsed, obs.Final = elapsed, final
				last = engine.Evaluate(obs)
				if each != nil {
					each(last)
				}
				fmt.Fprintln(progress, progressLine(last))
				if last.Outcome != Running {
					return last, nil
				}
			}
		}
		wait := a.Interval.D()
		if !start.IsZero() {
			if rest := a.MaxDuration.D() - time.Since(start); rest < wait {
				wait = max(rest, 0)
			}
		}
		if !sleep(ctx, wait) {
			v := interrupted(ctx)
			v.Canary, v.Baseline, v.Checks, v.Share = last.Canary, last.Baseline, last.Checks, last.Share
			return v, nil
		}
	}
}

// onError counts a failed poll; after the configured number in a row the
// analysis ends inconclusive, naming what could not be reached.
func onError(ctx context.Context, err error, consecutive *int, cfg Config, progress io.Writer, elapsed time.Duration) (Verdict, bool, error) {
	var fe *FieldError
	if errors.As(err, &fe) || errors.Is(err, errBadQuery) {
		return Verdict{}, true, err
	}
	if ctx.Err() != nil {
		return interrupted(ctx), true, nil
	}
	*consecutive++
	limit := cfg.Prometheus.MaxConsecutiveErrors
	fmt.Fprintf(progress, "gate: %5s  prometheus error %d of %d allowed in a row: %v\n", elapsed.Round(time.Second), *consecutive, limit, err)
	if *consecutive >= limit {
		return Verdict{
			Outcome: Inconclusive,
			Elapsed: elapsed,
			Reason:  fmt.Sprintf("inconclusive: could not query Prometheus at %s (%d failed polls in a row): %v", promclient.RedactURL(cfg.Prometheus.URL), *consecutive, err),
		}, true, nil
	}
	return Verdict{}, false, nil
}

func interrupted(ctx context.Context) Verdict {
	return Verdict{Outcome: Inconclusive, Reason: fmt.Sprintf("inconclusive: analysis interrupted (%v)", context.Cause(ctx))}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// progressLine is the one line per poll an on-call engineer watches.
func progressLine(v Verdict) string {
	var b strings.Builder
	fmt.Fprintf(&b, "gate: %5s  canary %d req %d 5xx %d slow | baseline %d req %d 5xx %d slow | share %.3g%% |",
		v.Elapsed.Round(time.Second), v.Canary.Requests, v.Canary.Errors, v.Canary.Slow,
		v.Baseline.Requests, v.Baseline.Errors, v.Baseline.Slow, 100*v.Share)
	for _, c := range v.Checks {
		switch c.Kind {
		case "sequential", "guardrail":
			if c.Status == "waiting" || c.Status == "off" || c.Status == "no-data" {
				fmt.Fprintf(&b, " %s -", c.Name)
			} else {
				fmt.Fprintf(&b, " %s BF %s/%s", c.Name, fmtBF(c.Evidence), fmtBF(c.Threshold))
			}
		case "custom", "presence":
			if c.Kind == "custom" || c.Status != "ok" {
				fmt.Fprintf(&b, " %s %s", c.Name, c.Status)
			}
		}
	}
	switch v.Outcome {
	case Running:
		fmt.Fprintf(&b, " | waiting for %s", v.Waiting)
	default:
		fmt.Fprintf(&b, " | %s", strings.ToUpper(string(v.Outcome)))
	}
	return b.String()
}

func fmtBF(x float64) string {
	switch {
	case math.IsInf(x, 1) || x >= 1e6:
		return fmt.Sprintf("%.1e", x)
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	default:
		return fmt.Sprintf("%.2g", x)
	}
}
