package gate

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/obsshort/shortener/internal/promclient"
)

// Traffic is what the stable track serves today: the input of a plan.
type Traffic struct {
	RPS        float64 `json:"rps"`
	ErrorRatio float64 `json:"error_ratio"`
	// Latency median and 90th percentile, seconds.
	LatencyP50 float64 `json:"latency_p50_seconds"`
	LatencyP90 float64 `json:"latency_p90_seconds"`
	// BurstCV: how bursty stable's errors are (coefficient of variation
	// of the per-second error rate); 0 = independent.
	BurstCV float64 `json:"burst_cv"`
}

// PlanOptions bound the search.
type PlanOptions struct {
	Shares      []float64     // canary shares to try, ascending
	MaxDuration time.Duration // the longest analysis worth running
	Power       float64       // e.g. 0.9
	Runs        int           // simulated analyses per share and scenario
	Seed        uint64
}

// PlanRow is what one canary share gives.
type PlanRow struct {
	Share float64 `json:"share"`
	// PassBy: a healthy canary (identical to stable) passes within it in
	// Power of the analyses; FailBy: a canary with twice stable's error
	// ratio fails within it. Zero when not within MaxDuration.
	PassBy     time.Duration `json:"-"`
	FailBy     time.Duration `json:"-"`
	PassBySec  float64       `json:"pass_by_seconds"`
	FailBySec  float64       `json:"fail_by_seconds"`
	PassShare  float64       `json:"pass_share_at_max"` // share of healthy runs passed by MaxDuration
	FailShare  float64       `json:"fail_share_at_max"` // share of 2x runs failed by MaxDuration
	Promoted2x float64       `json:"promoted_2x"`       // share of 2x runs that passed (should be ~0)
}

// PlanResult is the recommendation.
type PlanResult struct {
	Traffic        Traffic       `json:"traffic"`
	RegressionRate float64       `json:"regression_error_ratio"` // the "2x" the plan powers for
	Rows           []PlanRow     `json:"rows"`
	Feasible       bool          `json:"feasible"`
	Share          float64       `json:"share"`
	Duration       time.Duration `json:"-"`
	DurationSec    float64       `json:"duration_seconds"`
	Summary        string        `json:"summary"`
}

// Plan finds the smallest canary share, and for it the analysis duration,
// with which a canary twice as bad as stable fails, and a healthy one
// passes, each in at least opt.Power of analyses. It answers by running the
// gate's own engine on simulated traffic shaped like today's (the
// simulator of `gate simulate`), so the answer includes every check and
// the α the configuration splits among them.
func Plan(cfg Config, tr Traffic, opt PlanOptions) PlanResult {
	res := PlanResult{Traffic: tr}
	// Twice stable's error ratio; when stable has almost no errors, twice
	// the errors check's floor (a smaller "regression" is within the
	// tolerance, so no plan could promise to fail it).
	base := math.Max(tr.ErrorRatio, cfg.Checks.Errors.Floor*cfg.SLO.ErrorBudget)
	res.RegressionRate = 2 * base
	median, sigma := lognormalFit(tr.LatencyP50, tr.LatencyP90)
	poll := PlanPoll(cfg.Analysis.Interval.D(), opt.MaxDuration)
	for _, share := range opt.Shares {
		p := SimParams{
			RPS: tr.RPS, CanaryShare: share,
			BaselineErrorRate: tr.ErrorRatio, CanaryErrorRate: tr.ErrorRatio,
			BaselineLatency: median, CanaryLatency: median, LatencySigma: sigma, BurstCV: tr.BurstCV,
			ScrapeInterval: time.Second, Interval: poll, MaxDuration: opt.MaxDuration,
			Runs: opt.Runs, Seed: opt.Seed,
		}
		c := cfg
		c.Analysis.CanaryShare = share
		c.Analysis.MaxDuration = Duration(opt.MaxDuration)
		aa := Simulate(c, p)
		p.BaselineErrorRate, p.CanaryErrorRate = base, 2*base
		bad := Simulate(c, p)
		row := PlanRow{Share: share,
			PassBy: byQuantile(aa, Pass, opt.Power), FailBy: byQuantile(bad, Fail, opt.Power),
			PassShare: float64(aa.Count(Pass, 0)) / float64(opt.Runs), FailShare: float64(bad.Count(Fail, 0)) / float64(opt.Runs),
			Promoted2x: float64(bad.Count(Pass, 0)) / float64(opt.Runs)}
		row.PassBySec, row.FailBySec = row.PassBy.Seconds(), row.FailBy.Seconds()
		res.Rows = append(res.Rows, row)
		if row.PassBy > 0 && row.FailBy > 0 {
			res.Feasible = true
			res.Share = share
			// a margin over the simulated time: scrape delay and warmup
			res.Duration = roundUp(time.Duration(1.2*float64(max(row.PassBy, row.FailBy))), 10*time.Second)
			break
		}
	}
	if !res.Feasible {
		res.Share = opt.Shares[len(opt.Shares)-1]
		res.Duration = opt.MaxDuration
	}
	res.DurationSec = res.Duration.Seconds()
	res.Summary = res.summary(opt)
	return res
}

func (r PlanResult) summary(opt PlanOptions) string {
	if r.Feasible {
		return fmt.Sprintf("run the canary at %.0f%% of traffic for %s: a healthy canary passes and one with %.3g%% 5xx (2x) fails, each in at least %.0f%% of analyses",
			100*r.Share, r.Duration, 100*r.RegressionRate, 100*opt.Power)
	}
	last := r.Rows[len(r.Rows)-1]
	var why []string
	if last.PassBy == 0 {
		why = append(why, fmt.Sprintf("a healthy canary passes in only %.0f%% of analyses", 100*last.PassShare))
	}
	if last.FailBy == 0 {
		why = append(why, fmt.Sprintf("a 2x regression fails in only %.0f%%", 100*last.FailShare))
	}
	need := "more traffic (a busier hour) or a longer analysis"
	if r.Traffic.RPS > 0 {
		// evidence grows about linearly with canary requests
		frac := math.Max(1-last.PassShare, 1-last.FailShare)
		need = fmt.Sprintf("about %.0f canary requests more than %s at %.0f%% gives (%.0f req/s x %s), e.g. a longer analysis or a busier hour",
			math.Max(1, frac*2)*r.Traffic.RPS*last.Share*opt.MaxDuration.Seconds(), opt.MaxDuration, 100*last.Share, r.Traffic.RPS*last.Share, opt.MaxDuration)
	}
	return fmt.Sprintf("today's traffic (%.3g req/s) cannot give %.0f%% power within %s at shares up to %.0f%%: %s; it needs %s. The analysis would likely end inconclusive (exit 2) and the canary would not be promoted",
		r.Traffic.RPS, 100*opt.Power, opt.MaxDuration, 100*last.Share, strings.Join(why, " and "), need)
}

// PlanPoll is the poll interval of the plan's simulations: the
// configured one, or coarser for long analyses (at most 240 looks), which
// keeps a plan quick. Fewer looks never raise the false-fail rate; times
// are then known to within one such interval.
func PlanPoll(interval, maxDuration time.Duration) time.Duration {
	return max(interval, (maxDuration / 240).Round(time.Second))
}

// byQuantile is the time by which a share q of the runs ended with
// outcome o, or 0 when fewer did.
func byQuantile(r SimResult, o Outcome, q float64) time.Duration {
	var ts []time.Duration
	for _, run := range r.Runs {
		if run.Outcome == o {
			ts = append(ts, run.At)
		}
	}
	need := int(math.Ceil(q * float64(len(r.Runs))))
	if len(ts) < need || need == 0 {
		return 0
	}
	slices.Sort(ts)
	return ts[need-1]
}

func roundUp(d, to time.Duration) time.Duration { return (d + to - 1) / to * to }

// lognormalFit returns the median and log-sd of a log-normal with these
// median and 90th percentile (z(0.9) = 1.2816).
func lognormalFit(p50, p90 float64) (float64, float64) {
	if p50 <= 0 || math.IsNaN(p50) {
		return 0.002, 0.5
	}
	if p90 <= p50 || math.IsNaN(p90) {
		return p50, 0.5
	}
	return p50, math.Log(p90/p50) / 1.2816
}

// MeasureTraffic reads the stable track's traffic over the lookback window.
func MeasureTraffic(ctx context.Context, c *promclient.Client, cfg Config, lookback time.Duration, at time.Time) (Traffic, error) {
	sel := normalizeSelector(cfg.Selectors.Baseline)
	w := promDuration(lookback)
	var tr Traffic
	var err error
	if tr.RPS, err = scalarOrZero(ctx, c, fmt.Sprintf("sum(rate(%s_count{%s}[%s]))", cfg.Metric, sel, w), at); err != nil {
		return tr, err
	}
	if tr.RPS > 0 {
		e, err := scalarOrZero(ctx, c, fmt.Sprintf(`sum(rate(%s_count{%s, %s=~"5.."}[%s]))`, cfg.Metric, sel, cfg.Labels.Status, w), at)
		if err != nil {
			return tr, err
		}
		tr.ErrorRatio = e / tr.RPS
	}
	if tr.ErrorRatio > 0 {
		tr.BurstCV = burstCV(ctx, c, fmt.Sprintf(`sum(increase(%s_count{%s, %s=~"5.."}[10s]))`, cfg.Metric, sel, cfg.Labels.Status), at.Add(-lookback), at)
	}
	for _, q := range []struct {
		q   float64
		dst *float64
	}{{0.5, &tr.LatencyP50}, {0.9, &tr.LatencyP90}} {
		if *q.dst, err = scalarOrZero(ctx, c, fmt.Sprintf("histogram_quantile(%g, sum by (le) (rate(%s_bucket{%s}[%s])))", q.q, cfg.Metric, sel, w), at); err != nil {
			return tr, err
		}
	}
	return tr, nil
}

// burstCV estimates how bursty errors are from their counts per 10 s:
// with a rate multiplier of coefficient of variation CV, the counts have
// variance μ + μ²CV², so CV² = (variance − mean)/mean². Best effort: 0
// when the data cannot tell.
func burstCV(ctx context.Context, c *promclient.Client, q string, from, to time.Time) float64 {
	m, err := c.Matrix(ctx, q, from, to, 10*time.Second)
	if err != nil || len(m) != 1 || len(m[0].Values) < 10 {
		return 0
	}
	var sum, sq float64
	for _, v := range m[0].Values {
		sum += float64(v.Value)
		sq += float64(v.Value) * float64(v.Value)
	}
	n := float64(len(m[0].Values))
	mean := sum / n
	variance := sq/n - mean*mean
	if mean <= 0 || variance <= mean {
		return 0
	}
	return math.Sqrt((variance - mean) / (mean * mean))
}

func scalarOrZero(ctx context.Context, c *promclient.Client, q string, at time.Time) (float64, error) {
	v, err := c.Vector(ctx, q, at)
	if err != nil {
		return 0, err
	}
	if len(v) == 0 || math.IsNaN(float64(v[0].Value)) || math.IsInf(float64(v[0].Value), 0) {
		return 0, nil
	}
	return float64(v[0].Value), nil
}

// promDuration writes d the way PromQL wants it (whole seconds).
func promDuration(d time.Duration) string {
	return fmt.Sprintf("%ds", int(max(d, time.Second)/time.Second))
}

// Print writes the plan for people.
func (r PlanResult) Print(w io.Writer, opt PlanOptions) {
	tr := r.Traffic
	fmt.Fprintf(w, "stable today: %.3g req/s, %.3g%% 5xx (burst CV %.2g), latency p50 %.3gms p90 %.3gms\n", tr.RPS, 100*tr.ErrorRatio, tr.BurstCV, 1000*tr.LatencyP50, 1000*tr.LatencyP90)
	fmt.Fprintf(w, "simulated with the gate's engine, %d analyses per share and case, polls every %s, up to %s:\n\n", opt.Runs, "the configured interval", opt.MaxDuration)
	fmt.Fprintf(w, "%-7s %-28s %-34s %s\n", "share", "healthy canary passes by", fmt.Sprintf("2x regression (%.3g%% 5xx) fails by", 100*r.RegressionRate), "2x promoted")
	for _, row := range r.Rows {
		by := func(d time.Duration, share float64) string {
			if d == 0 {
				return fmt.Sprintf("not within %s (%.0f%%)", opt.MaxDuration, 100*share)
			}
			return d.String()
		}
		fmt.Fprintf(w, "%-7s %-28s %-34s %.1f%%\n", fmt.Sprintf("%.0f%%", 100*row.Share), by(row.PassBy, row.PassShare), by(row.FailBy, row.FailShare), 100*row.Promoted2x)
	}
	fmt.Fprintf(w, "\n%s\n", r.Summary)
}
