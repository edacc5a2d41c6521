package stats

import "math"

// Side names the alternative a one-sided test looks for.
type Side int

const (
	// Greater: the success probability is above p0 (the canary is worse).
	Greater Side = iota
	// Less: the success probability is below p0 (non-inferiority shown).
	Less
)

func (s Side) String() string {
	if s == Less {
		return "less"
	}
	return "greater"
}

// DefaultConcentration is the prior concentration c of Beta(c·p0, c·(1−p0)).
// Small c spreads the prior over large effects (a canary that fails 30% of
// its requests is caught after a handful of errors); large c concentrates it
// near p0 (small effects cost fewer samples). 10 meets both simulation
// targets of the README with room to spare.
const DefaultConcentration = 10

// LogBF returns the natural log of the Bayes factor of y successes in n
// Bernoulli trials for the one-sided alternative "p on side of p0" against
// the null "p = p0", with the prior Beta(c·p0, c·(1−p0)) truncated to the
// alternative side:
//
//	BF = ∫_alt p^y (1−p)^(n−y) Beta(p; a, b) dp / P_prior(alt) / (p0^y (1−p0)^(n−y))
//	   = B(a+y, b+n−y)/B(a, b) · P_post(alt)/P_prior(alt) / (p0^y (1−p0)^(n−y))
//
// Evaluated on cumulative counts after every observation this is a mixture
// of likelihood ratios, so under the null it is a nonnegative martingale
// with mean 1, and by Ville's inequality P(sup_t BF_t ≥ 1/α) ≤ α: the gate
// may look after every poll. It stays a supermartingale for every p on the
// null side (p ≤ p0 for Greater): each factor's expectation
// p·q/p0 + (1−p)(1−q)/(1−p0) is linear in p, equals 1 at p0 and grows with p
// when q > p0. So "canary no worse" is tested, not only "exactly equal".
//
// For two arms (Lindon & Malek's multinomial with k = 2), a success is "this
// error landed on the canary", n the errors on both arms and p0 the share of
// requests the canary served: traffic that rises and falls over time cancels.
//
// It returns 0 (no evidence) when n = 0 or p0 is not strictly inside (0, 1).
func LogBF(y, n int64, p0, concentration float64, side Side) float64 {
	return LogBFCounts(float64(y), float64(n), p0, concentration, side)
}

// LogBFCounts is LogBF for counts that need not be whole numbers: the gate
// divides counts by an over-dispersion factor (see Dispersion) before it
// weighs them, so bursty errors count as the fewer independent events
// they are worth. The formula is the same; B and I_x take real arguments.
func LogBFCounts(y, n, p0, concentration float64, side Side) float64 {
	if n <= 0 || p0 <= 0 || p0 >= 1 || y < 0 || y > n {
		return 0
	}
	if concentration <= 0 {
		concentration = DefaultConcentration
	}
	a, b := concentration*p0, concentration*(1-p0)
	fy, fn := y, n
	ap, bp := a+fy, b+fn-fy
	logMarginal := LogBeta(ap, bp) - LogBeta(a, b)
	var logPostAlt, logPriorAlt float64
	if side == Greater {
		// P(p > p0) = 1 − I_p0(a, b) = I_{1−p0}(b, a)
		logPostAlt = LogRegIncBeta(bp, ap, 1-p0)
		logPriorAlt = LogRegIncBeta(b, a, 1-p0)
	} else {
		logPostAlt = LogRegIncBeta(ap, bp, p0)
		logPriorAlt = LogRegIncBeta(a, b, p0)
	}
	logNull := fy*math.Log(p0) + (fn-fy)*math.Log1p(-p0)
	return logMarginal + logPostAlt - logPriorAlt - logNull
}

// Threshold returns ln(1/α): a test rejects its null when LogBF reaches it.
func Threshold(alpha float64) float64 { return -math.Log(alpha) }

// NullShare returns the probability that an error lands on the canary when
// the canary serves the share s of requests and its error ratio is margin
// times the baseline's: s·m / (s·m + 1 − s). With margin 1 it is s itself.
func NullShare(s, margin float64) float64 {
	if margin <= 0 {
		margin = 1
	}
	return s * margin / (s*margin + 1 - s)
}

// Bonferroni splits the significance level α evenly across k checks, so the
// chance that any of them fires on a healthy canary stays at most α.
func Bonferroni(alpha float64, k int) float64 {
	if k < 1 {
		return alpha
	}
	return alpha / float64(k)
}
