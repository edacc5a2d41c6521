package gate

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

func runSimulate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gate simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	p := SimParams{}
	var cfgPath string
	var alpha float64
	var table bool
	fs.StringVar(&cfgPath, "config", "", "YAML config for the engine settings (default: built-in defaults)")
	fs.BoolVar(&table, "table", false, "run the benchmark scenarios of the README (targets of the gate) and print their table")
	fs.Float64Var(&p.RPS, "rps", 100, "total requests per second (Poisson)")
	fs.Float64Var(&p.CanaryShare, "canary-share", 0.1, "share of traffic the canary gets")
	fs.Float64Var(&p.BaselineErrorRate, "baseline-error-rate", 0.0025, "share of baseline requests answered 5xx")
	fs.Float64Var(&p.CanaryErrorRate, "canary-error-rate", 0.0025, "share of canary requests answered 5xx")
	fs.Float64Var(&p.BurstCV, "burst-cv", 0, "coefficient of variation of each arm's per-second error rate multiplier (bursty errors); 0 = independent")
	fs.Float64Var(&p.BaselineLatency, "baseline-latency", 0.002, "median latency of the baseline, seconds (log-normal)")
	fs.Float64Var(&p.CanaryLatency, "canary-latency", 0.002, "median latency of the canary, seconds")
	fs.Float64Var(&p.LatencySigma, "latency-sigma", 0.5, "log-sd of both latency distributions")
	fs.Float64Var(&p.BaselineNotFound, "baseline-not-found", 0.002, "share of the baseline's redirects answered 404")
	fs.Float64Var(&p.CanaryNotFound, "canary-not-found", 0.002, "share of the canary's redirects answered 404")
	fs.Float64Var(&p.BadRouteErrorRate, "bad-route-error-rate", 0, "5xx ratio of the canary on one route carrying 1% of traffic (/{code}/qr)")
	fs.Float64Var(&p.LBFailRate, "lb-fail-rate", 0, "share of canary attempts failing at the load balancer only (refused, timed out)")
	fs.DurationVar(&p.CanaryRestartAt, "canary-restart-at", 0, "reset the canary's counters (a restart) at this time")
	fs.DurationVar(&p.CanaryVanishAt, "canary-vanish-at", 0, "kill the canary at this time (stale series, target down)")
	fs.Float64Var(&p.MissedScrapes, "missed-scrapes", 0, "share of scrapes that fail (series stale until the next one)")
	fs.DurationVar(&p.ScrapeInterval, "scrape-interval", time.Second, "Prometheus scrape interval")
	fs.DurationVar(&p.Interval, "interval", time.Second, "poll interval (the gate looks at every poll)")
	fs.DurationVar(&p.MaxDuration, "max-duration", 10*time.Minute, "maximum analysis duration")
	fs.IntVar(&p.Runs, "runs", 1000, "number of simulated analyses")
	fs.Uint64Var(&p.Seed, "seed", 1, "random seed (same seed, same output)")
	fs.DurationVar(&p.Deadline, "deadline", 0, "also report the share of runs failed within this time (from the kill with --canary-vanish-at)")
	fs.Float64Var(&alpha, "alpha", 0, "significance of the whole analysis (default from config: 0.05)")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	cfg := DefaultConfig()
	if cfgPath != "" {
		var err error
		if cfg, err = LoadConfig(cfgPath); err != nil {
			return usageErr(stderr, err)
		}
	}
	if alpha != 0 {
		cfg.Analysis.Alpha = alpha
	}
	cfg.Checks.Custom = nil // nothing to simulate them from
	if table {
		if err := cfg.Validate(); err != nil {
			return usageErr(stderr, err)
		}
		t0 := time.Now()
		BenchmarkTable(cfg, p.Runs, p.Seed, stdout, stderr)
		fmt.Fprintf(stdout, "\n(%d runs per row, seed %d, in %s)\n", p.Runs, p.Seed, time.Since(t0).Round(time.Second))
		return ExitPass
	}
	if err := p.validate(); err != nil {
		return usageErr(stderr, err)
	}
	cfg.Analysis.CanaryShare = p.CanaryShare
	cfg.Analysis.Interval = Duration(p.Interval)
	cfg.Analysis.MaxDuration = Duration(p.MaxDuration)
	if err := cfg.Validate(); err != nil {
		return usageErr(stderr, err)
	}
	start := time.Now()
	res := Simulate(cfg, p)
	res.Print(stdout, NewEngine(cfg).AlphaPerCheck())
	fmt.Fprintf(stdout, "\n(%d runs in %s)\n", p.Runs, time.Since(start).Round(time.Millisecond))
	return ExitPass
}

func (p SimParams) validate() error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"--baseline-error-rate", p.BaselineErrorRate}, {"--canary-error-rate", p.CanaryErrorRate},
		{"--baseline-not-found", p.BaselineNotFound}, {"--canary-not-found", p.CanaryNotFound},
		{"--bad-route-error-rate", p.BadRouteErrorRate}, {"--lb-fail-rate", p.LBFailRate}, {"--missed-scrapes", p.MissedScrapes}} {
		if r.v < 0 || r.v > 1 {
			return fieldErr(r.name, "must be in [0, 1], got %g", r.v)
		}
	}
	switch {
	case p.CanaryShare <= 0 || p.CanaryShare >= 1:
		return fieldErr("--canary-share", "must be in (0, 1)")
	case p.RPS <= 0:
		return fieldErr("--rps", "must be positive")
	case p.Runs < 1:
		return fieldErr("--runs", "must be at least 1")
	case p.BurstCV < 0:
		return fieldErr("--burst-cv", "must not be negative")
	case p.BaselineLatency <= 0 || p.CanaryLatency <= 0 || p.LatencySigma <= 0:
		return fieldErr("--baseline-latency", "latencies and --latency-sigma must be positive")
	case p.ScrapeInterval < time.Second || p.Interval < time.Second:
		return fieldErr("--interval", "the simulation steps in seconds: --interval and --scrape-interval must be at least 1s")
	case p.MaxDuration < p.Interval:
		return fieldErr("--max-duration", "must be at least --interval")
	}
	return nil
}

// planFlags are the flags of `gate plan` beyond the common ones.
func runPlan(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gate plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs)
	var (
		baseline, output, shares string
		lookback, maxDur         time.Duration
		power                    float64
		runs                     int
		rps, errRatio, p50, p90  float64
		burst                    float64
	)
	fs.StringVar(&baseline, "baseline", "", `label matchers of the stable track (default track="stable")`)
	fs.DurationVar(&lookback, "lookback", 30*time.Minute, "window of recent traffic to plan from")
	fs.StringVar(&shares, "shares", "0.1,0.2,0.3,0.5", "canary shares to consider, ascending")
	fs.DurationVar(&maxDur, "max-duration", time.Hour, "longest analysis to consider")
	fs.Float64Var(&power, "power", 0.9, "required probability to fail a 2x regression and to pass a healthy canary")
	fs.IntVar(&runs, "runs", 200, "simulated analyses per share and case")
	fs.StringVar(&output, "output", "text", "text or json")
	fs.Float64Var(&rps, "rps", 0, "plan for this traffic instead of reading Prometheus (requests/s of stable)")
	fs.Float64Var(&errRatio, "error-ratio", 0, "with --rps: stable's 5xx ratio")
	fs.Float64Var(&p50, "latency-p50", 0.002, "with --rps: stable's median latency, seconds")
	fs.Float64Var(&p90, "latency-p90", 0.005, "with --rps: stable's 90th percentile latency, seconds")
	fs.Float64Var(&burst, "burst-cv", 0, "with --rps: how bursty stable's errors are (CV of the per-second rate)")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	cfg, err := f.load(fs)
	if err != nil {
		return usageErr(stderr, err)
	}
	if baseline != "" {
		cfg.Selectors.Baseline = baseline
	}
	cfg.Checks.Custom = nil
	opt := PlanOptions{MaxDuration: maxDur, Power: power, Runs: runs, Seed: 1}
	for _, s := range strings.Split(shares, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || v <= 0 || v >= 1 {
			return usageErr(stderr, fieldErr("--shares", "%q: each share must be a number in (0, 1)", s))
		}
		if len(opt.Shares) > 0 && v <= opt.Shares[len(opt.Shares)-1] {
			return usageErr(stderr, fieldErr("--shares", "must be ascending"))
		}
		opt.Shares = append(opt.Shares, v)
	}
	switch {
	case power <= 0.5 || power >= 1:
		return usageErr(stderr, fieldErr("--power", "must be in (0.5, 1)"))
	case runs < 20:
		return usageErr(stderr, fieldErr("--runs", "must be at least 20"))
	case maxDur < cfg.Analysis.Interval.D():
		return usageErr(stderr, fieldErr("--max-duration", "must be at least analysis.interval"))
	case output != "text" && output != "json":
		return usageErr(stderr, fieldErr("--output", "must be text or json"))
	}
	if err := cfg.Validate(); err != nil {
		return usageErr(stderr, err)
	}
	tr := Traffic{RPS: rps, ErrorRatio: errRatio, LatencyP50: p50, LatencyP90: p90, BurstCV: burst}
	if rps == 0 {
		client, err := newPromClient(cfg.Prometheus, getenv)
		if err != nil {
			return usageErr(stderr, err)
		}
		if tr, err = MeasureTraffic(ctx, client, cfg, lookback, time.Now()); err != nil {
			fmt.Fprintf(stderr, "gate plan: cannot read stable's traffic: %v\n", err)
			return ExitInconclusive
		}
	}
	if tr.RPS <= 0 {
		fmt.Fprintf(stderr, "gate plan: stable {%s} served no requests in the last %s: no analysis can reach a verdict; release when it serves traffic\n", normalizeSelector(cfg.Selectors.Baseline), lookback)
		res := PlanResult{Traffic: tr, Share: opt.Shares[len(opt.Shares)-1], Duration: maxDur, DurationSec: maxDur.Seconds(), Summary: "no traffic"}
		if output == "json" {
			_ = json.NewEncoder(stdout).Encode(res)
		}
		return ExitInconclusive
	}
	res := Plan(cfg, tr, opt)
	if output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return ExitUsage
		}
	} else {
		res.Print(stdout, opt)
	}
	if !res.Feasible {
		return ExitInconclusive
	}
	return ExitPass
}
