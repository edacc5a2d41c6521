package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// simpson integrates f over [lo, hi] with n (even) intervals. The tests use
// it as an independent, brute-force reference for the closed forms.
func simpson(f func(float64) float64, lo, hi float64, n int) float64 {
	h := (hi - lo) / float64(n)
	sum := f(lo) + f(hi)
	for i := 1; i < n; i++ {
		w := 2.0
		if i%2 == 1 {
			w = 4
		}
		sum += w * f(lo+float64(i)*h)
	}
	return sum * h / 3
}

// logBinomPMF is ln C(n,k) p^k (1−p)^(n−k), from Lgamma directly.
func logBinomPMF(k, n int, p float64) float64 {
	ln1, _ := math.Lgamma(float64(n + 1))
	lk, _ := math.Lgamma(float64(k + 1))
	lnk, _ := math.Lgamma(float64(n - k + 1))
	return ln1 - lk - lnk + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p)
}

func near(t *testing.T, name string, got, want, relTol float64) {
	t.Helper()
	if math.Abs(got-want) > relTol*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.12g, want %.12g (tolerance %g)", name, got, want, relTol)
	}
}

func TestLogBeta(t *testing.T) {
	t.Parallel()
	// Known closed forms: B(1,1) = 1, B(2,3) = 1!2!/4! = 1/12, B(1/2,1/2) = π.
	near(t, "B(1,1)", math.Exp(LogBeta(1, 1)), 1, 1e-12)
	near(t, "B(2,3)", math.Exp(LogBeta(2, 3)), 1.0/12, 1e-12)
	near(t, "B(.5,.5)", math.Exp(LogBeta(0.5, 0.5)), math.Pi, 1e-12)
	// Non-integer arguments against the defining integral ∫ t^(a−1)(1−t)^(b−1) dt.
	for _, ab := range [][2]float64{{2.5, 3.7}, {1.3, 9}, {7, 1.5}} {
		a, b := ab[0], ab[1]
		want := simpson(func(x float64) float64 { return math.Pow(x, a-1) * math.Pow(1-x, b-1) }, 0, 1, 200000)
		near(t, "B numeric", math.Exp(LogBeta(a, b)), want, 1e-6)
	}
}

func TestRegIncBeta(t *testing.T) {
	t.Parallel()
	// Closed forms: I_x(1,b) = 1−(1−x)^b, I_x(a,1) = x^a, I_x(2,2) = 3x²−2x³.
	for _, x := range []float64{1e-9, 0.01, 0.1, 0.37, 0.5, 0.8, 0.999} {
		near(t, "I(1,7)", RegIncBeta(1, 7, x), 1-math.Pow(1-x, 7), 1e-12)
		near(t, "I(4.5,1)", RegIncBeta(4.5, 1, x), math.Pow(x, 4.5), 1e-12)
		near(t, "I(2,2)", RegIncBeta(2, 2, x), 3*x*x-2*x*x*x, 1e-12)
	}
	// Tail accuracy in log space: ln I_x(1,1) = ln x even for x = 1e-200,
	// where 1 − (something near 1) would give −Inf.
	near(t, "ln I_1e-200(1,1)", LogRegIncBeta(1, 1, 1e-200), math.Log(1e-200), 1e-12)
	// Non-integer arguments against numeric integration of the Beta density.
	for _, c := range []struct{ a, b, x float64 }{{1.5, 13.5, 0.1}, {5.3, 40.2, 0.1}, {20, 3.3, 0.9}, {1, 9, 0.5}} {
		lb := LogBeta(c.a, c.b)
		dens := func(p float64) float64 { return math.Exp((c.a-1)*math.Log(p) + (c.b-1)*math.Log1p(-p) - lb) }
		want := simpson(dens, 0, c.x, 200000)
		if c.a < 1 {
			t.Fatal("numeric reference needs a >= 1")
		}
		near(t, "I numeric", RegIncBeta(c.a, c.b, c.x), want, 1e-7)
	}
	// Large integer arguments against the binomial identity
	// I_p(k, n−k+1) = P(Bin(n, p) ≥ k), summed term by term in log space.
	for _, c := range []struct {
		k, n int
		p    float64
	}{{30, 2000, 0.01}, {250, 2000, 0.1}, {5, 100000, 0.00002}, {180, 1000, 0.1}} {
		sum := 0.0
		for j := c.k; j <= c.n; j++ {
			sum += math.Exp(logBinomPMF(j, c.n, c.p))
		}
		near(t, "I binomial", RegIncBeta(float64(c.k), float64(c.n-c.k+1), c.p), sum, 1e-8)
		// and the complement through the swapped-argument form
		near(t, "1-I binomial", math.Exp(LogRegIncBeta(float64(c.n-c.k+1), float64(c.k), 1-c.p)), 1-sum, 1e-8)
	}
}

func TestLogBFHandComputed(t *testing.T) {
	t.Parallel()
	// p0 = 1/2 and concentration 2 give the uniform prior Beta(1,1); truncated
	// to (1/2, 1) its density is 2. By hand:
	//   y=1,n=1: ∫ p·2 dp over (½,1) = ¾; null ½          → BF = 3/2
	//   y=0,n=1: ∫ (1−p)·2 dp = ¼;          null ½          → BF = 1/2
	//   y=2,n=2: ∫ p²·2 dp = 7/12;          null ¼          → BF = 7/3
	// and by symmetry the Less side mirrors the Greater side.
	cases := []struct {
		y, n int64
		side Side
		want float64
	}{
		{1, 1, Greater, 1.5},
		{0, 1, Greater, 0.5},
		{2, 2, Greater, 7.0 / 3},
		{0, 1, Less, 1.5},
		{1, 1, Less, 0.5},
		{0, 0, Greater, 1},
	}
	for _, c := range cases {
		near(t, "BF", math.Exp(LogBF(c.y, c.n, 0.5, 2, c.side)), c.want, 1e-12)
	}
}

func TestLogBFNumeric(t *testing.T) {
	t.Parallel()
	// The Bayes factor by brute force: integrate the likelihood ratio
	// (p/p0)^y ((1−p)/(1−p0))^(n−y) against the truncated prior density.
	cases := []struct {
		y, n  int64
		p0, c float64
		side  Side
	}{
		{7, 20, 0.1, 10, Greater},
		{3, 40, 0.1, 10, Greater},
		{0, 25, 0.1, 10, Greater},
		{60, 300, 0.18, 10, Greater},
		{12, 60, 0.05, 10, Greater}, // a = 0.5: the singularity at 0 lies outside (0.05, 1)
		{2, 80, 0.2, 10, Less},
		{30, 100, 0.25, 20, Less},
	}
	for _, c := range cases {
		a, b := c.c*c.p0, c.c*(1-c.p0)
		lb := LogBeta(a, b)
		fy, fn := float64(c.y), float64(c.n)
		logLR := func(p float64) float64 {
			return fy*math.Log(p/c.p0) + (fn-fy)*math.Log((1-p)/(1-c.p0))
		}
		prior := func(p float64) float64 { return math.Exp((a-1)*math.Log(p) + (b-1)*math.Log1p(-p) - lb) }
		lo, hi := c.p0, 1-1e-12
		if c.side == Less {
			lo, hi = 1e-12, c.p0
		}
		num := simpson(func(p float64) float64 { return math.Exp(logLR(p)) * prior(p) }, lo, hi, 400000)
		den := simpson(prior, lo, hi, 400000)
		near(t, "log BF", LogBF(c.y, c.n, c.p0, c.c, c.side), math.Log(num/den), 1e-5)
	}
}

// Under the null the Bayes factor is a martingale with mean 1: summing
// BF(y, n) over the exact binomial distribution of y must give 1 (p = p0)
// and at most 1 for p below p0 (composite null "canary no worse").
func TestLogBFNullExpectation(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 5, 30, 200} {
		for _, p := range []float64{0.1, 0.05, 0.01} {
			const p0 = 0.1
			sum := 0.0
			for y := 0; y <= n; y++ {
				sum += math.Exp(logBinomPMF(y, n, p) + LogBF(int64(y), int64(n), p0, DefaultConcentration, Greater))
			}
			if p == p0 {
				near(t, "E[BF] under p0", sum, 1, 1e-8)
			} else if sum > 1+1e-9 {
				t.Errorf("n=%d p=%g: E[BF] = %g > 1 below the null boundary", n, p, sum)
			}
		}
	}
}

// Ville's inequality in action: look after every single observation and
// stop at the first BF ≥ 1/α. Under the null that happens in at most α of
// the runs; with the canary twice as likely to take the error it happens
// in most runs. Few runs keep the test fast (it runs under -race); the bounds allow for that.
func TestLogBFSequentialFalseAlarm(t *testing.T) {
	t.Parallel()
	const (
		alpha = 0.05
		runs  = 300
		steps = 500
		p0    = 0.1
	)
	rng := rand.New(rand.NewPCG(1, 2))
	rate := func(p float64) float64 {
		hits := 0
		for r := 0; r < runs; r++ {
			var y int64
			for n := int64(1); n <= steps; n++ {
				if rng.Float64() < p {
					y++
				}
				if LogBF(y, n, p0, DefaultConcentration, Greater) >= Threshold(alpha) {
					hits++
					break
				}
			}
		}
		return float64(hits) / runs
	}
	// α + 3 standard errors of a binomial proportion over 300 runs.
	if got := rate(p0); got > alpha+3*math.Sqrt(alpha*(1-alpha)/runs) {
		t.Errorf("false alarm rate %.3f with a look after every observation, want <= %.2f", got, alpha)
	}
	if got := rate(0.2); got < 0.9 {
		t.Errorf("detection rate %.3f for p = 2·p0 within %d observations, want >= 0.9", got, steps)
	}
}

func TestNullShareAndBonferroni(t *testing.T) {
	t.Parallel()
	near(t, "NullShare(0.1,1)", NullShare(0.1, 1), 0.1, 1e-15)
	// s·m/(s·m+1−s) = 0.2/(0.2+0.9) by hand
	near(t, "NullShare(0.1,2)", NullShare(0.1, 2), 0.2/1.1, 1e-15)
	near(t, "Bonferroni", Bonferroni(0.05, 4), 0.0125, 1e-15)
	near(t, "Threshold", Threshold(0.05), math.Log(20), 1e-15)
}
