package gate

import (
	"math"
	"strings"
	"testing"
	"time"
)

func ptr(f float64) *float64 { return &f }

// traffic describes one arm's steady traffic per poll; armAt gives its
// counts after i polls, exactly (no noise), consistent across every view
// the engine reads (status codes, routes, buckets, load balancer).
type traffic struct {
	req      float64 // requests per poll
	err      float64 // 5xx ratio
	notFound float64 // share answered 404
	slow     float64 // share slower than 25 ms (the rest under 5 ms)
	badRoute float64 // 5xx ratio of route /{code}/qr, 1% of requests
	lbFail   float64 // attempts failing at the load balancer only
	noLB     bool
}

func (tr traffic) armAt(i int) Arm {
	n := float64(i)
	req := math.Round(n * tr.req)
	qr := math.Round(req * 0.01)
	qrErr := math.Round(qr * tr.badRoute)
	errs := math.Round((req-qr)*tr.err) + qrErr
	nf := math.Round(req * tr.notFound)
	slow := math.Round(req * tr.slow)
	a := Arm{
		Requests: int64(req), Errors: int64(errs), Slow: int64(slow),
		Status: map[string]int64{"302": int64(req - errs - nf), "404": int64(nf), "500": int64(errs)},
		Routes: map[string]RouteCounts{
			"/{code}":    {Requests: int64(req - qr), Errors: int64(errs - qrErr)},
			"/{code}/qr": {Requests: int64(qr), Errors: int64(qrErr)},
		},
	}
	for _, le := range durationBuckets() {
		within := req
		if le < 0.025 {
			within = req - slow
		}
		a.Buckets = append(a.Buckets, Bucket{LE: le, Count: int64(within)})
	}
	if !tr.noLB {
		f := math.Round(n * tr.req * tr.lbFail)
		a.LB = &LBCounts{Attempts: int64(req + f), Failures: int64(errs + f)}
	}
	return a
}

// run feeds polls 1..n (one per second, the last final) and returns the
// last verdict, or the first decision.
func run(t *testing.T, cfg Config, n int, canary, baseline traffic, mod func(i int, o *Observation)) Verdict {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	e := NewEngine(cfg)
	var v Verdict
	for i := 1; i <= n; i++ {
		o := Observation{Elapsed: time.Duration(i) * time.Second, Canary: canary.armAt(i), Baseline: baseline.armAt(i), Final: i == n}
		if mod != nil {
			mod(i, &o)
		}
		v = e.Evaluate(o)
		if v.Outcome != Running {
			return v
		}
	}
	return v
}

func TestEngineOutcomes(t *testing.T) {
	t.Parallel()
	stable := traffic{req: 900, err: 0.0025, notFound: 0.002, slow: 0.1}
	same := traffic{req: 100, err: 0.0025, notFound: 0.002, slow: 0.1}
	with := func(tr traffic, mod func(*traffic)) traffic { mod(&tr); return tr }
	cases := []struct {
		name             string
		mod              func(*Config)
		polls            int
		canary, baseline traffic
		obs              func(i int, o *Observation)
		want             Outcome
		reasonHas        string
	}{
		{name: "an identical canary with plenty of traffic is shown no worse and passes",
			polls: 1200, canary: same, baseline: stable, want: Pass, reasonHas: "shown no worse"},
		{name: "an identical canary with little traffic is inconclusive, never a pass",
			polls: 60, canary: same, baseline: stable, want: Inconclusive, reasonHas: "not shown no worse in 1m0s: errors evidence"},
		{name: "twice the errors fails",
			polls: 1200, canary: with(same, func(t *traffic) { t.err = 0.005 }), baseline: stable, want: Fail, reasonHas: "errors: canary 5xx ratio"},
		{name: "a canary 1.3x worse is not passed by the end",
			polls: 600, canary: with(same, func(t *traffic) { t.err = 0.00325 }), baseline: stable, want: Inconclusive},
		{name: "baseline without errors: a canary at 0.1% (the whole budget) is never passed",
			polls: 1200, canary: with(same, func(t *traffic) { t.err = 0.001 }), baseline: with(stable, func(t *traffic) { t.err = 0 })},
		{name: "both without errors pass on the floor",
			polls: 1200, canary: with(same, func(t *traffic) { t.err = 0 }), baseline: with(stable, func(t *traffic) { t.err = 0 }), want: Pass},
		{name: "one route failing 100% at 1% of traffic fails the routes check",
			polls: 600, canary: with(same, func(t *traffic) { t.badRoute = 1 }), baseline: stable, want: Fail, reasonHas: "route /{code}/qr fails on the canary"},
		{name: "a latency shift under the SLO threshold fails the distribution check",
			polls: 600, canary: with(same, func(t *traffic) { t.slow = 0.3 }), baseline: stable, want: Fail, reasonHas: "latency distribution is shifted up"},
		{name: "404 instead of 302 fails the status mix",
			polls: 600, canary: with(same, func(t *traffic) { t.notFound = 0.05 }), baseline: stable, want: Fail, reasonHas: "status-mix: the canary answers 404"},
		{name: "failures only the load balancer sees fail the load-balancer check",
			polls: 600, canary: with(same, func(t *traffic) { t.lbFail = 0.03 }), baseline: stable, want: Fail, reasonHas: "load-balancer: canary failed attempts"},
		{name: "a required load balancer without series keeps the canary from passing",
			mod:   func(c *Config) { c.Checks.LoadBalancer.Required = true },
			polls: 1200, canary: with(same, func(t *traffic) { t.noLB = true }), baseline: with(stable, func(t *traffic) { t.noLB = true }), want: Inconclusive, reasonHas: "load-balancer: no series"},
		{name: "without load-balancer series (not required) the other checks decide",
			polls: 1200, canary: with(same, func(t *traffic) { t.noLB = true }), baseline: with(stable, func(t *traffic) { t.noLB = true }), want: Pass},
		{name: "a canary gone for longer than the grace period fails",
			polls: 600, canary: same, baseline: stable,
			obs: func(i int, o *Observation) {
				if i >= 100 {
					o.Canary.Absent = "1 of 1 scrape targets down (up == 0)"
				}
			}, want: Fail, reasonHas: "canary vanished: 1 of 1 scrape targets down (up == 0) for 10s"},
		{name: "a canary gone briefly (one missed scrape) does not fail",
			polls: 1200, canary: same, baseline: stable,
			obs: func(i int, o *Observation) {
				if i >= 100 && i < 103 {
					o.Canary.Absent = "its request series went stale"
				}
			}, want: Pass},
		{name: "30% errors fail within seconds",
			polls: 15, canary: with(same, func(t *traffic) { t.err = 0.3; t.req = 10 }), baseline: with(stable, func(t *traffic) { t.req = 90 }), want: Fail},
		{name: "missing canary series is said so and inconclusive",
			polls: 30, canary: same, baseline: stable, obs: func(i int, o *Observation) { o.Canary = Arm{Missing: true} },
			want: Inconclusive, reasonHas: `no series for canary (selector {track="canary"})`},
		{name: "canary with no requests is inconclusive",
			polls: 30, canary: traffic{}, baseline: stable, want: Inconclusive, reasonHas: "the canary served no requests"},
		{name: "traffic split far off the expected share is inconclusive",
			mod:   func(c *Config) { c.Analysis.CanaryShare = 0.5 },
			polls: 1200, canary: same, baseline: stable, want: Inconclusive, reasonHas: "canary share 10% is outside 50%"},
		{name: "custom threshold check fails after `for` bad polls",
			mod: func(c *Config) {
				c.Checks.Custom = []CustomCheck{{Name: "mem", Query: "x{ {{.Selector}} }", Direction: HigherIsWorse, Threshold: ptr(10), For: 2}}
			},
			polls: 30, canary: same, baseline: stable, obs: func(i int, o *Observation) { o.Custom = []CustomValue{{Canary: 11 + float64(i), HasCanary: true}} },
			want: Fail, reasonHas: "mem: canary value 13 beyond limit 10"},
		{name: "custom baseline comparison, lower is worse",
			mod: func(c *Config) {
				c.Checks.Custom = []CustomCheck{{Name: "hits", Query: "x{ {{.Selector}} }", Direction: LowerIsWorse, Tolerance: ptr(0.2), For: 1}}
			},
			polls: 30, canary: same, baseline: stable, obs: func(i int, o *Observation) {
				o.Custom = []CustomValue{{Canary: 0.5, HasCanary: true, Baseline: 0.9, HasBaseline: true}}
			},
			want: Fail, reasonHas: "hits: canary value 0.5 beyond limit 0.72"},
		{name: "custom check without data never passes",
			mod: func(c *Config) {
				c.Checks.Custom = []CustomCheck{{Name: "mem", Query: "x{ {{.Selector}} }", Direction: HigherIsWorse, Threshold: ptr(10)}}
			},
			polls: 1200, canary: same, baseline: stable, obs: func(i int, o *Observation) { o.Custom = []CustomValue{{}} },
			want: Inconclusive, reasonHas: "custom check mem never returned data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := DefaultConfig()
			if c.mod != nil {
				c.mod(&cfg)
			}
			v := run(t, cfg, c.polls, c.canary, c.baseline, c.obs)
			if c.want == "" {
				if v.Outcome == Pass {
					t.Fatalf("passed: %s", v.Reason)
				}
				return
			}
			if v.Outcome != c.want {
				t.Fatalf("outcome %s, want %s (reason %q, waiting %q)", v.Outcome, c.want, v.Reason, v.Waiting)
			}
			if !strings.Contains(v.Reason, c.reasonHas) {
				t.Errorf("reason %q does not contain %q", v.Reason, c.reasonHas)
			}
		})
	}
}

// A canary gone for less than the grace period when the analysis ends is
// neither failed (one missed scrape) nor passed.
func TestEngineGoneAtTheEnd(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	stable := traffic{req: 900, err: 0.0025, notFound: 0.002, slow: 0.1}
	same := traffic{req: 100, err: 0.0025, notFound: 0.002, slow: 0.1}
	v := run(t, cfg, 3000, same, stable, nil)
	if v.Outcome != Pass {
		t.Fatalf("the traffic should pass: %s", v.Reason)
	}
	passAt := int(v.Elapsed / time.Second)
	// gone from one poll before it would pass, to the end 8 s later
	v = run(t, cfg, passAt+7, same, stable, func(i int, o *Observation) {
		if i >= passAt-1 {
			o.Canary.Absent = "its scrape target is gone (no up series)"
		}
	})
	if v.Outcome != Inconclusive || !strings.Contains(v.Reason, "the canary is gone: its scrape target is gone") {
		t.Errorf("outcome %s (%s), want inconclusive saying the canary is gone", v.Outcome, v.Reason)
	}
}

func TestEngineAlphaSplit(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	// errors, latency, status mix, routes, load balancer and the two
	// guardrails share alpha = 0.05
	if got := NewEngine(cfg).AlphaPerCheck(); math.Abs(got-0.05/7) > 1e-15 {
		t.Errorf("alpha per check %g, want 0.05/7", got)
	}
	cfg.Checks.Guardrail.Enabled = false
	cfg.Checks.Status.Enabled = false
	if got := NewEngine(cfg).AlphaPerCheck(); math.Abs(got-0.05/4) > 1e-15 {
		t.Errorf("alpha per check %g, want 0.05/4", got)
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
