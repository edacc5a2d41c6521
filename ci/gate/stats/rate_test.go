package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The Gamma-Poisson mixture Bayes factor against brute force: integrate
// the likelihood ratio (λ/p)^k e^{−(λ−p)n} against the Gamma density with
// Simpson's rule on a grid wide enough to hold the posterior.
func TestLogPoissonMixtureBFNumeric(t *testing.T) {
	t.Parallel()
	cases := []struct{ k, n, p, shape, rate float64 }{
		{0, 1000, 0.001, 0.5, 500},
		{3, 1000, 0.001, 0.5, 500},
		{25, 10000, 0.002, 1, 1000},
		{12.5, 4000.5, 0.004, 0.5, 50}, // counts deflated by a dispersion factor
		{200, 1000, 0.15, 2, 10},
	}
	for _, c := range cases {
		// ∫ lr(λ) Gamma(λ) dλ with λ = u^(1/a), which turns the density's
		// λ^(a−1) (infinite at 0 for a < 1) into the constant 1/a.
		lg, _ := math.Lgamma(c.shape)
		lr := func(l float64) float64 { return math.Exp(c.k*math.Log(l/c.p) - (l-c.p)*c.n) }
		hi := (c.k + c.shape + 40*math.Sqrt(c.k+c.shape+1)) / (c.n + c.rate)
		f := func(u float64) float64 {
			l := math.Pow(u, 1/c.shape)
			if l == 0 {
				return math.Exp(c.shape*math.Log(c.rate)-lg) / c.shape * lr(1e-300)
			}
			return lr(l) * math.Exp(c.shape*math.Log(c.rate)-c.rate*l-lg) / c.shape
		}
		num := simpson(f, 0, math.Pow(hi, c.shape), 400000)
		near(t, "ln BF", LogPoissonMixtureBF(c.k, c.n, c.p, c.shape, c.rate), math.Log(num), 2e-4)
	}
}

// The Poisson likelihood ratio is a supermartingale for Bernoulli data
// whenever the true probability is at least ρ and λ < ρ: summed exactly
// over the binomial distribution of one batch, its expectation is at most 1.
func TestPoissonRatioOnBernoulliData(t *testing.T) {
	t.Parallel()
	for _, m := range []int{1, 10, 300} {
		for _, c := range []struct{ p, rho, lam float64 }{
			{0.01, 0.01, 0.005}, {0.02, 0.01, 0.002}, {0.5, 0.3, 0.1}, {0.3, 0.3, 0.29},
		} {
			sum := 0.0
			for k := 0; k <= m; k++ {
				sum += math.Exp(logBinomPMF(k, m, c.p) + float64(k)*math.Log(c.lam/c.rho) - (c.lam-c.rho)*float64(m))
			}
			if sum > 1+1e-9 {
				t.Errorf("m=%d %+v: E[ratio] = %.9f > 1", m, c, sum)
			}
		}
	}
}

// RateLowerBound and RateUpperBound are the ends of {p : BF(p) < 1/α}: at
// each end the Bayes factor equals 1/α, just inside it is below, just
// outside above.
func TestRateBoundsAreTheRoots(t *testing.T) {
	t.Parallel()
	const alpha = 0.025
	for _, c := range []struct{ k, n float64 }{{5, 1000}, {40, 20000}, {700, 1e6}, {3.5, 800.2}} {
		lo := RateLowerBound(c.k, c.n, alpha, 0.5, 500)
		hi := RateUpperBound(c.k, c.n, alpha, 0.5, 500)
		if !(lo < c.k/c.n && c.k/c.n < hi) {
			t.Fatalf("%+v: bounds %g, %g do not hold the estimate %g", c, lo, hi, c.k/c.n)
		}
		for _, p := range []float64{lo, hi} {
			near(t, "ln BF at a bound", LogPoissonMixtureBF(c.k, c.n, p, 0.5, 500), Threshold(alpha), 1e-6)
		}
		if LogPoissonMixtureBF(c.k, c.n, lo*1.01, 0.5, 500) >= Threshold(alpha) || LogPoissonMixtureBF(c.k, c.n, lo*0.99, 0.5, 500) < Threshold(alpha) {
			t.Errorf("%+v: the lower bound %g is not where the Bayes factor crosses 1/α", c, lo)
		}
	}
	if RateLowerBound(0, 1000, alpha, 0.5, 500) != 0 {
		t.Error("no events: the lower bound must be 0")
	}
}

// Coverage, looking after every batch: the lower bound is ever above the
// true rate in at most α of the runs.
func TestRateLowerBoundCoverage(t *testing.T) {
	t.Parallel()
	const (
		alpha = 0.05
		runs  = 400
	)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, r := range []float64{0.002, 0.02} {
		miss := 0
		for range runs {
			k, n := 0.0, 0.0
			for range 300 {
				m := 100.0
				for range int(m) {
					if rng.Float64() < r {
						k++
					}
				}
				n += m
				if RateLowerBound(k, n, alpha, 0.5, 500) > r {
					miss++
					break
				}
			}
		}
		if got := float64(miss) / runs; got > alpha+3*math.Sqrt(alpha*(1-alpha)/runs) {
			t.Errorf("rate %g: the lower bound was above the truth in %.3f of runs, want <= %.2f", r, got, alpha)
		}
	}
}

// BelowBound under its null (true rate = ρ) reaches 1/α in at most α of
// the runs however often it is read; with the true rate at half of ρ it
// gets there in most.
func TestBelowBoundSequential(t *testing.T) {
	t.Parallel()
	const (
		alpha = 0.05
		runs  = 300
		rho   = 0.01
	)
	rng := rand.New(rand.NewPCG(5, 6))
	rate := func(p float64) float64 {
		hits := 0
		for range runs {
			var b BelowBound
			for range 400 {
				k := 0.0
				for range 100 {
					if rng.Float64() < p {
						k++
					}
				}
				b.Update(k, 100, rho)
				if b.LogE >= Threshold(alpha) {
					hits++
					break
				}
			}
		}
		return float64(hits) / runs
	}
	if got := rate(rho); got > alpha+3*math.Sqrt(alpha*(1-alpha)/runs) {
		t.Errorf("false 'below' rate %.3f at p = ρ, want <= %.2f", got, alpha)
	}
	if got := rate(1.1 * rho); got > alpha {
		t.Errorf("false 'below' rate %.3f at p above ρ, want <= %.2f", got, alpha)
	}
	if got := rate(rho / 2); got < 0.9 {
		t.Errorf("'below' shown in %.3f of runs at p = ρ/2 after 40000 requests, want >= 0.9", got)
	}
}

func TestLogBFCountsMatchesIntegerAndIntegral(t *testing.T) {
	t.Parallel()
	near(t, "integer counts", LogBFCounts(7, 20, 0.1, 10, Greater), LogBF(7, 20, 0.1, 10, Greater), 1e-15)
	// fractional counts (deflated by dispersion) against the integral
	y, n, p0, c := 6.4, 18.3, 0.1, 10.0
	a, b := c*p0, c*(1-p0)
	lb := LogBeta(a, b)
	prior := func(p float64) float64 { return math.Exp((a-1)*math.Log(p) + (b-1)*math.Log1p(-p) - lb) }
	lr := func(p float64) float64 { return math.Exp(y*math.Log(p/p0) + (n-y)*math.Log((1-p)/(1-p0))) }
	num := simpson(func(p float64) float64 { return lr(p) * prior(p) }, p0, 1-1e-12, 400000)
	den := simpson(prior, p0, 1-1e-12, 400000)
	near(t, "fractional counts", LogBFCounts(y, n, p0, c, Greater), math.Log(num/den), 1e-5)
}
