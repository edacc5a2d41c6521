package gate

import (
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
)

// SimParams describes simulated traffic for `gate simulate`, `gate plan`
// and the benchmark table. Time runs in steps of one second; each arm is
// scraped every ScrapeInterval at its own phase, and the gate polls every
// Interval and sees what the last scrapes saw.
type SimParams struct {
	RPS         float64 // total requests per second (Poisson)
	CanaryShare float64
	// Error ratios (5xx) of each arm.
	BaselineErrorRate, CanaryErrorRate float64
	// BurstCV: each second, each arm's error ratio is multiplied by an
	// independent Gamma variate with mean 1 and this coefficient of
	// variation (a bad pod, a flaky dependency); 0 = independent errors.
	BurstCV float64
	// Latency: log-normal with these medians (seconds) and log-sd.
	BaselineLatency, CanaryLatency, LatencySigma float64
	// NotFound: share of redirects answered 404 on each arm.
	BaselineNotFound, CanaryNotFound float64
	// BadRoute fails on the canary only, at BadRouteErrorRate; its share
	// of traffic is BadRouteShare.
	BadRouteShare, BadRouteErrorRate float64
	// LBFailRate: share of the canary's attempts that fail at the load
	// balancer only (refused, timed out): the app never sees them.
	LBFailRate float64
	// CanaryRestartAt resets the canary's counters (a restart) at this
	// time; CanaryVanishAt kills it (scrapes fail, series go stale, the load
	// balancer takes it out after a failed attempt or two). 0 = never.
	CanaryRestartAt, CanaryVanishAt time.Duration
	// MissedScrapes: share of scrapes of either arm that fail (the series
	// go stale until the next good scrape).
	MissedScrapes  float64
	ScrapeInterval time.Duration
	Interval       time.Duration // poll interval
	MaxDuration    time.Duration
	Runs           int
	Seed           uint64
	// Deadline: also report the share of runs failed within it (from
	// CanaryVanishAt when that is set).
	Deadline time.Duration
}

// SimRun is one simulated analysis.
type SimRun struct {
	Outcome Outcome
	At      time.Duration // time of the decision
	Reason  string
}

// SimResult aggregates the runs.
type SimResult struct {
	Params SimParams
	Runs   []SimRun
}

// Count returns how many runs ended with outcome o, and with o within d
// (d = 0: any time).
func (r SimResult) Count(o Outcome, d time.Duration) int {
	n := 0
	for _, run := range r.Runs {
		if run.Outcome == o && (d == 0 || run.At <= d) {
			n++
		}
	}
	return n
}

// Simulate runs the gate's observer and engine on simulated traffic.
func Simulate(cfg Config, p SimParams) SimResult {
	if p.ScrapeInterval <= 0 {
		p.ScrapeInterval = time.Second
	}
	if p.LatencySigma <= 0 {
		p.LatencySigma = 0.5
	}
	if p.BaselineLatency <= 0 {
		p.BaselineLatency = 0.002
	}
	if p.CanaryLatency <= 0 {
		p.CanaryLatency = p.BaselineLatency
	}
	res := SimResult{Params: p, Runs: make([]SimRun, p.Runs)}
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				res.Runs[i] = simulateOne(cfg, p, rand.New(rand.NewPCG(p.Seed, uint64(i))))
			}
		}()
	}
	for i := 0; i < p.Runs; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return res
}

func simulateOne(cfg Config, p SimParams, rng *rand.Rand) SimRun {
	e := NewEngine(cfg)
	ob := newObserver(cfg)
	les := cfg.simBuckets()
	canary := newSimArm(rng, les, p.CanaryLatency, p.LatencySigma, "canary", false)
	base := newSimArm(rng, les, p.BaselineLatency, p.LatencySigma, "stable", true)
	scrape := int(max(1, p.ScrapeInterval/time.Second))
	poll := int(max(1, p.Interval/time.Second))
	phaseC, phaseB := rng.IntN(scrape), rng.IntN(scrape)
	steps := int(p.MaxDuration / time.Second)
	vanish := int(p.CanaryVanishAt / time.Second)
	restart := int(p.CanaryRestartAt / time.Second)
	// the start snapshot
	ob.observe(canary.samples(true), base.samples(false))
	for t := 1; t <= steps; t++ {
		dead := vanish > 0 && t > vanish
		if restart > 0 && t == restart {
			canary.reset()
		}
		shareC := p.CanaryShare
		if dead && t > vanish+2 {
			shareC = 0 // the load balancer took it out
		}
		lam := p.RPS
		nc := float64(poisson(rng, lam*shareC))
		nb := float64(poisson(rng, lam*(1-shareC)))
		if dead {
			canary.lbFail += nc // connections refused
			canary.lbAttempts += nc
			nc = 0
		} else if p.LBFailRate > 0 && nc > 0 {
			f := float64(binomial(rng, int64(nc), p.LBFailRate))
			canary.lbFail += f
			canary.lbAttempts += f
			nc -= f
		}
		canary.serve(rng, p, nc, p.CanaryErrorRate, p.CanaryNotFound, true)
		base.serve(rng, p, nb, p.BaselineErrorRate, p.BaselineNotFound, false)
		if (t+phaseC)%scrape == 0 {
			canary.scrape(rng, p.MissedScrapes, dead)
		}
		if (t+phaseB)%scrape == 0 {
			base.scrape(rng, p.MissedScrapes, false)
		}
		if t%poll != 0 && t != steps {
			continue
		}
		var o Observation
		o.Canary, o.Baseline = ob.observe(canary.samples(true), base.samples(false))
		o.Elapsed = time.Duration(t) * time.Second
		o.Final = t == steps
		v := e.Evaluate(o)
		if v.Outcome != Running {
			return SimRun{Outcome: v.Outcome, At: o.Elapsed, Reason: v.Reason}
		}
	}
	return SimRun{Outcome: Inconclusive, At: p.MaxDuration, Reason: "no decision"}
}

// simBuckets are the histogram's boundaries: the shortener's own.
func (c Config) simBuckets() []float64 { return durationBuckets() }

// The simulated routes: share of traffic, the status a success answers.
var simRoutes = []struct {
	name   string
	share  float64
	status string
}{
	{"/{code}", 0.88, "302"},
	{"/api/v1/links", 0.10, "201"},
	{"/{code}/qr", 0.01, "200"},
	{"/api/v1/links/{code}", 0.01, "200"},
}

// simArm is one arm's process: its counters as it would expose them, and
// the last scrape of them Prometheus holds.
type simArm struct {
	les        []float64
	latCDF     []float64             // P(latency <= le)
	counts     map[[2]string]float64 // route, status
	buckets    []float64
	lbAttempts float64
	lbFail     float64
	lb5xx      float64
	instance   string
	// what Prometheus saw at the last scrape
	seen         bool // the last scrape succeeded
	up           float64
	seenCounts   map[[2]string]float64
	seenBuckets  []float64
	seenAttempts float64
	seenFail     float64
	metrics      map[string]model.Metric // label sets, made once
}

// metric returns the label set of one series, made once per run.
func (a *simArm) metric(kind string, kv ...string) model.Metric {
	key := kind + "\x00" + strings.Join(kv, "\x00")
	if m, ok := a.metrics[key]; ok {
		return m
	}
	m := model.Metric{}
	if kind != "" {
		m[model.MetricNameLabel] = model.LabelValue(kind)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[model.LabelName(kv[i])] = model.LabelValue(kv[i+1])
	}
	a.metrics[key] = m
	return m
}

func sample(m model.Metric, v float64) *model.Sample {
	return &model.Sample{Metric: m, Value: model.SampleValue(v)}
}

func newSimArm(rng *rand.Rand, les []float64, median, sigma float64, instance string, old bool) *simArm {
	a := &simArm{les: les, counts: map[[2]string]float64{}, buckets: make([]float64, len(les)), instance: instance, metrics: map[string]model.Metric{}}
	for _, le := range les {
		a.latCDF = append(a.latCDF, normCDF((math.Log(le)-math.Log(median))/sigma))
	}
	// Every route x status exists at zero from the start (as the app
	// exports them); an old process has counted plenty already.
	off := 0.0
	if old {
		off = float64(1e6 + rng.IntN(1e6))
	}
	for _, r := range simRoutes {
		for _, st := range []string{r.status, "404", "500"} {
			a.counts[[2]string{r.name, st}] = math.Round(off * r.share)
		}
	}
	for i := range a.buckets {
		a.buckets[i] = math.Round(off * a.latCDF[i])
	}
	a.lbAttempts = math.Round(off)
	a.scrape(rng, 0, false)
	return a
}

func (a *simArm) reset() {
	for k := range a.counts {
		a.counts[k] = 0
	}
	for i := range a.buckets {
		a.buckets[i] = 0
	}
}

// serve adds one second of n requests.
func (a *simArm) serve(rng *rand.Rand, p SimParams, n, errRate, notFound float64, isCanary bool) {
	if n <= 0 {
		return
	}
	if p.BurstCV > 0 {
		errRate = math.Min(1, errRate*gammaMean1(rng, p.BurstCV))
	}
	left := int64(n)
	for i, r := range simRoutes {
		k := left
		if i < len(simRoutes)-1 {
			k = binomial(rng, left, r.share/remainingShare(i))
		}
		left -= k
		er := errRate
		if isCanary && r.name == "/{code}/qr" && p.BadRouteErrorRate > 0 {
			er = math.Max(er, p.BadRouteErrorRate)
		}
		e := binomial(rng, k, er)
		nf := int64(0)
		if r.status == "302" {
			nf = binomial(rng, k-e, notFound)
		}
		a.counts[[2]string{r.name, "500"}] += float64(e)
		a.lb5xx += float64(e)
		a.counts[[2]string{r.name, "404"}] += float64(nf)
		a.counts[[2]string{r.name, r.status}] += float64(k - e - nf)
	}
	// latency: a multinomial over the buckets by sequential binomials;
	// bucket i counts every request at or under le_i
	rest, prev, cum := int64(n), 0.0, int64(0)
	for i, c := range a.latCDF {
		q := 0.0
		if prev < 1 {
			q = (c - prev) / (1 - prev)
		}
		k := binomial(rng, rest, math.Min(1, math.Max(0, q)))
		rest -= k
		cum += k
		a.buckets[i] += float64(cum)
		prev = c
	}
	a.lbAttempts += n
}

func remainingShare(i int) float64 {
	s := 0.0
	for _, r := range simRoutes[i:] {
		s += r.share
	}
	return s
}

// scrape copies the counters to what Prometheus holds, or fails.
func (a *simArm) scrape(rng *rand.Rand, missRate float64, dead bool) {
	if dead || (missRate > 0 && rng.Float64() < missRate) {
		a.seen, a.up = false, 0
		return
	}
	a.seen, a.up = true, 1
	a.seenCounts = make(map[[2]string]float64, len(a.counts))
	for k, v := range a.counts {
		a.seenCounts[k] = v
	}
	a.seenBuckets = append(a.seenBuckets[:0], a.buckets...)
	a.seenAttempts, a.seenFail = a.lbAttempts, a.lbFail
}

// samples are the answers to the gate's queries: nothing for stale series.
func (a *simArm) samples(withUp bool) armSamples {
	s := armSamples{upQueried: withUp}
	if withUp {
		s.up = model.Vector{sample(a.metric("up", "instance", a.instance), a.up)}
	}
	// the load balancer's counters live in the load balancer: never stale
	s.lb = model.Vector{
		sample(a.metric("haproxy_server_sessions_total", "server", a.instance), a.lbAttempts),
		sample(a.metric("haproxy_server_connection_errors_total", "server", a.instance), a.lbFail),
		sample(a.metric("haproxy_server_http_responses_total", "code", "5xx", "server", a.instance), a.lb5xx),
	}
	if !a.seen {
		return s
	}
	for k, v := range a.seenCounts {
		s.count = append(s.count, sample(a.metric("", "instance", a.instance, "http_route", k[0], "http_response_status_code", k[1]), v))
	}
	for i, le := range a.les {
		s.bucket = append(s.bucket, sample(a.metric("", "instance", a.instance, "le", leKey(le)), a.seenBuckets[i]))
	}
	return s
}

func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// gammaMean1 draws a Gamma variate with mean 1 and coefficient of
// variation cv (Marsaglia & Tsang's method; shape 1/cv²).
func gammaMean1(rng *rand.Rand, cv float64) float64 {
	k := 1 / (cv * cv)
	boost := 1.0
	if k < 1 {
		boost = math.Pow(rng.Float64(), 1/k)
		k++
	}
	d := k - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return boost * d * v / (1 / (cv * cv))
		}
	}
}

// binomial draws Bin(n, p): exactly for small n, by the Poisson limit when
// events are rare, by the normal limit otherwise.
func binomial(rng *rand.Rand, n int64, p float64) int64 {
	switch {
	case n <= 0 || p <= 0:
		return 0
	case p >= 1:
		return n
	case n < 50:
		k := int64(0)
		for range n {
			if rng.Float64() < p {
				k++
			}
		}
		return k
	case p > 0.5:
		return n - binomial(rng, n, 1-p)
	case float64(n)*p < 15:
		return min(n, poisson(rng, float64(n)*p))
	}
	mu, sd := float64(n)*p, math.Sqrt(float64(n)*p*(1-p))
	return min(n, max(0, int64(math.Round(mu+sd*rng.NormFloat64()))))
}

// poisson draws a Poisson variate: by multiplication of uniforms for small
// means, by Hörmann's transformed rejection (PTRS, as in NumPy) otherwise.
func poisson(rng *rand.Rand, lam float64) int64 {
	if lam <= 0 {
		return 0
	}
	if lam < 10 {
		l := math.Exp(-lam)
		k := int64(0)
		prod := rng.Float64()
		for prod > l {
			k++
			prod *= rng.Float64()
		}
		return k
	}
	slam := math.Sqrt(lam)
	loglam := math.Log(lam)
	b := 0.931 + 2.53*slam
	a := -0.059 + 0.02483*b
	invalpha := 1.1239 + 1.1328/(b-3.4)
	vr := 0.9277 - 3.6224/(b-2)
	for {
		u := rng.Float64() - 0.5
		v := rng.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + lam + 0.43)
		if us >= 0.07 && v <= vr {
			return int64(k)
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		lg, _ := math.Lgamma(k + 1)
		if math.Log(v)+math.Log(invalpha)-math.Log(a/(us*us)+b) <= -lam+k*loglam-lg {
			return int64(k)
		}
	}
}
