package gate

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
)

// queries are the PromQL the gate runs for each arm at every poll. They
// keep the labels the checks need and the instance, so a counter reset of
// one process is seen as such; everything else is summed away.
type queries struct {
	canary, baseline armQueries
}

type armQueries struct {
	selector              string
	count, bucket, up, lb string
}

func newQueries(cfg Config) queries {
	mk := func(sel, lbSel string, up bool) armQueries {
		sel = normalizeSelector(sel)
		q := armQueries{
			selector: sel,
			count:    fmt.Sprintf("sum by (instance, %s, %s) (%s_count{%s})", cfg.Labels.Route, cfg.Labels.Status, cfg.Metric, sel),
		}
		if cfg.latencyChecked() {
			q.bucket = fmt.Sprintf("sum by (instance, le) (%s_bucket{%s})", cfg.Metric, sel)
		}
		if up && cfg.Checks.Presence.Enabled {
			q.up = fmt.Sprintf("up{%s}", sel)
		}
		if lb := cfg.Checks.LoadBalancer; lb.Enabled {
			var names []string
			for _, s := range append(slices.Clone(lb.Attempts), lb.Failures...) {
				if m, err := parseSeriesMatcher(s); err == nil && !slices.Contains(names, m.name) {
					names = append(names, m.name)
				}
			}
			q.lb = fmt.Sprintf(`{__name__=~%q, %s}`, strings.Join(names, "|"), normalizeSelector(lbSel))
		}
		return q
	}
	lb := cfg.Checks.LoadBalancer
	return queries{canary: mk(cfg.Selectors.Canary, lb.Canary, true), baseline: mk(cfg.Selectors.Baseline, lb.Baseline, false)}
}

// armSamples are the answers of one arm's queries at one poll.
type armSamples struct {
	count, bucket, up, lb model.Vector
	upQueried             bool
}

// observer turns the raw series of each poll into counts since the
// analysis started. `gate analyze` feeds it instant queries, `gate
// backtest` the steps of range queries and `gate simulate` generated
// series, so all three meet counter resets, stale series and scrape delay
// through the same code.
type observer struct {
	cfg              Config
	canary, baseline *armState
	attempts, fails  []seriesMatcher
}

type armState struct {
	count, bucket, lb *counterTracker
	upSeen            bool
	countSeen         bool
}

func newObserver(cfg Config) *observer {
	mk := func() *armState {
		return &armState{count: newCounterTracker(), bucket: newCounterTracker(), lb: newCounterTracker()}
	}
	ob := &observer{cfg: cfg, canary: mk(), baseline: mk()}
	for _, s := range cfg.Checks.LoadBalancer.Attempts {
		if m, err := parseSeriesMatcher(s); err == nil {
			ob.attempts = append(ob.attempts, m)
		}
	}
	for _, s := range cfg.Checks.LoadBalancer.Failures {
		if m, err := parseSeriesMatcher(s); err == nil {
			ob.fails = append(ob.fails, m)
		}
	}
	return ob
}

// observe folds one poll in. The first call only records where every
// counter stands at the start.
func (ob *observer) observe(c, b armSamples) (Arm, Arm) {
	return ob.arm(ob.canary, c), ob.arm(ob.baseline, b)
}

func (ob *observer) arm(st *armState, s armSamples) Arm {
	st.count.update(s.count)
	st.bucket.update(s.bucket)
	st.lb.update(s.lb)
	cfg := ob.cfg
	out := Arm{Missing: !st.count.ever, Status: map[string]int64{}, Routes: map[string]RouteCounts{}}
	statusL, routeL := model.LabelName(cfg.Labels.Status), model.LabelName(cfg.Labels.Route)
	for fp, inc := range st.count.inc {
		m := st.count.metric[fp]
		n := int64(math.Round(inc))
		code, route := string(m[statusL]), string(m[routeL])
		out.Requests += n
		out.Status[code] += n
		rc := out.Routes[route]
		rc.Requests += n
		if is5xx(code) {
			out.Errors += n
			rc.Errors += n
		}
		out.Routes[route] = rc
	}
	if cfg.latencyChecked() {
		byLE := map[float64]float64{}
		for fp, inc := range st.bucket.inc {
			le, err := strconv.ParseFloat(string(st.bucket.metric[fp]["le"]), 64)
			if err != nil || math.IsInf(le, 1) {
				continue
			}
			byLE[le] += inc
		}
		for le, n := range byLE {
			out.Buckets = append(out.Buckets, Bucket{LE: le, Count: int64(math.Round(n))})
		}
		slices.SortFunc(out.Buckets, func(a, b Bucket) int { return cmpFloat(a.LE, b.LE) })
		within, ok := byLE[cfg.SLO.LatencyThreshold]
		// Slow = all requests − requests within the threshold. A missing
		// bucket would make everything look slow: the arm is missing instead.
		if !ok && st.count.ever && !st.bucket.hasLE(cfg.SLO.LatencyThreshold) {
			out.Missing, out.NoBuckets = true, true
		}
		out.Slow = max(0, out.Requests-int64(math.Round(within)))
	}
	if st.lb.ever {
		lb := &LBCounts{}
		for fp, inc := range st.lb.inc {
			m := st.lb.metric[fp]
			n := int64(math.Round(inc))
			for _, sm := range ob.attempts {
				if sm.matches(m) {
					lb.Attempts += n
				}
			}
			for _, sm := range ob.fails {
				if sm.matches(m) {
					lb.Failures += n
				}
			}
		}
		out.LB = lb
	}
	// Gone: it was there and now is not. A target that was never there is
	// "no series" (Missing), which is inconclusive, not a failure.
	var why []string
	if len(s.count) > 0 {
		st.countSeen = true
	} else if st.countSeen {
		why = append(why, "its request series went stale (no fresh sample: the target stopped answering scrapes or was removed)")
	}
	if s.upQueried {
		down := 0
		for _, u := range s.up {
			if u.Value == 0 {
				down++
			}
		}
		switch {
		case len(s.up) > 0 && down > 0:
			why = append(why, fmt.Sprintf("%d of %d scrape targets down (up == 0)", down, len(s.up)))
		case len(s.up) == 0 && st.upSeen:
			why = append(why, "its scrape target is gone (no up series)")
		}
		if len(s.up) > 0 {
			st.upSeen = true
		}
	}
	out.Absent = strings.Join(why, "; ")
	return out
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var status5xx = regexp.MustCompile(`^5..$`)

func is5xx(code string) bool { return status5xx.MatchString(code) }

// seriesMatcher is a metric name with optional name="value" matchers, as
// written in checks.load_balancer.attempts and failures.
type seriesMatcher struct {
	name   string
	labels map[string]string
}

var (
	seriesMatcherRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?$`)
	labelEqRE       = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"([^"]*)"\s*$`)
)

func parseSeriesMatcher(s string) (seriesMatcher, error) {
	m := seriesMatcherRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return seriesMatcher{}, fmt.Errorf("%q is not a metric name with optional {name=\"value\"} matchers", s)
	}
	sm := seriesMatcher{name: m[1], labels: map[string]string{}}
	if strings.TrimSpace(m[2]) != "" {
		for _, part := range strings.Split(m[2], ",") {
			l := labelEqRE.FindStringSubmatch(part)
			if l == nil {
				return seriesMatcher{}, fmt.Errorf("%q: matcher %q must be name=\"value\"", s, strings.TrimSpace(part))
			}
			sm.labels[l[1]] = l[2]
		}
	}
	return sm, nil
}

func (sm seriesMatcher) matches(m model.Metric) bool {
	if string(m[model.MetricNameLabel]) != sm.name {
		return false
	}
	for k, v := range sm.labels {
		if string(m[model.LabelName(k)]) != v {
			return false
		}
	}
	return true
}

// leMatcher selects the bucket whose upper bound is the threshold, for
// messages and hand-written queries. Prometheus 3 stores the le of classic
// histograms in float form (le="1" becomes "1.0"), older versions keep it
// as exposed: where the two spellings differ, match both.
func leMatcher(threshold float64) string {
	le := strconv.FormatFloat(threshold, 'g', -1, 64)
	if strings.ContainsAny(le, ".eEIN") {
		return fmt.Sprintf("le=%q", le)
	}
	return fmt.Sprintf(`le=~"%s|%s\\.0"`, le, le)
}
