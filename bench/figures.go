package bench

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// figures turns the measurements into the table rows.
func figures(cfg Config, rep *Report, rss map[string]int64) []Figure {
	const (
		base = "baseline"
		full = "shortener-full-10k"
		off  = "shortener-off-10k"
		big  = "shortener-full-1M"
		hot  = "shortener-full-1M-hot"
	)
	med := func(name string) float64 {
		var v []float64
		for _, r := range rep.Rounds {
			v = append(v, r[name].RPS)
		}
		return median(v)
	}
	ratio := func(num, den string) float64 {
		var v []float64
		for _, r := range rep.Rounds {
			if r[den].RPS > 0 {
				v = append(v, r[num].RPS/r[den].RPS)
			}
		}
		return median(v)
	}
	// The same ratios from the servers' CPU time per request: what each
	// server costs rather than what it got of a shared machine.
	cpu := func(name string) float64 {
		var v []float64
		for _, r := range rep.Rounds {
			v = append(v, r[name].cpuPerRequest())
		}
		return median(v)
	}
	cpuRatio := func(num, den string) float64 {
		var v []float64
		for _, r := range rep.Rounds {
			if n := r[num].cpuPerRequest(); n > 0 {
				v = append(v, r[den].cpuPerRequest()/n)
			}
		}
		return median(v)
	}
	us := func(v float64) string { return fmt.Sprintf("%.1f µs", 1e6*v) }
	rps := func(v float64) string { return fmt.Sprintf("%.0f req/s", v) }
	baseRPS := med(base)
	fullRatio, offRatio, bigRatio := ratio(full, base), ratio(off, base), ratio(big, base)
	cost := 1 - ratio(full, off)
	scale := ratio(big, full)
	scaleHot := ratio(hot, full)
	lb, lf := rep.Latency[base], rep.Latency[full]
	lr := func(a, b time.Duration) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	cr := rep.Creates
	const rssLimit = 150_000_000
	small, large := fmt.Sprintf("%dk", cfg.SmallLinks/1000), humanCount(cfg.LargeLinks)
	figs := []Figure{
		{Key: "baseline_rps", Name: "baseline redirects (net/http + map), " + small + " links", Value: baseRPS, Unit: "req/s", Text: rps(baseRPS), Ratio: 1},
		{Key: "full_rps", Name: "shortener redirects, full telemetry, " + small + " links", Value: med(full), Unit: "req/s", Text: rps(med(full)), Ratio: fullRatio, Target: "≥ 0.80 × baseline (stretch 0.90)", Met: boolp(fullRatio >= 0.80)},
		{Key: "off_rps", Name: "shortener redirects, telemetry off, " + small + " links", Value: med(off), Unit: "req/s", Text: rps(med(off)), Ratio: offRatio},
		{Key: "telemetry_cost", Name: "telemetry cost (1 − full/off)", Value: cost, Unit: "ratio", Text: fmt.Sprintf("%.1f %%", 100*cost), Target: "≤ 10 % (stretch 5 %)", Met: boolp(cost <= 0.10)},
		{Key: "p50", Name: fmt.Sprintf("p50 redirect latency at %d req/s (full telemetry)", cfg.Rate), Value: lf.P50.Seconds(), Unit: "s", Text: ms(lf.P50), Ratio: lr(lf.P50, lb.P50)},
		{Key: "p99", Name: fmt.Sprintf("p99 redirect latency at %d req/s", cfg.Rate), Value: lf.P99.Seconds(), Unit: "s", Text: ms(lf.P99), Ratio: lr(lf.P99, lb.P99), Target: "< 2 ms and ≤ 1.3 × baseline's", Met: boolp(lf.P99 < 2*time.Millisecond && lr(lf.P99, lb.P99) <= 1.3)},
		{Key: "p999", Name: fmt.Sprintf("p99.9 redirect latency at %d req/s", cfg.Rate), Value: lf.P999.Seconds(), Unit: "s", Text: ms(lf.P999), Ratio: lr(lf.P999, lb.P999), Target: "< 10 ms", Met: boolp(lf.P999 < 10*time.Millisecond)},
		{Key: "open_loop_errors", Name: "open-loop run: achieved rate, non-302 answers", Value: float64(lf.Errors), Unit: "errors", Text: fmt.Sprintf("%.0f req/s, %d errors of %d", lf.Achieved, lf.Errors, lf.Requests), Target: "0 errors", Met: boolp(lf.Errors == 0)},
		{Key: "creates_per_s", Name: "durable link creations (POST /api/v1/links → 201)", Value: cr.PerSec, Unit: "1/s", Text: fmt.Sprintf("%.0f /s", cr.PerSec), Ratio: cr.PerSec / baseRPS, Target: "≥ 5,000 /s", Met: boolp(cr.PerSec >= 5000)},
		{Key: "durable", Name: "acknowledged links resolving after kill -9 and restart", Value: float64(cr.Resolved), Unit: "links", Text: fmt.Sprintf("durable: %d/%d resolved", cr.Resolved, cr.Verified), Target: "all", Met: boolp(cr.Verified > 0 && cr.Resolved == cr.Verified)},
		{Key: "large_rps", Name: "shortener redirects, full telemetry, " + large + " links, requests uniform over all", Value: med(big), Unit: "req/s", Text: rps(med(big)), Ratio: bigRatio},
		{Key: "scale", Name: large + " links (uniform over all) vs " + small + " links throughput", Value: scale, Unit: "ratio", Text: fmt.Sprintf("%.2f", scale), Target: "≥ 0.90", Met: boolp(scale >= 0.90)},
		{Key: "large_hot_rps", Name: "shortener redirects, full telemetry, " + large + " links stored, requests over " + small + " of them", Value: med(hot), Unit: "req/s", Text: rps(med(hot)), Ratio: ratio(hot, base)},
		{Key: "scale_hot", Name: large + " links stored vs " + small + " stored, same " + small + "-code working set", Value: scaleHot, Unit: "ratio", Text: fmt.Sprintf("%.2f", scaleHot), Target: "≥ 0.95", Met: boolp(scaleHot >= 0.95)},
		{Key: "rss_small", Name: "peak RSS (VmHWM), " + small + " links", Value: float64(rss[full]), Unit: "bytes", Text: mb(rss[full]), Ratio: float64(rss[full]) / float64(rss[base])},
		{Key: "rss_large", Name: "peak RSS (VmHWM), " + large + " links", Value: float64(rss[big]), Unit: "bytes", Text: mb(rss[big]), Ratio: float64(rss[big]) / float64(rss[base]), Target: "< 150 MB", Met: boolp(rss[big] < rssLimit)},
	}
	cpuFull, cpuCost, cpuScale, cpuHot := cpuRatio(full, base), 1-cpuRatio(full, off), cpuRatio(big, full), cpuRatio(hot, full)
	figs = append(figs,
		Figure{Key: "cpu_baseline", Name: "server CPU per redirect: baseline, " + small + " links", Value: cpu(base), Unit: "s", Text: us(cpu(base)), Ratio: 1},
		Figure{Key: "cpu_full", Name: "server CPU per redirect: shortener, full telemetry, " + small + " links", Value: cpu(full), Unit: "s", Text: us(cpu(full)), Ratio: cpuFull, Target: "≥ 0.80 × baseline (stretch 0.90)", Met: boolp(cpuFull >= 0.80)},
		Figure{Key: "cpu_off", Name: "server CPU per redirect: shortener, telemetry off, " + small + " links", Value: cpu(off), Unit: "s", Text: us(cpu(off)), Ratio: cpuRatio(off, base)},
		Figure{Key: "cpu_telemetry_cost", Name: "telemetry cost by CPU per redirect (1 − off/full)", Value: cpuCost, Unit: "ratio", Text: fmt.Sprintf("%.1f %%", 100*cpuCost), Target: "≤ 10 % (stretch 5 %)", Met: boolp(cpuCost <= 0.10)},
		Figure{Key: "cpu_large", Name: "server CPU per redirect: shortener, full telemetry, " + large + " links, uniform over all", Value: cpu(big), Unit: "s", Text: us(cpu(big)), Ratio: cpuRatio(big, base)},
		Figure{Key: "cpu_scale", Name: large + " links (uniform) vs " + small + " by CPU per redirect", Value: cpuScale, Unit: "ratio", Text: fmt.Sprintf("%.2f", cpuScale), Target: "≥ 0.90", Met: boolp(cpuScale >= 0.90)},
		Figure{Key: "cpu_scale_hot", Name: large + " links stored vs " + small + " stored, same working set, by CPU per redirect", Value: cpuHot, Unit: "ratio", Text: fmt.Sprintf("%.2f", cpuHot), Target: "≥ 0.95", Met: boolp(cpuHot >= 0.95)},
	)
	figs = slices.DeleteFunc(figs, func(f Figure) bool {
		part, ok := figurePart[f.Key]
		return ok && !cfg.does(part)
	})
	if cfg.does(PartPostgres) {
		figs = append(figs, postgresFigures(rep, med, ratio, small)...)
	}
	if cfg.Compare != "" && cfg.does(PartRedirects) {
		const cmp = "compare-full-10k"
		figs = append(figs,
			Figure{Key: "compare_rps", Name: "compared binary, full telemetry, " + small + " links", Value: med(cmp), Unit: "req/s", Text: rps(med(cmp)), Ratio: ratio(cmp, base)},
			Figure{Key: "compare_change", Name: "this build vs compared binary (full telemetry)", Value: ratio(full, cmp), Unit: "ratio", Text: fmt.Sprintf("%.2f", ratio(full, cmp))},
		)
	}
	return figs
}

// figurePart is the part of the run each figure comes from; a figure not
// listed is always measured.
var figurePart = map[string]string{
	"off_rps": PartRedirects, "telemetry_cost": PartRedirects, "large_rps": PartRedirects, "scale": PartRedirects,
	"large_hot_rps": PartRedirects, "scale_hot": PartRedirects, "rss_large": PartRedirects,
	"p50": PartLatency, "p99": PartLatency, "p999": PartLatency, "open_loop_errors": PartLatency,
	"creates_per_s": PartCreates, "durable": PartCreates,
	"cpu_off": PartRedirects, "cpu_telemetry_cost": PartRedirects, "cpu_large": PartRedirects,
	"cpu_scale": PartRedirects, "cpu_scale_hot": PartRedirects,
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func humanCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}

func mb(bytes int64) string { return fmt.Sprintf("%.1f MB", float64(bytes)/1e6) }

// postgresFigures are the PostgreSQL rows: each a ratio to its own
// reference measured in the same run (pgbench for creates, SQLite for
// redirects), since the baseline server has no database.
func postgresFigures(rep *Report, med func(string) float64, ratio func(num, den string) float64, small string) []Figure {
	const (
		full       = "shortener-full-10k"
		pgFull     = "shortener-pg-10k"
		sqliteMiss = "shortener-sqlite-miss"
		pgMiss     = "shortener-pg-miss"
	)
	rps := func(v float64) string { return fmt.Sprintf("%.0f req/s", v) }
	pc := rep.PGCreates
	var creates, tps, ratios []float64
	for _, r := range rep.PGCreateRounds {
		creates = append(creates, r.CreatesPerSec)
		tps = append(tps, r.PGBenchTPS)
		if r.PGBenchTPS > 0 {
			ratios = append(ratios, r.CreatesPerSec/r.PGBenchTPS)
		}
	}
	createRatio, pgbench, pgCreates := median(ratios), median(tps), median(creates)
	warm := ratio(pgFull, full)
	miss := ratio(pgMiss, sqliteMiss)
	return []Figure{
		{Key: "pgbench_insert_tps", Name: fmt.Sprintf("PostgreSQL: pgbench, the store's INSERT, %d connections (reference)", pc.Clients), Value: pgbench, Unit: "1/s", Text: fmt.Sprintf("%.0f /s", pgbench)},
		{Key: "pg_creates_per_s", Name: fmt.Sprintf("PostgreSQL: durable link creations, %d clients", pc.Clients), Value: pgCreates, Unit: "1/s", Text: fmt.Sprintf("%.0f /s", pgCreates)},
		{Key: "pg_creates_vs_pgbench", Name: "PostgreSQL: durable creations vs pgbench (median of rounds run back to back)", Value: createRatio, Unit: "ratio", Text: fmt.Sprintf("%.2f", createRatio), Target: "≥ 0.70", Met: boolp(createRatio >= 0.70)},
		{Key: "pg_durable", Name: "PostgreSQL: acknowledged links resolving after kill -9 of the shortener", Value: float64(pc.Resolved), Unit: "links", Text: fmt.Sprintf("durable: %d/%d resolved", pc.Resolved, pc.Verified), Target: "all", Met: boolp(pc.Verified > 0 && pc.Resolved == pc.Verified)},
		{Key: "pg_rps", Name: "PostgreSQL: redirects, cache warm, full telemetry, " + small + " links", Value: med(pgFull), Unit: "req/s", Text: rps(med(pgFull)), Ratio: ratio(pgFull, "baseline")},
		{Key: "pg_vs_sqlite_warm", Name: "PostgreSQL vs SQLite redirects, cache warm", Value: warm, Unit: "ratio", Text: fmt.Sprintf("%.2f", warm), Target: "0.90 – 1.10", Met: boolp(warm >= 0.90 && warm <= 1.10)},
		{Key: "sqlite_miss_rps", Name: "SQLite: redirects, cache misses (--cache-size 1), " + small + " links", Value: med(sqliteMiss), Unit: "req/s", Text: rps(med(sqliteMiss)), Ratio: ratio(sqliteMiss, "baseline")},
		{Key: "pg_miss_rps", Name: "PostgreSQL: redirects, cache misses (--cache-size 1), " + small + " links", Value: med(pgMiss), Unit: "req/s", Text: rps(med(pgMiss)), Ratio: ratio(pgMiss, "baseline")},
		{Key: "pg_vs_sqlite_miss", Name: "PostgreSQL vs SQLite redirects, cache misses", Value: miss, Unit: "ratio", Text: fmt.Sprintf("%.2f", miss)},
	}
}
