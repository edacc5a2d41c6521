package gate

import (
	"strings"
	"testing"
	"time"
)

func ptr(f float64) *float64 { return &f }

func TestEngineOutcomes(t *testing.T) {
	t.Parallel()
	arm := func(req, errs, slow int64) Arm { return Arm{Requests: req, Errors: errs, Slow: slow} }
	cases := []struct {
		name       string
		mod        func(*Config)
		obs        []Observation // fed in order; the last verdict is checked
		want       Outcome
		reasonHas  string
		waitingHas string
	}{
		{
			name: "canary error ratio regression fails",
			obs:  []Observation{{Canary: arm(1000, 20, 0), Baseline: arm(9000, 20, 0)}},
			want: Fail, reasonHas: "errors: canary 5xx ratio 2%",
		},
		{
			name: "slow requests regression fails",
			obs:  []Observation{{Canary: arm(1000, 0, 60), Baseline: arm(9000, 0, 90)}},
			want: Fail, reasonHas: "latency:",
		},
		{
			name: "guardrail fails a broken canary without a baseline signal",
			mod:  func(c *Config) { c.Checks.Errors.Enabled = false },
			obs:  []Observation{{Canary: arm(100, 30, 0), Baseline: arm(900, 300, 0)}},
			want: Fail, reasonHas: "error-guardrail",
		},
		{
			name: "one error on one request is not evidence",
			obs:  []Observation{{Canary: arm(1, 1, 0), Baseline: arm(9, 0, 0)}},
			want: Running,
		},
		{
			name: "identical arms keep running before the end",
			obs:  []Observation{{Canary: arm(1000, 3, 5), Baseline: arm(9000, 27, 45)}},
			want: Running, waitingHas: "evidence or the end",
		},
		{
			name: "identical arms pass at the maximum duration",
			obs:  []Observation{{Canary: arm(1000, 3, 5), Baseline: arm(9000, 27, 45), Final: true, Elapsed: time.Minute}},
			want: Pass, reasonHas: "no regression shown in 1m0s",
		},
		{
			name: "too little traffic is inconclusive, not a pass",
			obs:  []Observation{{Canary: arm(20, 0, 0), Baseline: arm(900, 0, 0), Final: true}},
			want: Inconclusive, reasonHas: "too little traffic: canary 20",
		},
		{
			name: "missing canary series is said so and inconclusive",
			obs:  []Observation{{Canary: Arm{Missing: true}, Baseline: arm(900, 0, 0), Final: true}},
			want: Inconclusive, reasonHas: `no series for canary (selector {track="canary"})`,
		},
		{
			name: "canary with no requests is inconclusive",
			obs:  []Observation{{Canary: arm(0, 0, 0), Baseline: arm(900, 0, 0), Final: true}},
			want: Inconclusive, reasonHas: "the canary served no requests",
		},
		{
			name: "traffic split far off the expected share is inconclusive",
			mod:  func(c *Config) { c.Analysis.CanaryShare = 0.1 },
			obs:  []Observation{{Canary: arm(5000, 5, 0), Baseline: arm(5000, 5, 0), Final: true}},
			want: Inconclusive, reasonHas: "canary share 50% is outside 10%",
		},
		{
			name: "traffic split within tolerance passes",
			mod:  func(c *Config) { c.Analysis.CanaryShare = 0.1 },
			obs:  []Observation{{Canary: arm(1200, 1, 0), Baseline: arm(8800, 9, 0), Final: true}},
			want: Pass,
		},
		{
			name: "non-inferiority shown passes early",
			mod: func(c *Config) {
				c.Checks.Errors.Tolerance = 1.5
				c.Checks.Latency.Tolerance = 1.5
			},
			obs:  []Observation{{Canary: arm(100000, 100, 100), Baseline: arm(900000, 1800, 1800)}},
			want: Pass, reasonHas: "non-inferiority",
		},
		{
			name: "non-inferiority is not shown for a slightly worse canary",
			mod: func(c *Config) {
				c.Checks.Errors.Tolerance = 1.5
				c.Checks.Latency.Tolerance = 1.5
			},
			obs:  []Observation{{Canary: arm(100000, 110, 100), Baseline: arm(900000, 900, 900)}},
			want: Running,
		},
		{
			name: "custom threshold check fails after `for` bad polls",
			mod: func(c *Config) {
				c.Checks.Custom = []CustomCheck{{Name: "mem", Query: "x{ {{.Selector}} }", Direction: HigherIsWorse, Threshold: ptr(10), For: 2}}
			},
			obs: []Observation{
				{Canary: arm(100, 0, 0), Baseline: arm(900, 0, 0), Custom: []CustomValue{{Canary: 11, HasCanary: true}}},
				{Canary: arm(200, 0, 0), Baseline: arm(1800, 0, 0), Custom: []CustomValue{{Canary: 12, HasCanary: true}}},
			},
			want: Fail, reasonHas: "mem: canary value 12 beyond limit 10",
		},
		{
			name: "custom check streak resets on a good poll",
			mod: func(c *Config) {
				c.Checks.Custom = []CustomCheck{{Name: "mem", Query: "x{ {{.Selector}} }", Direction: HigherIsWorse, Threshold: ptr(10), For: 2}}
			},
			obs: []Observation{
				{Canary: arm(100, 0, 0), Baseline: arm(900, 0, 0), Custom: []CustomValue{{Canary: 11, HasCanary: true}}},
				{Canary: arm(200, 0, 0), Baseline: arm(1800, 0, 0), Custom: []CustomValue{{Canary: 9, HasCanary: true}}},
				{Canary: arm(300, 0, 0), Baseline: arm(2700, 0, 0), Custom: []CustomValue{{Canary: 11, HasCanary: true}}},
			},
			want: Running,
		},
		{
			name: "custom baseline comparison, lower is worse",
			mod: func(c *Config) {
				c.Checks.Custom = []CustomCheck{{Name: "hits", Query: "x{ {{.Selector}} }", Direction: LowerIsWorse, Tolerance: ptr(0.2), For: 1}}
			},
			obs:  []Observation{{Canary: arm(100, 0, 0), Baseline: arm(900, 0, 0), Custom: []CustomValue{{Canary: 0.5, HasCanary: true, Baseline: 0.9, HasBaseline: true}}}},
			want: Fail, reasonHas: "hits: canary value 0.5 beyond limit 0.72",
		},
		{
			name: "custom check without data never passes",
			mod: func(c *Config) {
				c.Checks.Custom = []CustomCheck{{Name: "mem", Query: "x{ {{.Selector}} }", Direction: HigherIsWorse, Threshold: ptr(10)}}
			},
			obs:  []Observation{{Canary: arm(1000, 0, 0), Baseline: arm(9000, 0, 0), Final: true, Custom: []CustomValue{{}}}},
			want: Inconclusive, reasonHas: "custom check mem never returned data",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if c.mod != nil {
				c.mod(&cfg)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("config: %v", err)
			}
			e := NewEngine(cfg)
			var v Verdict
			for _, o := range c.obs {
				v = e.Evaluate(o)
			}
			if v.Outcome != c.want {
				t.Fatalf("outcome %s, want %s (reason %q, waiting %q)", v.Outcome, c.want, v.Reason, v.Waiting)
			}
			if !strings.Contains(v.Reason, c.reasonHas) {
				t.Errorf("reason %q does not contain %q", v.Reason, c.reasonHas)
			}
			if !strings.Contains(v.Waiting, c.waitingHas) {
				t.Errorf("waiting %q does not contain %q", v.Waiting, c.waitingHas)
			}
		})
	}
}

func TestEngineAlphaSplit(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	// errors, latency and the two guardrails share alpha = 0.05
	if got := NewEngine(cfg).AlphaPerCheck(); got != 0.0125 {
		t.Errorf("alpha per check %g, want 0.0125", got)
	}
	cfg.Checks.Guardrail.Enabled = false
	if got := NewEngine(cfg).AlphaPerCheck(); got != 0.025 {
		t.Errorf("alpha per check without guardrails %g, want 0.025", got)
	}
}

// The exit codes are a contract with CI (ci/release and the workflows act
// on the numbers): every outcome maps to its constant, and the constants
// keep their values.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		o        Outcome
		constant int
		want     int
	}{
		{Pass, ExitPass, 0},
		{Fail, ExitFail, 1},
		{Inconclusive, ExitInconclusive, 2},
		{Running, ExitInconclusive, 2}, // never an exit, but fail-safe if it were
		{Outcome("unknown"), ExitInconclusive, 2},
	}
	for _, c := range cases {
		if got := c.o.ExitCode(); got != c.constant || got != c.want {
			t.Errorf("%q exit %d, want %d (constant %d)", c.o, got, c.want, c.constant)
		}
	}
	if ExitUsage != 3 {
		t.Errorf("ExitUsage = %d, want 3", ExitUsage)
	}
}

// A few hundred simulated runs (the full benchmark is `gate simulate`):
// the targets of the README hold on a small sample too.
func TestSimulateTargetsSmall(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	base := SimParams{CanaryShare: 0.1, Interval: time.Second, Seed: 7, NaiveFactor: 1.5, NaiveSlack: 0.001, NaiveWindow: time.Minute}

	p := base
	p.RPS, p.BaselineErrorRate, p.CanaryErrorRate, p.MaxDuration, p.Runs = 100, 0.001, 0.3, time.Minute, 200
	res := Simulate(cfg, p)
	for _, r := range res.Runs {
		if r.Outcome != Fail || r.At > 15*time.Second {
			t.Fatalf("30%% errors at 10%% of 100 rps: %s after %s, want fail within 15s", r.Outcome, r.At)
		}
	}

	p = base
	p.RPS, p.BaselineErrorRate, p.CanaryErrorRate, p.MaxDuration, p.Runs = 100, 0.01, 0.01, 3*time.Minute, 200
	p.BaselineSlowRate, p.CanarySlowRate = 0.01, 0.01
	res = Simulate(cfg, p)
	fails, naive := 0, 0
	for _, r := range res.Runs {
		if r.Outcome == Fail {
			fails++
		}
		if r.NaiveFailLook > 0 {
			naive++
		}
	}
	// 5% of 200 plus slack for sampling noise; the naive check, looking
	// just as often, must do visibly worse or the contrast is a lie.
	if fails > 16 {
		t.Errorf("A/A false fails %d of 200, want at most about 5%%", fails)
	}
	if naive <= fails {
		t.Errorf("naive check false alarms %d not above the gate's %d", naive, fails)
	}
}

func TestPoissonMean(t *testing.T) {
	t.Parallel()
	rng := newTestRand()
	for _, lam := range []float64{0.3, 4, 25, 900} {
		const n = 20000
		sum, sq := 0.0, 0.0
		for i := 0; i < n; i++ {
			k := float64(poisson(rng, lam))
			sum += k
			sq += k * k
		}
		mean := sum / n
		variance := sq/n - mean*mean
		// mean and variance of a Poisson are both lam; 5 standard errors
		if se := 5 * (lam / n); abs(mean-lam) > 5*sqrt(lam/n) || abs(variance-lam) > 0.1*lam+se {
			t.Errorf("poisson(%g): mean %g variance %g", lam, mean, variance)
		}
	}
}
