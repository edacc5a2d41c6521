package gate

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"
)

// SimParams describes simulated traffic for `gate simulate`.
type SimParams struct {
	BaselineErrorRate, CanaryErrorRate float64
	BaselineSlowRate, CanarySlowRate   float64
	CanaryShare                        float64
	RPS                                float64
	Interval, MaxDuration              time.Duration
	Runs                               int
	Seed                               uint64
	// Deadline: also report the share of runs failed within it.
	Deadline time.Duration
	// The naive check fails at any poll when the canary error ratio over
	// the last NaiveWindow exceeds NaiveFactor × baseline ratio + NaiveSlack.
	NaiveFactor, NaiveSlack float64
	NaiveWindow             time.Duration
}

// SimRun is one simulated analysis.
type SimRun struct {
	Outcome Outcome
	At      time.Duration // time of the decision
	Looks   int           // polls until the decision
	Reason  string
	// NaiveFailLook is the poll at which the naive check first fired (0 = never).
	NaiveFailLook int
}

// SimResult aggregates the runs.
type SimResult struct {
	Params SimParams
	Runs   []SimRun
	Looks  int // polls in a full-length run
}

// Simulate runs the decision engine on Poisson traffic: in each poll
// interval every (arm, error?, slow?) cell gets a Poisson count with mean
// rps × interval × share × its probabilities. Poisson thinning makes that
// the same as Poisson arrivals split by a binomial coin per request.
func Simulate(cfg Config, p SimParams) SimResult {
	looks := int(p.MaxDuration / p.Interval)
	res := SimResult{Params: p, Runs: make([]SimRun, p.Runs), Looks: looks}
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				res.Runs[i] = simulateOne(cfg, p, looks, rand.New(rand.NewPCG(p.Seed, uint64(i))))
			}
		}()
	}
	for i := 0; i < p.Runs; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return res
}

type cellCounts struct{ req, err, slow int64 }

func drawArm(rng *rand.Rand, mean, errRate, slowRate float64) cellCounts {
	var c cellCounts
	ee := poisson(rng, mean*errRate*slowRate)
	ef := poisson(rng, mean*errRate*(1-slowRate))
	os := poisson(rng, mean*(1-errRate)*slowRate)
	of := poisson(rng, mean*(1-errRate)*(1-slowRate))
	c.req = ee + ef + os + of
	c.err = ee + ef
	c.slow = ee + os
	return c
}

func simulateOne(cfg Config, p SimParams, looks int, rng *rand.Rand) SimRun {
	e := NewEngine(cfg)
	dt := p.Interval.Seconds()
	var obs Observation
	window := max(1, int(p.NaiveWindow/p.Interval))
	var hist []struct{ c, b cellCounts }
	run := SimRun{Outcome: Inconclusive}
	decided := false
	for look := 1; look <= looks; look++ {
		c := drawArm(rng, p.RPS*dt*p.CanaryShare, p.CanaryErrorRate, p.CanarySlowRate)
		b := drawArm(rng, p.RPS*dt*(1-p.CanaryShare), p.BaselineErrorRate, p.BaselineSlowRate)
		hist = append(hist, struct{ c, b cellCounts }{c, b})
		obs.Canary.Requests += c.req
		obs.Canary.Errors += c.err
		obs.Canary.Slow += c.slow
		obs.Baseline.Requests += b.req
		obs.Baseline.Errors += b.err
		obs.Baseline.Slow += b.slow
		obs.Elapsed = time.Duration(look) * p.Interval
		obs.Final = look == looks

		// The naive check keeps looking to the end, so the output can show
		// its false alarms piling up with the number of looks.
		if run.NaiveFailLook == 0 && naiveFires(hist, window, p) {
			run.NaiveFailLook = look
		}
		if decided {
			continue
		}
		v := e.Evaluate(obs)
		if v.Outcome != Running {
			run.Outcome, run.At, run.Looks, run.Reason = v.Outcome, obs.Elapsed, look, v.Reason
			decided = true
		}
	}
	return run
}

func naiveFires(hist []struct{ c, b cellCounts }, window int, p SimParams) bool {
	var c, b cellCounts
	for _, h := range hist[max(0, len(hist)-window):] {
		c.req += h.c.req
		c.err += h.c.err
		b.req += h.b.req
		b.err += h.b.err
	}
	// Like rate(...[1m]) after a warmup: it only looks once the window is full.
	if len(hist) < window || c.req == 0 || b.req == 0 {
		return false
	}
	return ratio(c.err, c.req) > p.NaiveFactor*ratio(b.err, b.req)+p.NaiveSlack
}

// poisson draws a Poisson variate: by multiplication of uniforms for small
// means, by Hörmann's transformed rejection (PTRS, as in NumPy) otherwise.
func poisson(rng *rand.Rand, lam float64) int64 {
	if lam <= 0 {
		return 0
	}
	if lam < 10 {
		l := math.Exp(-lam)
		k := int64(0)
		prod := rng.Float64()
		for prod > l {
			k++
			prod *= rng.Float64()
		}
		return k
	}
	slam := math.Sqrt(lam)
	loglam := math.Log(lam)
	b := 0.931 + 2.53*slam
	a := -0.059 + 0.02483*b
	invalpha := 1.1239 + 1.1328/(b-3.4)
	vr := 0.9277 - 3.6224/(b-2)
	for {
		u := rng.Float64() - 0.5
		v := rng.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + lam + 0.43)
		if us >= 0.07 && v <= vr {
			return int64(k)
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		lg, _ := math.Lgamma(k + 1)
		if math.Log(v)+math.Log(invalpha)-math.Log(a/(us*us)+b) <= -lam+k*loglam-lg {
			return int64(k)
		}
	}
}

// Print writes the simulation report.
func (r SimResult) Print(w io.Writer, alphaCheck float64) {
	p := r.Params
	n := len(r.Runs)
	aa := p.CanaryErrorRate == p.BaselineErrorRate && p.CanarySlowRate == p.BaselineSlowRate
	fmt.Fprintf(w, "simulated traffic: %g rps, canary share %.3g%%, errors baseline %.3g%% canary %.3g%%, slow baseline %.3g%% canary %.3g%%\n",
		p.RPS, 100*p.CanaryShare, 100*p.BaselineErrorRate, 100*p.CanaryErrorRate, 100*p.BaselineSlowRate, 100*p.CanarySlowRate)
	fmt.Fprintf(w, "analysis: poll every %s for up to %s (%d looks), %d runs, seed %d, alpha per check %.4g\n\n", p.Interval, p.MaxDuration, r.Looks, n, p.Seed, alphaCheck)

	var fails, passes, inconcl int
	var tFail, tAll []time.Duration
	within := 0
	for _, run := range r.Runs {
		switch run.Outcome {
		case Fail:
			fails++
			tFail = append(tFail, run.At)
			if p.Deadline > 0 && run.At <= p.Deadline {
				within++
			}
		case Pass:
			passes++
		default:
			inconcl++
		}
		tAll = append(tAll, run.At)
	}
	label := "detection rate"
	if aa {
		label = "false-fail rate (A/A)"
	}
	fmt.Fprintf(w, "gate (anytime-valid test, looks at every poll):\n")
	fmt.Fprintf(w, "  %-24s %6.2f%%  (%d of %d)   pass %d, inconclusive %d\n", label, pct(fails, n), fails, n, passes, inconcl)
	if p.Deadline > 0 {
		fmt.Fprintf(w, "  %-24s %6.2f%%  (%d of %d)\n", "failed within "+p.Deadline.String(), pct(within, n), within, n)
	}
	if len(tFail) > 0 {
		fmt.Fprintf(w, "  time to fail             p50 %s  p90 %s  p99 %s  max %s\n", quantile(tFail, 0.5), quantile(tFail, 0.9), quantile(tFail, 0.99), quantile(tFail, 1))
	}
	fmt.Fprintf(w, "  time to any decision     p50 %s  p90 %s  p99 %s\n", quantile(tAll, 0.5), quantile(tAll, 0.9), quantile(tAll, 0.99))
	reasons := map[string]int{}
	for _, run := range r.Runs {
		if run.Outcome == Fail {
			reasons[firstCheck(run.Reason)]++
		}
	}
	if len(reasons) > 0 {
		keys := make([]string, 0, len(reasons))
		for k := range reasons {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		fmt.Fprintf(w, "  failed first by         ")
		for _, k := range keys {
			fmt.Fprintf(w, " %s %d", k, reasons[k])
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintf(w, "\nnaive check (fail when canary error ratio over the last %s > %g x baseline + %g, at every poll):\n", p.NaiveWindow, p.NaiveFactor, p.NaiveSlack)
	naiveLabel := "detection"
	if aa {
		naiveLabel = "false alarms"
	}
	fmt.Fprintf(w, "  %-12s after looks:", naiveLabel)
	for _, k := range lookMarks(r.Looks) {
		c := 0
		for _, run := range r.Runs {
			if run.NaiveFailLook > 0 && run.NaiveFailLook <= k {
				c++
			}
		}
		fmt.Fprintf(w, "  %d: %.1f%%", k, pct(c, n))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  %-12s after looks:", "gate")
	for _, k := range lookMarks(r.Looks) {
		c := 0
		for _, run := range r.Runs {
			if run.Outcome == Fail && run.Looks <= k {
				c++
			}
		}
		fmt.Fprintf(w, "  %d: %.1f%%", k, pct(c, n))
	}
	fmt.Fprintln(w)
}

func firstCheck(reason string) string {
	const pre = "regression shown: "
	if len(reason) > len(pre) {
		s := reason[len(pre):]
		for i, ch := range s {
			if ch == ':' {
				return s[:i]
			}
		}
	}
	return "?"
}

func lookMarks(looks int) []int {
	var out []int
	for _, k := range []int{1, 10, 30, 60, 120, 300, 600, 1200, 3600} {
		if k < looks {
			out = append(out, k)
		}
	}
	return append(out, looks)
}

func pct(k, n int) float64 {
	if n == 0 {
		return 0
	}
	return 100 * float64(k) / float64(n)
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}
