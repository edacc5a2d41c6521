package stats

import "math"

// This file holds the tests the gate uses to show that a canary is no
// worse ("non-inferiority"): they weigh the requests without an error, not
// only the errors, so a canary that fails nothing gathers evidence too.
//
// Both work with the Poisson likelihood ratio (λ/ρ)^k e^{−(λ−ρ)m} for k
// events in m requests. For Bernoulli data (each request fails or not) it
// is still a nonnegative supermartingale under the null: with P(fail) = p,
// E[(λ/ρ)^X e^{−(λ−ρ)}] = e^{ρ−λ}(1 − p + pλ/ρ) ≤ e^{ρ−λ} e^{p(λ/ρ−1)}, which
// is at most 1 when p = ρ and, for λ < ρ, for every p ≥ ρ. So counts of
// requests and errors can be fed poll by poll, in batches of any size.

// LogPoissonMixtureBF returns ln of the Bayes factor of k events in an
// exposure of n (requests) for "rate = p" against a Gamma(shape, rate)
// mixture of rates:
//
//	BF(p) = ∫ (λ/p)^k e^{−(λ−p)n} Gamma(λ; shape, rate) dλ
//	      = rate^shape Γ(shape+k) / (Γ(shape) (rate+n)^(shape+k)) / (p^k e^{−pn})
//
// It is a test martingale for every fixed p, so {p : BF(p) < 1/α} is an
// anytime-valid confidence sequence for the rate (Robbins' method of
// mixtures).
func LogPoissonMixtureBF(k, n, p, shape, rate float64) float64 {
	if p <= 0 {
		if k > 0 {
			return math.Inf(1)
		}
		p = 0
	}
	lgk, _ := math.Lgamma(shape + k)
	lg, _ := math.Lgamma(shape)
	c := shape*math.Log(rate) + lgk - lg - (shape+k)*math.Log(rate+n)
	if k > 0 {
		c -= k * math.Log(p)
	}
	return c + p*n
}

// RateLowerBound returns an anytime-valid lower confidence bound for the
// rate of events per request: the chance that it is ever above the true
// rate, however often it is computed, is at most alpha. It is the lower end
// of the confidence sequence of LogPoissonMixtureBF, found by bisection on
// ln p (the Bayes factor is convex in p with its minimum at k/n).
func RateLowerBound(k, n, alpha, shape, rate float64) float64 {
	if k <= 0 || n <= 0 {
		return 0
	}
	thr := Threshold(alpha)
	// ln BF(p) = c − k ln p + p n with c free of p.
	c := LogPoissonMixtureBF(k, n, 1, shape, rate) - n
	logBF := func(lp float64) float64 { return c - k*lp + math.Exp(lp)*n }
	lmle := math.Log(k / n)
	if logBF(lmle) >= thr {
		return k / n // cannot happen with sane priors; the safe answer
	}
	lo, hi := lmle-60, lmle // BF(e^lo) is huge, BF(e^hi) below thr
	for range 60 {
		mid := (lo + hi) / 2
		if logBF(mid) >= thr {
			lo = mid
		} else {
			hi = mid
		}
	}
	return math.Exp(lo)
}

// RateUpperBound is the upper end of the same confidence sequence: the
// chance that it is ever below the true rate is at most alpha.
func RateUpperBound(k, n, alpha, shape, rate float64) float64 {
	if n <= 0 {
		return math.Inf(1)
	}
	thr := Threshold(alpha)
	mle := k / n
	lo := math.Max(mle, 1e-300)
	if LogPoissonMixtureBF(k, n, lo, shape, rate) >= thr {
		return lo
	}
	hi := math.Max(2*lo, (k+10)/n)
	for LogPoissonMixtureBF(k, n, hi, shape, rate) < thr {
		hi *= 2
	}
	for range 80 {
		mid := (lo + hi) / 2
		if LogPoissonMixtureBF(k, n, mid, shape, rate) >= thr {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// BelowBound is the evidence that a rate of events per request lies below
// a bound ρ that may move from one batch to the next (the gate's ρ is
// tolerance × a lower confidence bound of the baseline's rate + a floor).
// It multiplies, batch by batch, Poisson likelihood ratios of a rate λ
// estimated from the batches before (predictable, so the product is a
// supermartingale whenever the true rate is at least ρ in every batch)
// against ρ. The rate of growth approaches the Kullback-Leibler divergence
// of the true rate from ρ once λ has learned it ("predictable plug-in",
// Waudby-Smith & Ramdas, JRSS-B 2024).
type BelowBound struct {
	LogE float64 // ln of the evidence
	K, N float64 // events and requests fed so far
}

// Update feeds one batch of k events in m requests against the bound rho,
// which must be fixed before the batch is looked at.
func (b *BelowBound) Update(k, m, rho float64) {
	if m <= 0 {
		return
	}
	if rho > 0 && !math.IsInf(rho, 1) {
		// One pseudo-event in 2/ρ pseudo-requests: a start at ρ/2, so the
		// first batches bet on "below", and little is lost while λ learns.
		lam := (b.K + 1) / (b.N + 2/rho)
		if lam < rho {
			b.LogE += k*math.Log(lam/rho) - (lam-rho)*m
		}
	}
	b.K += k
	b.N += m
}
