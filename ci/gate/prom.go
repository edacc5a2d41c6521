package gate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
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

// promSource polls the raw series of both arms and the custom checks.
type promSource struct {
	c   *promclient.Client
	cfg Config
	q   queries
	obs *observer
}

func newPromSource(c *promclient.Client, cfg Config) *promSource {
	return &promSource{c: c, cfg: cfg, q: newQueries(cfg), obs: newObserver(cfg)}
}

// poll queries both arms at ts. On error nothing is updated, so the next
// successful poll still sees every increase.
func (s *promSource) poll(ctx context.Context, ts time.Time) (Observation, error) {
	var obs Observation
	var arms [2]armSamples
	for i, sel := range []armQueries{s.q.canary, s.q.baseline} {
		for _, q := range []struct {
			query string
			dst   *model.Vector
		}{{sel.count, &arms[i].count}, {sel.bucket, &arms[i].bucket}, {sel.up, &arms[i].up}, {sel.lb, &arms[i].lb}} {
			if q.query == "" {
				continue
			}
			v, err := s.c.Vector(ctx, q.query, ts)
			if err != nil {
				return obs, err
			}
			*q.dst = v
		}
		arms[i].upQueried = sel.up != ""
	}
	custom := make([]CustomValue, len(s.cfg.Checks.Custom))
	for i, cc := range s.cfg.Checks.Custom {
		var err error
		if custom[i].Canary, custom[i].HasCanary, custom[i].CanaryErr, err = s.customValue(ctx, cc, s.q.canary.selector, ts); err != nil {
			return obs, err
		}
		if cc.Tolerance != nil {
			if custom[i].Baseline, custom[i].HasBaseline, custom[i].BaselineErr, err = s.customValue(ctx, cc, s.q.baseline.selector, ts); err != nil {
				return obs, err
			}
		}
	}
	// All queries succeeded: only now fold them in.
	obs.Canary, obs.Baseline = s.obs.observe(arms[0], arms[1])
	obs.Custom = custom
	return obs, nil
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

// hasLE says whether a bucket series with this upper bound was ever seen.
func (t *counterTracker) hasLE(le float64) bool {
	for _, m := range t.metric {
		if v, err := strconv.ParseFloat(string(m["le"]), 64); err == nil && v == le {
			return true
		}
	}
	return false
}
