// Package stats holds the statistics of the canary gate: the beta function,
// the regularized incomplete beta function, and the anytime-valid
// beta-binomial Bayes factor (Lindon & Malek, "Anytime-valid inference for
// multinomial count data", NeurIPS 2022) that the gate uses to decide.
//
// Everything works in log space: Bayes factors of thousands of errors
// overflow a float64 long before the gate would stop.
package stats

import (
	"math"
)

// LogBeta returns ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a+b) for a, b > 0.
func LogBeta(a, b float64) float64 {
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	return la + lb - lab
}

// LogRegIncBeta returns ln I_x(a, b), the log of the regularized incomplete
// beta function (the CDF at x of a Beta(a, b) variable), for a, b > 0.
//
// It uses the continued fraction of Numerical Recipes (§6.4) on the side of
// x where it converges fast, and stays accurate in the lower tail (where
// I_x is tiny) because there it never subtracts from 1. The upper tail
// 1 − I_x(a, b) is LogRegIncBeta(b, a, 1−x), accurate in the same way.
func LogRegIncBeta(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return math.Inf(-1)
	case x >= 1:
		return 0
	}
	// ln of x^a (1−x)^b / B(a, b), the front factor of the expansion.
	front := a*math.Log(x) + b*math.Log1p(-x) - LogBeta(a, b)
	if x < (a+1)/(a+b+2) {
		return front + math.Log(betaContinuedFraction(a, b, x)) - math.Log(a)
	}
	// I_x(a,b) = 1 − I_{1−x}(b,a); here I_x is at least about one half, so
	// the subtraction loses nothing that matters.
	upper := math.Exp(front + math.Log(betaContinuedFraction(b, a, 1-x)) - math.Log(b))
	return math.Log1p(-upper)
}

// RegIncBeta returns I_x(a, b).
func RegIncBeta(a, b, x float64) float64 { return math.Exp(LogRegIncBeta(a, b, x)) }

// betaContinuedFraction evaluates the continued fraction for I_x(a, b) by
// the modified Lentz method. It needs O(sqrt(max(a, b))) terms, so the
// iteration limit is generous: the gate feeds it counts in the millions.
func betaContinuedFraction(a, b, x float64) float64 {
	const (
		maxIter = 100000
		eps     = 1e-15
		tiny    = 1e-300
	)
	qab, qap, qam := a+b, a+1, a-1
	c, d := 1.0, 1-qab*x/qap
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	// step folds in one term with numerator aa and returns the factor it
	// multiplies h by; tiny keeps d and c away from zero.
	step := func(aa float64) float64 {
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		return d * c
	}
	for m := 1; m <= maxIter; m++ {
		fm := float64(m)
		m2 := 2 * fm
		// Each iteration takes the even term, then the odd one.
		h *= step(fm * (b - fm) * x / ((qam + m2) * (a + m2)))
		del := step(-(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2)))
		h *= del
		if math.Abs(del-1) < eps {
			break
		}
	}
	return h
}
