package gate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/obsshort/shortener/internal/promclient"
	"github.com/prometheus/common/model"
)

// errBadQuery marks a query Prometheus refused as malformed: retrying will
// not help, and it is a configuration error (exit 3).
var errBadQuery = promclient.ErrBadQuery

// counterTracker turns raw counter values into increases since the
// analysis started, per series, with counter resets handled the way
// Prometheus' increase() does (a drop means the process restarted from 0).
//
// Raw differences are used rather than increase(x[<elapsed>]) because
// increase() extrapolates to fractional counts and misses the first value
// of a series born inside the window (the first 500 of a canary creates
// its status="500" series with value 1: increase() would see 0).
type counterTracker struct {
	started bool
	last    map[model.Fingerprint]float64
	inc     map[model.Fingerprint]float64
	metric  map[model.Fingerprint]model.Metric
	ever    bool // any series ever seen
}

func newCounterTracker() *counterTracker {
	return &counterTracker{last: map[model.Fingerprint]float64{}, inc: map[model.Fingerprint]float64{}, metric: map[model.Fingerprint]model.Metric{}}
}

// update feeds one poll. The first call only records where each series
// stands at the analysis start.
func (t *counterTracker) update(v model.Vector) {
	for _, s := range v {
		val := float64(s.Value)
		if math.IsNaN(val) {
			continue
		}
		fp := s.Metric.Fingerprint()
		t.ever = true
		prev, seen := t.last[fp]
		switch {
		case !t.started:
			// value at the start: the baseline of the difference
		case !seen:
			// born after the start: all of it happened during the analysis
			t.inc[fp] += val
		case val >= prev:
			t.inc[fp] += val - prev
		default:
			t.inc[fp] += val // reset
		}
		t.last[fp] = val
		t.metric[fp] = s.Metric
	}
	t.started = true
}

// sum adds the increases of the series that match keep (nil = all).
func (t *counterTracker) sum(keep func(model.Metric) bool) int64 {
	total := 0.0
	for fp, inc := range t.inc {
		if keep == nil || keep(t.metric[fp]) {
			total += inc
		}
	}
	return int64(math.Round(total))
}

var status5xx = regexp.MustCompile(`^5..$`)

const statusLabel = "http_response_status_code"

func is5xx(m model.Metric) bool { return status5xx.MatchString(string(m[statusLabel])) }

// armSource reads one arm's counters.
type armSource struct {
	selector string
	count    *counterTracker
	bucket   *counterTracker
}

// promSource polls the counts of both arms and the custom checks.
type promSource struct {
	c                *promclient.Client
	cfg              Config
	canary, baseline *armSource
	latency          bool
}

func newPromSource(c *promclient.Client, cfg Config) *promSource {
	mk := func(sel string) *armSource {
		return &armSource{selector: normalizeSelector(sel), count: newCounterTracker(), bucket: newCounterTracker()}
	}
	return &promSource{c: c, cfg: cfg, canary: mk(cfg.Selectors.Canary), baseline: mk(cfg.Selectors.Baseline), latency: cfg.latencyChecked()}
}

func withMatcher(sel, extra string) string {
	if sel == "" {
		return extra
	}
	return sel + ", " + extra
}

func (s *promSource) countQuery(a *armSource) string {
	return fmt.Sprintf("%s_count{%s}", s.cfg.Metric, a.selector)
}

func (s *promSource) bucketQuery(a *armSource) string {
	return fmt.Sprintf("%s_bucket{%s}", s.cfg.Metric, withMatcher(a.selector, leMatcher(s.cfg.SLO.LatencyThreshold)))
}

// leMatcher selects the bucket whose upper bound is the threshold.
// Prometheus 3 stores the le of classic histograms in float form (le="1"
// becomes "1.0"), older versions keep it as exposed: where the two
// spellings differ, match both.
func leMatcher(threshold float64) string {
	le := strconv.FormatFloat(threshold, 'g', -1, 64)
	if strings.ContainsAny(le, ".eEIN") {
		return fmt.Sprintf("le=%q", le)
	}
	return fmt.Sprintf(`le=~"%s|%s\\.0"`, le, le)
}

// poll queries both arms at ts. On error nothing is updated, so the next
// successful poll still sees every increase.
func (s *promSource) poll(ctx context.Context, ts time.Time) (Observation, error) {
	var obs Observation
	type result struct {
		arm    *armSource
		count  model.Vector
		bucket model.Vector
	}
	var rs []result
	for _, a := range []*armSource{s.canary, s.baseline} {
		r := result{arm: a}
		var err error
		if r.count, err = s.c.Vector(ctx, s.countQuery(a), ts); err != nil {
			return obs, err
		}
		if s.latency {
			if r.bucket, err = s.c.Vector(ctx, s.bucketQuery(a), ts); err != nil {
				return obs, err
			}
		}
		rs = append(rs, r)
	}
	custom := make([]CustomValue, len(s.cfg.Checks.Custom))
	for i, cc := range s.cfg.Checks.Custom {
		var err error
		if custom[i].Canary, custom[i].HasCanary, custom[i].CanaryErr, err = s.customValue(ctx, cc, s.canary.selector, ts); err != nil {
			return obs, err
		}
		if cc.Tolerance != nil {
			if custom[i].Baseline, custom[i].HasBaseline, custom[i].BaselineErr, err = s.customValue(ctx, cc, s.baseline.selector, ts); err != nil {
				return obs, err
			}
		}
	}
	// All queries succeeded: only now fold them in.
	for _, r := range rs {
		r.arm.count.update(r.count)
		r.arm.bucket.update(r.bucket)
	}
	obs.Custom = custom
	obs.Canary = s.arm(s.canary)
	obs.Baseline = s.arm(s.baseline)
	return obs, nil
}

func (s *promSource) arm(a *armSource) Arm {
	out := Arm{Missing: !a.count.ever}
	out.Requests = a.count.sum(nil)
	out.Errors = a.count.sum(is5xx)
	if s.latency {
		// Slow = all requests − requests within the latency threshold. A
		// missing bucket series would make everything look slow: treat the
		// arm as missing instead.
		if !a.bucket.ever && a.count.ever {
			out.Missing, out.NoBuckets = true, true
		}
		out.Slow = max(0, out.Requests-a.bucket.sum(nil))
	}
	return out
}

// customValue evaluates a custom check for one arm. An empty answer is
// reported as such (has=false), never as zero.
func (s *promSource) customValue(ctx context.Context, cc CustomCheck, selector string, ts time.Time) (val float64, has bool, why string, err error) {
	q, err := renderQuery(cc.Query, selector, s.cfg.SLO.ErrorBudget)
	if err != nil {
		return 0, false, "", fieldErr("checks.custom "+cc.Name+".query", "%v", err)
	}
	vec, err := s.c.Vector(ctx, q, ts)
	if err != nil {
		if errors.Is(err, errBadQuery) {
			return 0, false, "", fieldErr("checks.custom "+cc.Name+".query", "%v", err)
		}
		return 0, false, "", err
	}
	switch {
	case len(vec) == 0:
		return 0, false, fmt.Sprintf("no series for {%s}", selector), nil
	case len(vec) > 1:
		return 0, false, fmt.Sprintf("%d series for {%s}; aggregate the query to one (sum, max, ...)", len(vec), selector), nil
	case math.IsNaN(float64(vec[0].Value)):
		return 0, false, fmt.Sprintf("NaN for {%s} (no traffic?)", selector), nil
	}
	return float64(vec[0].Value), true, "", nil
}
