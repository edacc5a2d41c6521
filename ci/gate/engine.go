package gate

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/obsshort/shortener/ci/gate/stats"
)

// Outcome is the gate's decision.
type Outcome string

// The outcomes; Running means "keep polling".
const (
	Pass         Outcome = "pass"
	Fail         Outcome = "fail"
	Inconclusive Outcome = "inconclusive"
	Running      Outcome = "running"
)

// ExitCode maps an outcome to the process exit code CI acts on. Anything
// but a pass or a fail (including an unfinished analysis) is inconclusive,
// which the pipeline treats as a rollback.
func (o Outcome) ExitCode() int {
	switch o {
	case Pass:
		return ExitPass
	case Fail:
		return ExitFail
	default:
		return ExitInconclusive
	}
}

// Arm holds the counts of one arm since the analysis started. Missing
// means the query returned no series at all: that is "no data", never zero.
type Arm struct {
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
	Slow     int64 `json:"slow"`
	Missing  bool  `json:"missing"`
	// NoBuckets: requests were counted, but no bucket series has the
	// latency threshold as its le (Missing is set too).
	NoBuckets bool `json:"no_buckets,omitempty"`
}

// CustomValue is one poll's value of a custom check for both arms.
type CustomValue struct {
	Canary, Baseline       float64
	HasCanary, HasBaseline bool
	CanaryErr, BaselineErr string
}

// Observation is what one poll saw.
type Observation struct {
	Elapsed  time.Duration
	Canary   Arm
	Baseline Arm
	Custom   []CustomValue // aligned with Config.Checks.Custom
	// Final is set on the last poll (the maximum duration ran out).
	Final bool
}

// CheckResult is the state of one check after a poll.
type CheckResult struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Status string `json:"status"` // ok, fail, waiting, non-inferior, off, no-data
	// Evidence is the Bayes factor for a regression (sequential checks),
	// Threshold the value at which the check fails (1/α_check).
	Evidence     float64 `json:"evidence,omitempty"`
	PassEvidence float64 `json:"pass_evidence,omitempty"`
	Threshold    float64 `json:"threshold,omitempty"`
	Detail       string  `json:"detail"`
}

// Verdict is the engine's answer after a poll.
type Verdict struct {
	Outcome  Outcome       `json:"outcome"`
	Reason   string        `json:"reason"`
	Waiting  string        `json:"waiting,omitempty"`
	Elapsed  time.Duration `json:"-"`
	Canary   Arm           `json:"canary"`
	Baseline Arm           `json:"baseline"`
	Share    float64       `json:"observed_canary_share"`
	Checks   []CheckResult `json:"checks"`
}

// Engine turns observations into decisions. It is pure apart from the
// per-check streak counters of custom checks, so `gate simulate` runs the
// very code `gate analyze` runs.
type Engine struct {
	cfg         Config
	alphaCheck  float64
	threshold   float64 // ln(1/α_check)
	numTests    int
	customBad   []int  // consecutive polls a custom check was bad
	customSeen  []bool // a custom check ever had data for both arms
	canaryLabel string
}

// NewEngine prepares an engine; cfg must be valid.
func NewEngine(cfg Config) *Engine {
	n := 0
	if cfg.Checks.Errors.Enabled {
		n++
	}
	if cfg.Checks.Latency.Enabled {
		n++
	}
	if cfg.Checks.Guardrail.Enabled {
		n += 2 // errors and slow requests
	}
	a := stats.Bonferroni(cfg.Analysis.Alpha, n)
	return &Engine{
		cfg:         cfg,
		alphaCheck:  a,
		threshold:   stats.Threshold(a),
		numTests:    n,
		customBad:   make([]int, len(cfg.Checks.Custom)),
		customSeen:  make([]bool, len(cfg.Checks.Custom)),
		canaryLabel: normalizeSelector(cfg.Selectors.Canary),
	}
}

// AlphaPerCheck is the significance each statistical check gets.
func (e *Engine) AlphaPerCheck() float64 { return e.alphaCheck }

// Evaluate decides after one poll.
func (e *Engine) Evaluate(o Observation) Verdict {
	v := Verdict{Outcome: Running, Elapsed: o.Elapsed, Canary: o.Canary, Baseline: o.Baseline}
	total := o.Canary.Requests + o.Baseline.Requests
	if total > 0 {
		v.Share = float64(o.Canary.Requests) / float64(total)
	}
	bothArms := o.Canary.Requests > 0 && o.Baseline.Requests > 0
	c := e.cfg.Analysis.Concentration
	thr := 1 / e.alphaCheck

	var fails []string
	nonInferior, wantNonInferior := 0, 0
	comparative := func(name, what string, cc Comparative, yc, yb int64) {
		r := CheckResult{Name: name, Kind: "sequential", Threshold: thr}
		if !bothArms {
			r.Status, r.Detail = "waiting", "needs requests on both arms"
			v.Checks = append(v.Checks, r)
			return
		}
		// Given the observed split, under "no regression" an event lands on
		// the canary with probability NullShare; the test asks whether more
		// of them land there.
		p0 := stats.NullShare(v.Share, cc.Margin)
		lbf := stats.LogBF(yc, yc+yb, p0, c, stats.Greater)
		r.Evidence = math.Exp(lbf)
		rc := ratio(yc, o.Canary.Requests)
		rb := ratio(yb, o.Baseline.Requests)
		r.Detail = fmt.Sprintf("canary %d/%d %s (%.3g%%), baseline %d/%d (%.3g%%)", yc, o.Canary.Requests, what, 100*rc, yb, o.Baseline.Requests, 100*rb)
		r.Status = "ok"
		if lbf >= e.threshold {
			r.Status = "fail"
			fails = append(fails, fmt.Sprintf("%s: canary %s ratio %.3g%% vs baseline %.3g%% (%d vs %d events), Bayes factor %.3g >= %.3g", name, what, 100*rc, 100*rb, yc, yb, r.Evidence, thr))
		} else if cc.Tolerance > 0 {
			wantNonInferior++
			lp := stats.LogBF(yc, yc+yb, stats.NullShare(v.Share, cc.Tolerance), c, stats.Less)
			r.PassEvidence = math.Exp(lp)
			if lp >= e.threshold {
				r.Status = "non-inferior"
				nonInferior++
			}
		}
		v.Checks = append(v.Checks, r)
	}
	guard := func(name, what string, k, n int64, limit float64) {
		r := CheckResult{Name: name, Kind: "guardrail", Threshold: thr}
		if n == 0 {
			r.Status, r.Detail = "waiting", "no canary requests yet"
			v.Checks = append(v.Checks, r)
			return
		}
		// Tests "canary ratio <= limit" on the canary alone, so a canary
		// that is plainly broken fails fast, with no baseline needed, yet
		// never on one unlucky request.
		lbf := stats.LogBF(k, n, limit, c, stats.Greater)
		r.Evidence = math.Exp(lbf)
		r.Detail = fmt.Sprintf("canary %d/%d %s (%.3g%%), limit %.3g%%", k, n, what, 100*ratio(k, n), 100*limit)
		r.Status = "ok"
		if lbf >= e.threshold {
			r.Status = "fail"
			fails = append(fails, fmt.Sprintf("%s: canary %s ratio %.3g%% (%d of %d) is above the guardrail %.3g%%, Bayes factor %.3g >= %.3g", name, what, 100*ratio(k, n), k, n, 100*limit, r.Evidence, thr))
		}
		v.Checks = append(v.Checks, r)
	}

	ck := e.cfg.Checks
	if ck.Errors.Enabled {
		comparative("errors", "5xx", ck.Errors, o.Canary.Errors, o.Baseline.Errors)
	}
	if ck.Latency.Enabled {
		comparative("latency", fmt.Sprintf("slower than %gs", e.cfg.SLO.LatencyThreshold), ck.Latency, o.Canary.Slow, o.Baseline.Slow)
	}
	if ck.Guardrail.Enabled {
		guard("error-guardrail", "5xx", o.Canary.Errors, o.Canary.Requests, math.Min(0.99, ck.Guardrail.BudgetMultiple*e.cfg.SLO.ErrorBudget))
		guard("latency-guardrail", "slow", o.Canary.Slow, o.Canary.Requests, math.Min(0.99, ck.Guardrail.BudgetMultiple*e.cfg.SLO.LatencyBudget))
	}

	// Traffic split: a canary that gets no traffic, or far too much or too
	// little, cannot pass.
	split := CheckResult{Name: "traffic-split", Kind: "split", Status: "ok"}
	splitOff := ""
	switch {
	case o.Canary.NoBuckets || o.Baseline.NoBuckets:
		split.Status = "no-data"
		arm, sel := "canary", e.canaryLabel
		if !o.Canary.NoBuckets {
			arm, sel = "baseline", normalizeSelector(e.cfg.Selectors.Baseline)
		}
		splitOff = fmt.Sprintf("no %s_bucket series with %s for %s (selector {%s}): slo.latency_threshold %g must be one of the histogram's bucket boundaries (the le values Prometheus has), or slow requests cannot be counted",
			e.cfg.Metric, leMatcher(e.cfg.SLO.LatencyThreshold), arm, sel, e.cfg.SLO.LatencyThreshold)
	case o.Canary.Missing:
		split.Status = "no-data"
		splitOff = fmt.Sprintf("no series for canary (selector {%s}): the query returned nothing, which is not read as zero", e.canaryLabel)
	case o.Baseline.Missing:
		split.Status = "no-data"
		splitOff = fmt.Sprintf("no series for baseline (selector {%s})", normalizeSelector(e.cfg.Selectors.Baseline))
	case o.Canary.Requests == 0:
		split.Status = "waiting"
		splitOff = "the canary served no requests"
	case e.cfg.Analysis.CanaryShare > 0 && total >= 100:
		want, tol := e.cfg.Analysis.CanaryShare, e.cfg.Analysis.ShareTolerance
		if math.Abs(v.Share-want) > tol*want {
			split.Status = "off"
			splitOff = fmt.Sprintf("canary share %.3g%% is outside %.3g%% ± %.0f%%", 100*v.Share, 100*want, 100*tol)
		}
	}
	split.Detail = fmt.Sprintf("canary %d, baseline %d requests, share %.3g%%", o.Canary.Requests, o.Baseline.Requests, 100*v.Share)
	if e.cfg.Analysis.CanaryShare > 0 {
		split.Detail += fmt.Sprintf(" (expected %.3g%%)", 100*e.cfg.Analysis.CanaryShare)
	}
	if splitOff != "" {
		split.Detail = splitOff + "; " + split.Detail
	}
	v.Checks = append(v.Checks, split)

	// Custom checks: plain comparisons, failing after `for` bad polls in a
	// row. They are not covered by the false-alarm bound of the tests above.
	customNoData := []string{}
	customPending := false
	for i, cc := range ck.Custom {
		r := CheckResult{Name: cc.Name, Kind: "custom"}
		var cv CustomValue
		if i < len(o.Custom) {
			cv = o.Custom[i]
		}
		needBase := cc.Tolerance != nil
		if !cv.HasCanary || (needBase && !cv.HasBaseline) {
			e.customBad[i] = 0
			r.Status = "no-data"
			r.Detail = "no series for canary"
			if cv.HasCanary {
				r.Detail = "no series for baseline"
			}
			if cv.CanaryErr != "" || cv.BaselineErr != "" {
				r.Detail = strings.TrimSpace(cv.CanaryErr + " " + cv.BaselineErr)
			}
			if !e.customSeen[i] {
				customNoData = append(customNoData, cc.Name)
			}
			v.Checks = append(v.Checks, r)
			continue
		}
		e.customSeen[i] = true
		limit := 0.0
		if cc.Threshold != nil {
			limit = *cc.Threshold
		} else if cc.Direction == HigherIsWorse {
			limit = cv.Baseline * (1 + *cc.Tolerance)
		} else {
			limit = cv.Baseline * (1 - *cc.Tolerance)
		}
		bad := cv.Canary > limit
		if cc.Direction == LowerIsWorse {
			bad = cv.Canary < limit
		}
		if bad {
			e.customBad[i]++
		} else {
			e.customBad[i] = 0
		}
		need := max(cc.For, 1)
		r.Detail = fmt.Sprintf("canary %.4g, limit %.4g (%s), bad %d of %d polls in a row", cv.Canary, limit, cc.Direction, e.customBad[i], need)
		r.Status = "ok"
		if e.customBad[i] >= need {
			r.Status = "fail"
			fails = append(fails, fmt.Sprintf("%s: canary value %.4g beyond limit %.4g (%s) for %d polls", cc.Name, cv.Canary, limit, cc.Direction, e.customBad[i]))
		} else if bad {
			customPending = true
		}
		v.Checks = append(v.Checks, r)
	}

	enough := o.Canary.Requests >= e.cfg.Analysis.MinRequests && o.Baseline.Requests >= e.cfg.Analysis.MinRequests
	switch {
	case len(fails) > 0:
		v.Outcome = Fail
		v.Reason = "regression shown: " + strings.Join(fails, "; ")
	case wantNonInferior > 0 && nonInferior == wantNonInferior && enough && splitOff == "" && len(customNoData) == 0 && !customPending:
		v.Outcome = Pass
		v.Reason = fmt.Sprintf("non-inferiority shown for every comparative check (within the tolerance) after %d canary requests", o.Canary.Requests)
	case o.Final:
		var why []string
		if splitOff != "" {
			why = append(why, splitOff)
		}
		if !enough && !o.Canary.Missing && !o.Baseline.Missing {
			why = append(why, fmt.Sprintf("too little traffic: canary %d, baseline %d requests, need %d on each", o.Canary.Requests, o.Baseline.Requests, e.cfg.Analysis.MinRequests))
		}
		for _, n := range customNoData {
			why = append(why, fmt.Sprintf("custom check %s never returned data", n))
		}
		if len(why) > 0 {
			v.Outcome = Inconclusive
			v.Reason = "inconclusive: " + strings.Join(why, "; ")
		} else {
			v.Outcome = Pass
			v.Reason = fmt.Sprintf("no regression shown in %s: canary %d requests (%d 5xx, %d slow), baseline %d requests (%d 5xx, %d slow); strongest evidence %s",
				o.Elapsed.Round(time.Second), o.Canary.Requests, o.Canary.Errors, o.Canary.Slow, o.Baseline.Requests, o.Baseline.Errors, o.Baseline.Slow, e.strongest(v.Checks))
		}
	default:
		var w []string
		if splitOff != "" {
			w = append(w, "a usable traffic split ("+splitOff+")")
		}
		if !enough {
			w = append(w, fmt.Sprintf("%d requests on each arm", e.cfg.Analysis.MinRequests))
		}
		if len(w) == 0 {
			w = append(w, "evidence or the end of the analysis")
		}
		v.Waiting = strings.Join(w, "; ")
	}
	return v
}

// strongest names the check closest to failing.
func (e *Engine) strongest(cs []CheckResult) string {
	best, name := 0.0, ""
	for _, c := range cs {
		if c.Evidence > best {
			best, name = c.Evidence, c.Name
		}
	}
	if name == "" {
		return "none"
	}
	return fmt.Sprintf("%s Bayes factor %.3g of %.3g needed", name, best, 1/e.alphaCheck)
}

func ratio(k, n int64) float64 {
	if n == 0 {
		return 0
	}
	return float64(k) / float64(n)
}
