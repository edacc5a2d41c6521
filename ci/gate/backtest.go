package gate

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/obsshort/shortener/internal/promclient"
	"github.com/prometheus/common/model"
)

// BacktestWindow is the verdict the gate would have given on one recorded
// window.
type BacktestWindow struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Outcome Outcome   `json:"outcome"`
	At      float64   `json:"decided_after_seconds"`
	Reason  string    `json:"reason"`
}

// Backtest runs the gate over recorded data: for each window of
// analysis.max_duration starting at from, then every `every`, until to, it
// reads the series of every query the gate makes with range queries
// (one step per poll interval) and feeds them, step by step, through the
// same observer and engine as `gate analyze`. So a team can ask: would the
// gate have caught that incident, and would it have blocked our good
// releases? Custom checks are left out (their values are not counters).
func Backtest(ctx context.Context, cfg Config, c *promclient.Client, from, to time.Time, every time.Duration) ([]BacktestWindow, error) {
	cfg.Checks.Custom = nil
	q := newQueries(cfg)
	step := cfg.Analysis.Interval.D()
	length := cfg.Analysis.MaxDuration.D()
	var out []BacktestWindow
	// Range queries answer at whole milliseconds from the start: keep the
	// steps on whole seconds so each poll finds its samples.
	from = from.Truncate(time.Second)
	for ws := from; !ws.Add(length).After(to); ws = ws.Add(every) {
		we := ws.Add(length)
		var mats [2][4]model.Matrix
		for i, aq := range []armQueries{q.canary, q.baseline} {
			for j, query := range []string{aq.count, aq.bucket, aq.up, aq.lb} {
				if query == "" {
					continue
				}
				m, err := c.Matrix(ctx, query, ws, we, step)
				if err != nil {
					return out, err
				}
				mats[i][j] = m
			}
		}
		ob, e := newObserver(cfg), NewEngine(cfg)
		w := BacktestWindow{Start: ws, End: we, Outcome: Inconclusive, Reason: "no decision"}
		n := int(length / step)
		for k := 0; k <= n; k++ {
			ts := ws.Add(time.Duration(k) * step)
			at := func(i int) armSamples {
				return armSamples{count: samplesAt(mats[i][0], ts), bucket: samplesAt(mats[i][1], ts), up: samplesAt(mats[i][2], ts), lb: samplesAt(mats[i][3], ts), upQueried: i == 0 && q.canary.up != ""}
			}
			var o Observation
			o.Canary, o.Baseline = ob.observe(at(0), at(1))
			if k == 0 {
				continue // the start snapshot
			}
			o.Elapsed, o.Final = time.Duration(k)*step, k == n
			v := e.Evaluate(o)
			if v.Outcome != Running {
				w.Outcome, w.At, w.Reason = v.Outcome, o.Elapsed.Seconds(), v.Reason
				break
			}
		}
		out = append(out, w)
	}
	return out, nil
}

// samplesAt is the instant vector a range query's matrix holds at ts.
func samplesAt(m model.Matrix, ts time.Time) model.Vector {
	var v model.Vector
	t := model.TimeFromUnixNano(ts.UnixNano())
	for _, s := range m {
		for _, p := range s.Values {
			if p.Timestamp.Equal(t) {
				v = append(v, &model.Sample{Metric: s.Metric, Value: p.Value, Timestamp: p.Timestamp})
				break
			}
		}
	}
	return v
}

func runBacktest(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gate backtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs)
	var (
		canary, baseline, fromS, toS, output string
		every, interval, maxDur              time.Duration
	)
	fs.StringVar(&canary, "canary", "", `label matchers of the canary as it was labelled then (default track="canary")`)
	fs.StringVar(&baseline, "baseline", "", `label matchers of the baseline (default track="stable")`)
	fs.StringVar(&fromS, "from", "", "start of the first window, RFC 3339 (e.g. 2026-11-01T10:00:00Z) or a duration ago (e.g. 2h)")
	fs.StringVar(&toS, "to", "", "end of the range (default now)")
	fs.DurationVar(&every, "every", 0, "start a window this often (default: back to back)")
	fs.DurationVar(&interval, "interval", 0, "poll interval replayed (default from config)")
	fs.DurationVar(&maxDur, "max-duration", 0, "length of each window (default from config)")
	fs.StringVar(&output, "output", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	cfg, err := f.load(fs)
	if err != nil {
		return usageErr(stderr, err)
	}
	if canary != "" {
		cfg.Selectors.Canary = canary
	}
	if baseline != "" {
		cfg.Selectors.Baseline = baseline
	}
	if interval > 0 {
		cfg.Analysis.Interval = Duration(interval)
	}
	if maxDur > 0 {
		cfg.Analysis.MaxDuration = Duration(maxDur)
	}
	cfg.Checks.Custom = nil
	if err := cfg.Validate(); err != nil {
		return usageErr(stderr, err)
	}
	now := time.Now()
	parse := func(name, s string, def time.Time) (time.Time, error) {
		if s == "" {
			return def, nil
		}
		if d, err := time.ParseDuration(s); err == nil {
			return now.Add(-d), nil
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return t, fieldErr(name, "%q is neither RFC 3339 nor a duration ago", s)
		}
		return t, nil
	}
	to, err := parse("--to", toS, now)
	if err != nil {
		return usageErr(stderr, err)
	}
	if fromS == "" {
		return usageErr(stderr, fieldErr("--from", "is required"))
	}
	from, err := parse("--from", fromS, now)
	if err != nil {
		return usageErr(stderr, err)
	}
	if every <= 0 {
		every = cfg.Analysis.MaxDuration.D()
	}
	if !from.Add(cfg.Analysis.MaxDuration.D()).Before(to.Add(time.Nanosecond)) {
		return usageErr(stderr, fieldErr("--from", "the range %s .. %s is shorter than one window (%s)", from.Format(time.RFC3339), to.Format(time.RFC3339), cfg.Analysis.MaxDuration.D()))
	}
	client, err := newPromClient(cfg.Prometheus, getenv)
	if err != nil {
		return usageErr(stderr, err)
	}
	ws, err := Backtest(ctx, cfg, client, from, to, every)
	if err != nil {
		fmt.Fprintf(stderr, "gate backtest: %v\n", err)
		return ExitInconclusive
	}
	if output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(ws)
		return ExitPass
	}
	counts := map[Outcome]int{}
	for _, w := range ws {
		counts[w.Outcome]++
		fmt.Fprintf(stdout, "%s .. %s  %-12s after %4.0fs  %s\n", w.Start.UTC().Format(time.RFC3339), w.End.UTC().Format("15:04:05"), w.Outcome, w.At, w.Reason)
	}
	fmt.Fprintf(stdout, "\n%d windows: %d fail, %d pass, %d inconclusive (canary {%s} against {%s}, %s each, polls every %s)\n",
		len(ws), counts[Fail], counts[Pass], counts[Inconclusive], normalizeSelector(cfg.Selectors.Canary), normalizeSelector(cfg.Selectors.Baseline), cfg.Analysis.MaxDuration.D(), cfg.Analysis.Interval.D())
	return ExitPass
}
