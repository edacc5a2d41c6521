package gate

import (
	"math"

	"github.com/obsshort/shortener/ci/gate/stats"
)

// comparison holds the running state of one canary-against-baseline
// comparison of event counts (5xx, load-balancer failures, requests slower
// than one latency boundary, one status code): the totals so far, the
// over-dispersion of the counts, and the non-inferiority evidence, which
// depends on the order in which the polls came.
type comparison struct {
	split          stats.SplitDispersion
	rc, rb         stats.RateDispersion
	ni             stats.BelowBound
	yc, yb, mc, mb float64 // totals fed so far: events and requests per arm
	fed            bool
}

// niSpec says what "no worse" means for a comparison: the canary's rate
// below tolerance × the baseline's rate + floor. Fraction marks rates that
// cannot exceed 1 (a share of requests), so a bound of 1 or more is met by
// any canary.
type niSpec struct {
	tolerance, floor float64
	priorMean        float64 // prior of the baseline rate's confidence sequence
	alpha            float64 // for the whole non-inferiority test
	fraction         bool
}

// bound is ρ for the next poll: tolerance × an anytime-valid lower
// confidence bound of the baseline's rate (at alpha/2) + floor. Using a
// lower bound keeps the test honest while the baseline's rate is still
// uncertain: the canary is held to the smallest baseline rate the data
// allow.
func (c *comparison) bound(ns niSpec) float64 {
	phi := c.rb.Phi()
	lcb := stats.RateLowerBound(c.yb/phi, c.mb/phi, ns.alpha/2, 0.5, 0.5/ns.priorMean)
	return ns.tolerance*lcb + ns.floor
}

// feed takes the totals now; what changed since the last feed is one
// interval. The bound of the non-inferiority test is fixed from the
// totals before this interval, as its validity requires.
func (c *comparison) feed(yc, yb, mc, mb float64, ns *niSpec) {
	dyc, dyb := math.Max(0, yc-c.yc), math.Max(0, yb-c.yb)
	dmc, dmb := math.Max(0, mc-c.mc), math.Max(0, mb-c.mb)
	if ns != nil {
		rho := c.bound(*ns)
		if ns.fraction && rho >= 1 {
			rho = math.Inf(1)
		}
		c.rc.Add(dyc, dmc)
		phi := c.rc.Phi()
		c.ni.Update(dyc/phi, dmc/phi, rho)
	} else {
		c.rc.Add(dyc, dmc)
	}
	c.split.Add(dyc, dyb, dmc, dmb)
	c.rb.Add(dyb, dmb)
	c.yc, c.yb, c.mc, c.mb = yc, yb, mc, mb
	c.fed = true
}

// logBF is the evidence that the canary's rate is above margin × the
// baseline's: the Lindon-Malek test on how the events split between the
// arms given the split of requests, with the counts deflated by their
// over-dispersion.
func (c *comparison) logBF(margin, concentration float64) float64 {
	return c.logBFPhi(margin, concentration, c.split.Phi())
}

// logBFPhi is logBF with the dispersion given: a route's few errors say
// little about bursts, the errors of all routes together say more.
func (c *comparison) logBFPhi(margin, concentration, phi float64) float64 {
	if c.mc <= 0 || c.mb <= 0 {
		return 0
	}
	share := c.mc / (c.mc + c.mb)
	return stats.LogBFCounts(c.yc/phi, (c.yc+c.yb)/phi, stats.NullShare(share, margin), concentration, stats.Greater)
}

// niShown reports whether non-inferiority is shown: the evidence reached
// 2/α (α/2 went to the baseline's confidence bound).
func (c *comparison) niShown(alpha float64) bool {
	return c.ni.LogE >= stats.Threshold(alpha/2)
}

// phi is the larger of the two dispersion estimates, for the report.
func (c *comparison) phi() float64 { return math.Max(c.split.Phi(), c.rc.Phi()) }
