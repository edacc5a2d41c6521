package stats

import "math"

// Errors rarely arrive one by one, independently: a bad pod, a slow
// dependency or a GC pause brings them in bursts, and counts that vary
// more than a binomial or Poisson count would make every test above see
// evidence that is not there (a burst on the canary looks like a
// regression). The gate measures that over-dispersion poll by poll with
// Pearson's statistic (the quasi-likelihood estimate of McCullagh & Nelder,
// "Generalized Linear Models", §4.5) and divides the counts it weighs by it:
// n events with dispersion φ carry the evidence of n/φ independent ones.
// φ is never taken below 1, so independent counts lose nothing.

// SplitDispersion measures the dispersion of how events split between
// canary and baseline, against the binomial split the conditional test
// assumes. Each poll adds the events and requests of both arms in that
// interval; the expected canary share of the interval's events comes from
// the interval's request share and the ratio of the arms' rates so far, so
// a steady regression is fitted, not read as dispersion.
type SplitDispersion struct {
	yc, yb, mc, mb float64 // totals so far
	x2             float64 // Pearson's X²
	df             int     // intervals with events
}

// Add feeds one interval.
func (d *SplitDispersion) Add(yc, yb, mc, mb float64) {
	d.yc, d.yb, d.mc, d.mb = d.yc+yc, d.yb+yb, d.mc+mc, d.mb+mb
	n := yc + yb
	if n <= 0 || mc <= 0 || mb <= 0 {
		return
	}
	theta := ((d.yc + 0.5) / d.mc) / ((d.yb + 0.5) / d.mb)
	s := mc / (mc + mb)
	p := s * theta / (s*theta + 1 - s)
	if p <= 0 || p >= 1 {
		return
	}
	r := yc - n*p
	d.x2 += r * r / (n * p * (1 - p))
	d.df++
}

// Phi returns the dispersion factor, at least 1.
func (d *SplitDispersion) Phi() float64 { return phi(d.x2, d.df) }

// RateDispersion measures the dispersion of one arm's events per interval
// against a Poisson count at the arm's average rate.
type RateDispersion struct {
	k, m float64
	x2   float64
	df   int
}

// Add feeds one interval: k events in m requests.
func (d *RateDispersion) Add(k, m float64) {
	d.k, d.m = d.k+k, d.m+m
	if m <= 0 || d.k <= 0 {
		return
	}
	mu := m * d.k / d.m
	r := k - mu
	d.x2 += r * r / mu
	d.df++
}

// Phi returns the dispersion factor, at least 1.
func (d *RateDispersion) Phi() float64 { return phi(d.x2, d.df) }

// Prior of the estimate: until there are many intervals, assume bursts.
// Early polls are where a burst does most harm (few intervals, so no
// estimate, and a burst makes up much of the evidence), so the estimate
// starts at priorPhi, worth priorDF intervals, and the data take over as
// they come: (X² + priorDF·priorPhi) / (df − 1 + priorDF). With
// independent counts it is back near 1 after a few dozen intervals.
const (
	priorPhi = 2.0
	priorDF  = 4.0
)

func phi(x2 float64, df int) float64 {
	// df−1: one parameter (the rate, or the ratio) is fitted.
	return math.Max(1, (x2+priorDF*priorPhi)/(math.Max(0, float64(df-1))+priorDF))
}
