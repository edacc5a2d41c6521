package gate

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/obsshort/shortener/ci/gate/stats"
)

// round is one evaluation: the observation, the verdict being built, and
// what the checks found.
type round struct {
	e        *Engine
	o        Observation
	v        *Verdict
	bothArms bool
	fails    []string // regressions shown
	notYet   []string // what keeps the canary from passing
}

// Evaluate decides after one poll. Observations carry counts since the
// analysis started; the engine takes what changed since the previous
// observation as one interval (for the dispersion of the counts and the
// non-inferiority evidence), so feed every poll, in order.
//
// fail: any check showed a regression, or the canary vanished.
// pass: every comparative check showed the canary no worse than the
// baseline within its tolerance, with enough traffic and a sane split.
// inconclusive: neither by the maximum duration.
func (e *Engine) Evaluate(o Observation) Verdict {
	v := Verdict{Outcome: Running, Elapsed: o.Elapsed, Canary: o.Canary, Baseline: o.Baseline}
	total := o.Canary.Requests + o.Baseline.Requests
	if total > 0 {
		v.Share = float64(o.Canary.Requests) / float64(total)
	}
	r := &round{e: e, o: o, v: &v, bothArms: o.Canary.Requests > 0 && o.Baseline.Requests > 0}
	ck := e.cfg.Checks
	if ck.Errors.Enabled {
		r.errors()
	}
	if ck.Latency.Enabled {
		r.latency()
	}
	if ck.Status.Enabled {
		r.statusMix()
	}
	if ck.Routes.Enabled {
		r.routes()
	}
	if ck.LoadBalancer.Enabled {
		r.loadBalancer()
	}
	if ck.Guardrail.Enabled {
		budgetX := ck.Guardrail.BudgetMultiple
		r.guard("error-guardrail", "5xx", o.Canary.Errors, o.Canary.Requests, math.Min(0.99, budgetX*e.cfg.SLO.ErrorBudget))
		r.guard("latency-guardrail", "slow", o.Canary.Slow, o.Canary.Requests, math.Min(0.99, budgetX*e.cfg.SLO.LatencyBudget))
	}
	vanished := ck.Presence.Enabled && r.presence()
	splitOff := r.split()
	customNoData, customPending := r.custom()

	enough := o.Canary.Requests >= e.cfg.Analysis.MinRequests && o.Baseline.Requests >= e.cfg.Analysis.MinRequests
	switch {
	case len(r.fails) > 0:
		v.Outcome = Fail
		v.Reason = "regression shown: " + strings.Join(r.fails, "; ")
	case vanished:
		v.Outcome = Fail
		v.Reason = "canary vanished: " + o.Canary.Absent + fmt.Sprintf(" for %s (presence grace %s); a canary that disappears never passes", (o.Elapsed-e.goneSince).Round(time.Second), ck.Presence.Grace.D())
	case len(r.notYet) == 0 && enough && splitOff == "" && len(customNoData) == 0 && !customPending && o.Canary.Absent == "":
		v.Outcome = Pass
		v.Reason = fmt.Sprintf("canary shown no worse than baseline within the tolerances after %s: canary %d requests (%d 5xx), baseline %d requests (%d 5xx)",
			o.Elapsed.Round(time.Second), o.Canary.Requests, o.Canary.Errors, o.Baseline.Requests, o.Baseline.Errors)
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
		if o.Canary.Absent != "" {
			why = append(why, "the canary is gone: "+o.Canary.Absent)
		}
		if len(r.notYet) > 0 {
			why = append(why, "not shown no worse in "+o.Elapsed.Round(time.Second).String()+": "+strings.Join(r.notYet, "; ")+" (more traffic or time is needed: see gate plan)")
		}
		v.Outcome = Inconclusive
		v.Reason = "inconclusive: " + strings.Join(why, "; ")
	default:
		var w []string
		if splitOff != "" {
			w = append(w, "a usable traffic split ("+splitOff+")")
		}
		if !enough {
			w = append(w, fmt.Sprintf("%d requests on each arm", e.cfg.Analysis.MinRequests))
		}
		if len(r.notYet) > 0 {
			w = append(w, "evidence of no regression ("+strings.Join(r.notYet, "; ")+")")
		}
		if len(w) == 0 {
			w = append(w, "the custom checks")
		}
		v.Waiting = strings.Join(w, "; ")
	}
	return v
}

func (r *round) thr() float64 { return 1 / r.e.alphaCheck }

func (r *round) errorSpec(c Comparative) *niSpec {
	b := r.e.cfg.SLO.ErrorBudget
	return &niSpec{tolerance: c.Tolerance, floor: c.Floor * b, priorMean: b, alpha: r.e.cfg.Analysis.Alpha}
}

// comparative runs one canary-against-baseline comparison and records
// its result: a regression shown fails it; otherwise it passes once
// non-inferiority is shown.
func (r *round) comparative(name, what string, c *comparison, yc, yb, mc, mb int64, cc Comparative, ns *niSpec) {
	res := CheckResult{Name: name, Kind: "sequential", Threshold: r.thr(), PassThreshold: 2 / ns.alpha}
	c.feed(float64(yc), float64(yb), float64(mc), float64(mb), ns)
	if mc == 0 || mb == 0 {
		res.Status, res.Detail = "waiting", "needs requests on both arms"
		r.notYet = append(r.notYet, name+": no requests on both arms yet")
		r.v.Checks = append(r.v.Checks, res)
		return
	}
	lbf := c.logBF(cc.Margin, r.e.cfg.Analysis.Concentration)
	res.Evidence = math.Exp(lbf)
	res.PassEvidence = math.Exp(c.ni.LogE)
	rc, rb := ratio(yc, mc), ratio(yb, mb)
	res.Detail = fmt.Sprintf("canary %d/%d %s (%.3g%%), baseline %d/%d (%.3g%%); no worse means below %.3g x baseline + %.3g%%; dispersion %.2g",
		yc, mc, what, 100*rc, yb, mb, 100*rb, ns.tolerance, 100*ns.floor, c.phi())
	switch {
	case lbf >= r.e.threshold:
		res.Status = "fail"
		r.fails = append(r.fails, fmt.Sprintf("%s: canary %s ratio %.3g%% vs baseline %.3g%% (%d vs %d), Bayes factor %s >= %s", name, what, 100*rc, 100*rb, yc, yb, fmtBF(res.Evidence), fmtBF(r.thr())))
	case c.niShown(ns.alpha):
		res.Status = "no-worse"
	default:
		res.Status = "ok"
		r.notYet = append(r.notYet, fmt.Sprintf("%s evidence %s of %s", name, fmtBF(res.PassEvidence), fmtBF(res.PassThreshold)))
	}
	r.v.Checks = append(r.v.Checks, res)
}

func (r *round) errors() {
	o, cc := r.o, r.e.cfg.Checks.Errors
	r.comparative("errors", "5xx", &r.e.errs, o.Canary.Errors, o.Baseline.Errors, o.Canary.Requests, o.Baseline.Requests, cc, r.errorSpec(cc))
}

func (r *round) loadBalancer() {
	o, cc := r.o, r.e.cfg.Checks.LoadBalancer
	if o.Canary.LB == nil || o.Baseline.LB == nil {
		res := CheckResult{Name: "load-balancer", Kind: "sequential", Status: "off", Detail: "no load-balancer series for both arms (checks.load_balancer selectors); skipped"}
		if cc.Required {
			res.Status = "no-data"
			r.notYet = append(r.notYet, "load-balancer: no series (checks.load_balancer.required is set)")
		}
		r.v.Checks = append(r.v.Checks, res)
		return
	}
	r.comparative("load-balancer", "failed attempts", &r.e.lb, o.Canary.LB.Failures, o.Baseline.LB.Failures, o.Canary.LB.Attempts, o.Baseline.LB.Attempts, cc.Comparative, r.errorSpec(cc.Comparative))
}

// latency compares the whole distribution: for every bucket boundary from
// min_le up, the share of requests slower than it. A regression at any
// boundary is evidence (the Bayes factors are pooled, so α is not split
// per boundary); no worse means no worse at every boundary.
func (r *round) latency() {
	e, o, cc := r.e, r.o, r.e.cfg.Checks.Latency
	res := CheckResult{Name: "latency", Kind: "sequential", Threshold: r.thr(), PassThreshold: 2 / e.cfg.Analysis.Alpha}
	cb, bb := bucketMap(o.Canary.Buckets), bucketMap(o.Baseline.Buckets)
	var les []float64
	for le := range cb {
		if _, ok := bb[le]; ok && le >= cc.MinLE {
			les = append(les, le)
		}
	}
	slices.Sort(les)
	if len(les) == 0 {
		res.Status, res.Detail = "waiting", fmt.Sprintf("no latency buckets from %gs up on both arms", cc.MinLE)
		r.notYet = append(r.notYet, "latency: no buckets")
		r.v.Checks = append(r.v.Checks, res)
		return
	}
	if e.latPool == nil {
		keys := make([]string, len(les))
		for i, le := range les {
			keys[i] = leKey(le)
		}
		e.latPool = stats.NewPool(keys)
	}
	b := e.cfg.SLO.LatencyBudget
	ns := &niSpec{tolerance: cc.Tolerance, floor: cc.Floor * b, priorMean: b, alpha: e.cfg.Analysis.Alpha, fraction: true}
	logs := map[string]float64{}
	worst, weakest := -1.0, -1.0
	var worstBF, weakestE float64
	for _, le := range les {
		c := e.lat[le]
		if c == nil {
			c = &comparison{}
			e.lat[le] = c
		}
		yc, yb := o.Canary.Requests-cb[le], o.Baseline.Requests-bb[le]
		c.feed(float64(yc), float64(yb), float64(o.Canary.Requests), float64(o.Baseline.Requests), ns)
		if !r.bothArms {
			continue
		}
		l := c.logBF(cc.Margin, e.cfg.Analysis.Concentration)
		logs[leKey(le)] = l
		if worst < 0 || l > worstBF {
			worst, worstBF = le, l
		}
		if !c.niShown(ns.alpha) && (weakest < 0 || c.ni.LogE < weakestE) {
			weakest, weakestE = le, c.ni.LogE
		}
	}
	if !r.bothArms {
		res.Status, res.Detail = "waiting", "needs requests on both arms"
		r.notYet = append(r.notYet, "latency: no requests on both arms yet")
		r.v.Checks = append(r.v.Checks, res)
		return
	}
	lp := e.latPool.LogMean(logs)
	res.Evidence = math.Exp(lp)
	frac := func(arm Arm, m map[float64]int64, le float64) float64 {
		return 100 * ratio(arm.Requests-m[le], arm.Requests)
	}
	res.Detail = fmt.Sprintf("%d boundaries from %gs; most shifted: slower than %gs canary %.3g%%, baseline %.3g%%", len(les), les[0], worst, frac(o.Canary, cb, worst), frac(o.Baseline, bb, worst))
	switch {
	case lp >= e.threshold:
		res.Status = "fail"
		r.fails = append(r.fails, fmt.Sprintf("latency: the canary's latency distribution is shifted up (slower than %gs: canary %.3g%% vs baseline %.3g%%), pooled Bayes factor %s >= %s",
			worst, frac(o.Canary, cb, worst), frac(o.Baseline, bb, worst), fmtBF(res.Evidence), fmtBF(r.thr())))
	case weakest < 0:
		res.Status = "no-worse"
		res.PassEvidence = res.PassThreshold
	default:
		res.Status = "ok"
		res.PassEvidence = math.Exp(weakestE)
		res.Detail += fmt.Sprintf("; not yet shown no worse at %gs", weakest)
		r.notYet = append(r.notYet, fmt.Sprintf("latency evidence %s of %s (slower than %gs)", fmtBF(res.PassEvidence), fmtBF(res.PassThreshold), weakest))
	}
	r.v.Checks = append(r.v.Checks, res)
}

// statusMix fails a canary that answers some status code (5xx aside) more
// often than the baseline does, such as 404 where stable redirects.
func (r *round) statusMix() {
	e, o, cc := r.e, r.o, r.e.cfg.Checks.Status
	res := CheckResult{Name: "status-mix", Kind: "sequential", Threshold: r.thr()}
	codes := unionKeys(o.Canary.Status, o.Baseline.Status)
	codes = slices.DeleteFunc(codes, func(c string) bool { return strings.HasPrefix(c, "5") })
	if e.statusPool == nil && len(codes) > 0 {
		e.statusPool = stats.NewPool(codes)
	}
	logs := map[string]float64{}
	top, topL := "", math.Inf(-1)
	for _, code := range codes {
		c := e.status[code]
		if c == nil {
			c = &comparison{}
			e.status[code] = c
		}
		c.feed(float64(o.Canary.Status[code]), float64(o.Baseline.Status[code]), float64(o.Canary.Requests), float64(o.Baseline.Requests), nil)
		if !r.bothArms {
			continue
		}
		l := c.logBF(cc.Margin, e.cfg.Analysis.Concentration)
		logs[code] = l
		if l > topL {
			top, topL = code, l
		}
	}
	if !r.bothArms || e.statusPool == nil {
		res.Status, res.Detail = "waiting", "needs requests on both arms"
		r.v.Checks = append(r.v.Checks, res)
		return
	}
	lp := e.statusPool.LogMean(logs)
	res.Evidence = math.Exp(lp)
	share := func(a Arm) float64 { return 100 * ratio(a.Status[top], a.Requests) }
	res.Detail = fmt.Sprintf("%d status codes; most over-represented on the canary: %s, canary %.3g%% of requests, baseline %.3g%%", len(codes), top, share(o.Canary), share(o.Baseline))
	res.Status = "ok"
	if lp >= e.threshold {
		res.Status = "fail"
		r.fails = append(r.fails, fmt.Sprintf("status-mix: the canary answers %s to %.3g%% of requests, the baseline to %.3g%%, pooled Bayes factor %s >= %s", top, share(o.Canary), share(o.Baseline), fmtBF(res.Evidence), fmtBF(r.thr())))
	}
	r.v.Checks = append(r.v.Checks, res)
}

// routes judges the 5xx of every route on its own (the share of each
// route's requests the canary served is that route's null), pooling the
// evidence so α holds for all routes together.
func (r *round) routes() {
	e, o := r.e, r.o
	res := CheckResult{Name: "routes", Kind: "sequential", Threshold: r.thr()}
	names := unionKeys(o.Canary.Routes, o.Baseline.Routes)
	if e.routePool == nil && len(names) > 0 {
		e.routePool = stats.NewPool(names)
	}
	logs := map[string]float64{}
	worst := -1
	for _, name := range names {
		c := e.routes[name]
		if c == nil {
			c = &comparison{}
			e.routes[name] = c
		}
		cr, br := o.Canary.Routes[name], o.Baseline.Routes[name]
		c.feed(float64(cr.Errors), float64(br.Errors), float64(cr.Requests), float64(br.Requests), nil)
		rr := RouteResult{Route: name, Canary: cr, Baseline: br, Evidence: 1}
		if cr.Requests > 0 && br.Requests > 0 {
			// bursts hit every route: the dispersion of all 5xx together is
			// the better estimate (the errors check keeps it up to date)
			l := c.logBFPhi(e.cfg.Checks.Errors.Margin, e.cfg.Analysis.Concentration, e.routePhi())
			logs[name] = l
			rr.Evidence = math.Exp(l)
			rr.Fail = l+math.Log(e.routePool.Weight(name)) >= e.threshold
		}
		r.v.Routes = append(r.v.Routes, rr)
		if worst < 0 || rr.Evidence > r.v.Routes[worst].Evidence {
			worst = len(r.v.Routes) - 1
		}
	}
	if e.routePool == nil || !r.bothArms || worst < 0 {
		res.Status, res.Detail = "waiting", "needs requests on both arms"
		r.v.Checks = append(r.v.Checks, res)
		return
	}
	lp := e.routePool.LogMean(logs)
	res.Evidence = math.Exp(lp)
	w := r.v.Routes[worst]
	res.Detail = fmt.Sprintf("%d routes; worst %s: canary %d/%d 5xx, baseline %d/%d", len(names), w.Route, w.Canary.Errors, w.Canary.Requests, w.Baseline.Errors, w.Baseline.Requests)
	res.Status = "ok"
	if lp >= e.threshold {
		res.Status = "fail"
		r.fails = append(r.fails, fmt.Sprintf("routes: route %s fails on the canary: %d of %d requests 5xx, baseline %d of %d, pooled Bayes factor %s >= %s",
			w.Route, w.Canary.Errors, w.Canary.Requests, w.Baseline.Errors, w.Baseline.Requests, fmtBF(res.Evidence), fmtBF(r.thr())))
	}
	r.v.Checks = append(r.v.Checks, res)
}

// guard tests "canary ratio <= limit" on the canary alone, so a canary that
// is plainly broken fails fast, with no baseline needed, yet never on one
// unlucky request.
func (r *round) guard(name, what string, k, n int64, limit float64) {
	res := CheckResult{Name: name, Kind: "guardrail", Threshold: r.thr()}
	if n == 0 {
		res.Status, res.Detail = "waiting", "no canary requests yet"
		r.v.Checks = append(r.v.Checks, res)
		return
	}
	lbf := stats.LogBF(k, n, limit, r.e.cfg.Analysis.Concentration, stats.Greater)
	res.Evidence = math.Exp(lbf)
	res.Detail = fmt.Sprintf("canary %d/%d %s (%.3g%%), limit %.3g%%", k, n, what, 100*ratio(k, n), 100*limit)
	res.Status = "ok"
	if lbf >= r.e.threshold {
		res.Status = "fail"
		r.fails = append(r.fails, fmt.Sprintf("%s: canary %s ratio %.3g%% (%d of %d) is above the guardrail %.3g%%, Bayes factor %s >= %s", name, what, 100*ratio(k, n), k, n, 100*limit, fmtBF(res.Evidence), fmtBF(r.thr())))
	}
	r.v.Checks = append(r.v.Checks, res)
}

// presence reports whether the canary has been gone for longer than the
// grace period: its scrape target down or removed, or its series stale.
func (r *round) presence() bool {
	e, o := r.e, r.o
	res := CheckResult{Name: "presence", Kind: "presence", Status: "ok", Detail: "canary scraped and its series fresh"}
	if o.Canary.Absent == "" {
		e.gone = false
		r.v.Checks = append(r.v.Checks, res)
		return false
	}
	if !e.gone {
		e.gone, e.goneSince = true, o.Elapsed
	}
	gone := o.Elapsed - e.goneSince
	res.Detail = fmt.Sprintf("%s for %s", o.Canary.Absent, gone.Round(time.Second))
	res.Status = "waiting"
	// At the end, a canary gone for less than the grace period (one missed
	// scrape) is not failed; it cannot pass either (Evaluate checks Absent).
	vanished := gone >= e.cfg.Checks.Presence.Grace.D()
	if vanished {
		res.Status = "fail"
	}
	r.v.Checks = append(r.v.Checks, res)
	return vanished
}

// split checks the traffic split: a canary that gets no traffic, or far
// too much or too little, cannot pass. It returns why it is off.
func (r *round) split() string {
	e, o, v := r.e, r.o, r.v
	total := o.Canary.Requests + o.Baseline.Requests
	res := CheckResult{Name: "traffic-split", Kind: "split", Status: "ok"}
	off := ""
	switch {
	case o.Canary.NoBuckets || o.Baseline.NoBuckets:
		res.Status = "no-data"
		arm, sel := "canary", e.canaryLabel
		if !o.Canary.NoBuckets {
			arm, sel = "baseline", normalizeSelector(e.cfg.Selectors.Baseline)
		}
		off = fmt.Sprintf("no %s_bucket series with %s for %s (selector {%s}): slo.latency_threshold %g must be one of the histogram's bucket boundaries (the le values Prometheus has), or slow requests cannot be counted",
			e.cfg.Metric, leMatcher(e.cfg.SLO.LatencyThreshold), arm, sel, e.cfg.SLO.LatencyThreshold)
	case o.Canary.Missing:
		res.Status = "no-data"
		off = fmt.Sprintf("no series for canary (selector {%s}): the query returned nothing, which is not read as zero", e.canaryLabel)
	case o.Baseline.Missing:
		res.Status = "no-data"
		off = fmt.Sprintf("no series for baseline (selector {%s})", normalizeSelector(e.cfg.Selectors.Baseline))
	case o.Canary.Requests == 0:
		res.Status = "waiting"
		off = "the canary served no requests"
	case e.cfg.Analysis.CanaryShare > 0 && total >= 100:
		want, tol := e.cfg.Analysis.CanaryShare, e.cfg.Analysis.ShareTolerance
		if math.Abs(v.Share-want) > tol*want {
			res.Status = "off"
			off = fmt.Sprintf("canary share %.3g%% is outside %.3g%% ± %.0f%%", 100*v.Share, 100*want, 100*tol)
		}
	}
	res.Detail = fmt.Sprintf("canary %d, baseline %d requests, share %.3g%%", o.Canary.Requests, o.Baseline.Requests, 100*v.Share)
	if e.cfg.Analysis.CanaryShare > 0 {
		res.Detail += fmt.Sprintf(" (expected %.3g%%)", 100*e.cfg.Analysis.CanaryShare)
	}
	if off != "" {
		res.Detail = off + "; " + res.Detail
	}
	v.Checks = append(v.Checks, res)
	return off
}

// custom runs the custom checks: plain comparisons, failing after `for`
// bad polls in a row. They are not covered by the false-alarm bound.
func (r *round) custom() (noData []string, pending bool) {
	e, o := r.e, r.o
	for i, cc := range e.cfg.Checks.Custom {
		res := CheckResult{Name: cc.Name, Kind: "custom"}
		var cv CustomValue
		if i < len(o.Custom) {
			cv = o.Custom[i]
		}
		needBase := cc.Tolerance != nil
		if !cv.HasCanary || (needBase && !cv.HasBaseline) {
			e.customBad[i] = 0
			res.Status = "no-data"
			res.Detail = "no series for canary"
			if cv.HasCanary {
				res.Detail = "no series for baseline"
			}
			if cv.CanaryErr != "" || cv.BaselineErr != "" {
				res.Detail = strings.TrimSpace(cv.CanaryErr + " " + cv.BaselineErr)
			}
			if !e.customSeen[i] {
				noData = append(noData, cc.Name)
			}
			r.v.Checks = append(r.v.Checks, res)
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
		res.Detail = fmt.Sprintf("canary %.4g, limit %.4g (%s), bad %d of %d polls in a row", cv.Canary, limit, cc.Direction, e.customBad[i], need)
		res.Status = "ok"
		if e.customBad[i] >= need {
			res.Status = "fail"
			r.fails = append(r.fails, fmt.Sprintf("%s: canary value %.4g beyond limit %.4g (%s) for %d polls", cc.Name, cv.Canary, limit, cc.Direction, e.customBad[i]))
		} else if bad {
			pending = true
		}
		r.v.Checks = append(r.v.Checks, res)
	}
	return noData, pending
}

// routePhi is the dispersion the per-route tests use: that of all 5xx,
// measured by the errors check (1 when that check is off).
func (e *Engine) routePhi() float64 {
	if e.cfg.Checks.Errors.Enabled {
		return e.errs.split.Phi()
	}
	return 1
}

func bucketMap(bs []Bucket) map[float64]int64 {
	m := make(map[float64]int64, len(bs))
	for _, b := range bs {
		m[b.LE] = b.Count
	}
	return m
}

func leKey(le float64) string { return strconv.FormatFloat(le, 'g', -1, 64) }

func unionKeys[V any](a, b map[string]V) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]V{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}
