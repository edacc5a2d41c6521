package gate

import (
	"fmt"
	"io"
	"time"
)

// benchRow is one scenario of the gate's benchmark (README, `gate simulate
// --table`): simulated traffic, the target, and how to read the runs.
type benchRow struct {
	name, target string
	sim          SimParams
	// planned: run at the share and duration `gate plan` recommends for
	// this traffic (the targets say "within the planned duration").
	planned bool
	judge   func(r SimResult, pl *PlanResult) (string, bool)
}

// BenchmarkTable runs every scenario with runs analyses each and prints a
// markdown table; progress goes to log.
func BenchmarkTable(cfg Config, runs int, seed uint64, w, log io.Writer) {
	base := SimParams{RPS: 100, CanaryShare: 0.1, BaselineErrorRate: 0.0025, CanaryErrorRate: 0.0025,
		BaselineLatency: 0.002, CanaryLatency: 0.002, LatencySigma: 0.5, BaselineNotFound: 0.002, CanaryNotFound: 0.002,
		ScrapeInterval: time.Second, Interval: time.Second, MaxDuration: 10 * time.Minute}
	with := func(mod func(*SimParams)) SimParams {
		p := base
		mod(&p)
		return p
	}
	aa := func(r SimResult, pl *PlanResult) (string, bool) {
		n := len(r.Runs)
		ff, ps := r.Count(Fail, 0), r.Count(Pass, 0)
		return fmt.Sprintf("false fail %.1f%%, pass %.1f%% within %s (plan: %.0f%% share, %s)", pct(ff, n), pct(ps, n), pl.Duration, 100*pl.Share, feasible(pl)),
			pct(ff, n) <= 5 && (!pl.Feasible || pct(ps, n) >= 90)
	}
	regression := func(r SimResult, pl *PlanResult) (string, bool) {
		n := len(r.Runs)
		pr, fl := r.Count(Pass, 0), r.Count(Fail, 0)
		ok := pct(pr, n) <= 5 && (!pl.Feasible || pct(fl, n) >= 90)
		return fmt.Sprintf("promoted %.1f%%, failed %.1f%% within %s (plan: %.0f%% share, %s)", pct(pr, n), pct(fl, n), pl.Duration, 100*pl.Share, feasible(pl)), ok
	}
	notPromoted := func(r SimResult, _ *PlanResult) (string, bool) {
		n := len(r.Runs)
		pr := r.Count(Pass, 0)
		return fmt.Sprintf("promoted %.1f%%, failed %.1f%%, inconclusive %.1f%%", pct(pr, n), pct(r.Count(Fail, 0), n), pct(n-pr-r.Count(Fail, 0), n)), pct(pr, n) <= 5
	}
	failedWithin := func(d time.Duration, need float64) func(SimResult, *PlanResult) (string, bool) {
		return func(r SimResult, _ *PlanResult) (string, bool) {
			n, k := len(r.Runs), 0
			var ts []time.Duration
			for _, run := range r.Runs {
				if run.Outcome == Fail {
					at := run.At - r.Params.CanaryVanishAt
					ts = append(ts, at)
					if at <= d {
						k++
					}
				}
			}
			return fmt.Sprintf("failed within %s: %.1f%% (p50 %s, p99 %s), promoted %d", d, pct(k, n), quantile(ts, 0.5), quantile(ts, 0.99), r.Count(Pass, 0)),
				pct(k, n) >= need && r.Count(Pass, 0) == 0
		}
	}
	rows := []benchRow{
		{name: "A/A, independent errors, 100 rps, 0.25% 5xx", target: "false fail <= 5%; pass >= 90% within the planned duration",
			sim: base, planned: true, judge: aa},
		{name: "A/A, bursty errors (CV 1), 1,000 rps, 1% 5xx", target: "false fail <= 5%; pass >= 90% within the planned duration",
			sim: with(func(p *SimParams) { p.RPS, p.BaselineErrorRate, p.CanaryErrorRate, p.BurstCV = 1000, 0.01, 0.01, 1 }), planned: true, judge: aa},
		{name: "A/A, canary restarts at 3 min, 5% of scrapes fail, 100 rps", target: "false fail <= 5%",
			sim: with(func(p *SimParams) { p.CanaryRestartAt, p.MissedScrapes = 3*time.Minute, 0.05 }), judge: func(r SimResult, _ *PlanResult) (string, bool) {
				ff := r.Count(Fail, 0)
				return fmt.Sprintf("false fail %.1f%% (%s)", pct(ff, len(r.Runs)), r.failedFirstBy()), pct(ff, len(r.Runs)) <= 5
			}},
	}
	for _, rps := range []float64{2, 10, 150, 1000} {
		rows = append(rows, benchRow{name: fmt.Sprintf("2x errors (0.25%% -> 0.5%%), %g rps", rps), target: "promoted <= 5%; failed >= 90% within the planned duration where the plan says the traffic suffices",
			sim: with(func(p *SimParams) { p.RPS, p.CanaryErrorRate = rps, 0.005 }), planned: true, judge: regression})
	}
	rows = append(rows,
		benchRow{name: "10x errors at night (0.25% -> 2.5%), 2 rps", target: "promoted <= 5%",
			sim: with(func(p *SimParams) { p.RPS, p.CanaryErrorRate = 2, 0.025 }), planned: true, judge: regression},
		benchRow{name: "baseline 0 errors, canary 0.1%, 100 rps", target: "promoted <= 5% (today 28%)",
			sim: with(func(p *SimParams) { p.BaselineErrorRate, p.CanaryErrorRate = 0, 0.001 }), planned: true, judge: notPromoted},
		benchRow{name: "30% errors, 10% of 100 rps, 1 s polls", target: "failed within 15 s in >= 99%",
			sim: with(func(p *SimParams) { p.BaselineErrorRate, p.CanaryErrorRate = 0.001, 0.3 }), judge: failedWithin(15*time.Second, 99)},
		benchRow{name: "one route (1% of traffic) fails 100%, 10% of 100 rps", target: "failed within 2 min in >= 95%",
			sim: with(func(p *SimParams) { p.BadRouteErrorRate = 1 }), judge: failedWithin(2*time.Minute, 95)},
		benchRow{name: "median latency 20 ms -> 90 ms, all under 100 ms, 10% of 100 rps", target: "failed within 2 min in >= 95%",
			sim: with(func(p *SimParams) { p.BaselineLatency, p.CanaryLatency, p.LatencySigma = 0.02, 0.09, 0.04 }), judge: failedWithin(2*time.Minute, 95)},
		benchRow{name: "canary killed at 1 min (target down, series stale), 100 rps", target: "failed within 30 s; never promoted",
			sim: with(func(p *SimParams) { p.CanaryVanishAt = time.Minute }), judge: failedWithin(30*time.Second, 100)},
		benchRow{name: "5% of canary attempts fail at the load balancer only, 100 rps", target: "failed; never promoted",
			sim: with(func(p *SimParams) { p.LBFailRate = 0.05 }), judge: failedWithin(10*time.Minute, 95)},
		benchRow{name: "canary answers 404 to 20% of redirects (stable 0.2%), 100 rps", target: "failed; never promoted",
			sim: with(func(p *SimParams) { p.CanaryNotFound = 0.2 }), judge: failedWithin(10*time.Minute, 95)},
	)
	fmt.Fprintln(w, "| scenario | target | measured | met? |")
	fmt.Fprintln(w, "|---|---|---|:---:|")
	plans := map[[3]float64]*PlanResult{}
	for _, row := range rows {
		t0 := time.Now()
		p := row.sim
		p.Runs, p.Seed = runs, seed
		c := cfg
		var pl *PlanResult
		if row.planned {
			key := [3]float64{p.RPS, p.BaselineErrorRate, p.BurstCV}
			pl = plans[key]
			if pl == nil {
				// the plan sees stable's traffic only: its rate and errors
				tr := Traffic{RPS: p.RPS, ErrorRatio: p.BaselineErrorRate, LatencyP50: p.BaselineLatency, LatencyP90: p.BaselineLatency * 1.9, BurstCV: p.BurstCV}
				r := Plan(cfg, tr, PlanOptions{Shares: []float64{0.1, 0.2, 0.3, 0.5}, MaxDuration: time.Hour, Power: 0.9, Runs: 200, Seed: seed + 1})
				pl = &r
				plans[key] = pl
			}
			p.CanaryShare, p.MaxDuration, p.Interval = pl.Share, pl.Duration, PlanPoll(cfg.Analysis.Interval.D(), pl.Duration)
		}
		c.Analysis.CanaryShare = p.CanaryShare
		c.Analysis.Interval, c.Analysis.MaxDuration = Duration(p.Interval), Duration(p.MaxDuration)
		res := Simulate(c, p)
		measured, ok := row.judge(res, pl)
		met := "yes"
		if !ok {
			met = "**no**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", row.name, row.target, measured, met)
		fmt.Fprintf(log, "gate simulate: %s: %s\n", row.name, time.Since(t0).Round(time.Second))
	}
}

func feasible(pl *PlanResult) string {
	if pl.Feasible {
		return "traffic suffices"
	}
	return "traffic does not suffice within 1h"
}
