package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// LogMean is ln Σ w_k BF_k, computed here by hand; the weights of known
// and new keys never sum to more than 1.
func TestPoolLogMean(t *testing.T) {
	t.Parallel()
	p := NewPool([]string{"a", "b", "c"})
	// a, b, c get 1/4 each; new keys x, y get 1/8 and 1/16 in name order
	logs := map[string]float64{"a": math.Log(8), "b": math.Log(0.5), "y": math.Log(32), "x": math.Log(2)}
	// c unobserved and the 1/16 still kept for new keys count as BF 1
	want := math.Log(0.25*8 + 0.25*0.5 + 0.25*1 + 0.125*2 + 0.0625*32 + 0.0625*1)
	near(t, "ln mean", p.LogMean(logs), want, 1e-12)
	total := 0.0
	for _, k := range []string{"a", "b", "c", "x", "y", "z1", "z2", "z3"} {
		total += p.Weight(k)
	}
	if total > 1+1e-12 {
		t.Errorf("weights sum to %g > 1", total)
	}
	near(t, "nothing observed", NewPool([]string{"a"}).LogMean(nil), math.Log(1), 1e-12)
}

// The pooled evidence of 10 one-sided tests, all under their null, looked
// at after every observation: it reaches 1/α in at most α of the runs
// (Ville), with no Bonferroni split.
func TestPoolSequentialFalseAlarm(t *testing.T) {
	t.Parallel()
	const (
		alpha = 0.05
		runs  = 300
		keys  = 10
		p0    = 0.2
	)
	rng := rand.New(rand.NewPCG(7, 8))
	names := make([]string, keys)
	for i := range names {
		names[i] = string(rune('a' + i))
	}
	hits := 0
	for range runs {
		pool := NewPool(names)
		y, n := make([]float64, keys), make([]float64, keys)
		for range 200 {
			logs := map[string]float64{}
			for j := range keys {
				n[j]++
				if rng.Float64() < p0 {
					y[j]++
				}
				logs[names[j]] = LogBFCounts(y[j], n[j], p0, DefaultConcentration, Greater)
			}
			if pool.LogMean(logs) >= Threshold(alpha) {
				hits++
				break
			}
		}
	}
	if got := float64(hits) / runs; got > alpha+3*math.Sqrt(alpha*(1-alpha)/runs) {
		t.Errorf("pooled false alarms %.3f, want <= %.2f", got, alpha)
	}
}

// Dispersion against data whose over-dispersion is known in closed form.
func TestDispersion(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(9, 10))
	gamma := func(cv float64) float64 { // mean 1, by the sum of exponentials for shape 1/cv² = 4
		s := 0.0
		for range 4 {
			s += -math.Log(1 - rng.Float64())
		}
		return s / 4
	}
	poisson := func(l float64) float64 {
		k, p, L := 0.0, rng.Float64(), math.Exp(-l)
		for p > L {
			k++
			p *= rng.Float64()
		}
		return k
	}
	// Independent counts: φ ≈ 1.
	var rd RateDispersion
	var sd SplitDispersion
	for range 2000 {
		c, b := poisson(2), poisson(18)
		rd.Add(c, 1000)
		sd.Add(c, b, 100, 900)
	}
	if phi := rd.Phi(); phi > 1.15 {
		t.Errorf("Poisson counts: rate dispersion %g, want about 1", phi)
	}
	if phi := sd.Phi(); phi > 1.15 {
		t.Errorf("binomial split: split dispersion %g, want about 1", phi)
	}
	// Gamma-Poisson counts with mean μ and multiplier CV 0.5: variance
	// μ + μ²/4, so φ = 1 + μ/4 = 3 for μ = 8.
	rd = RateDispersion{}
	for range 4000 {
		rd.Add(poisson(8*gamma(0.5)), 1000)
	}
	if phi := rd.Phi(); math.Abs(phi-3) > 0.3 {
		t.Errorf("Gamma-Poisson counts: dispersion %g, want 3", phi)
	}
	// Split with the canary's rate bursty: canary events μc = 2·M, baseline
	// μb = 18; Var(Y − sN) = (1−s)²(μc + μc²/4) + s²μb over s(1−s)(μc+μb):
	// with s = 0.1: (0.81·3 + 0.01·18)/(0.09·20) = 1.45.
	sd = SplitDispersion{}
	for range 8000 {
		sd.Add(poisson(2*gamma(0.5)), poisson(18), 100, 900)
	}
	if phi := sd.Phi(); math.Abs(phi-1.45) > 0.12 {
		t.Errorf("bursty canary split: dispersion %g, want 1.45", phi)
	}
}
