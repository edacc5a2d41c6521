package gate

import (
	"time"

	"github.com/obsshort/shortener/ci/gate/stats"
)

// Outcome is the gate's decision.
type Outcome string

// The outcomes; Running means "keep polling".
const (
	Pass         Outcome = "pass"
	Fail         Outcome = "fail"
	Inconclusive Outcome = "inconclusive"
	Running      Outcome = "running"
)

// ExitCode maps an outcome to the process exit code CI acts on. Anything
// but a pass or a fail (including an unfinished analysis) is inconclusive,
// which the pipeline treats as a rollback.
func (o Outcome) ExitCode() int {
	switch o {
	case Pass:
		return ExitPass
	case Fail:
		return ExitFail
	default:
		return ExitInconclusive
	}
}

// Arm holds the counts of one arm since the analysis started. Missing
// means the query returned no series at all: that is "no data", never zero.
type Arm struct {
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
	Slow     int64 `json:"slow"`
	Missing  bool  `json:"missing"`
	// NoBuckets: requests were counted, but no bucket series has the
	// latency threshold as its le (Missing is set too).
	NoBuckets bool `json:"no_buckets,omitempty"`
	// Buckets are the requests at or under each bucket boundary, le
	// ascending (+Inf left out): the latency distribution.
	Buckets []Bucket `json:"buckets,omitempty"`
	// Status counts requests by status code, Routes by route.
	Status map[string]int64       `json:"status,omitempty"`
	Routes map[string]RouteCounts `json:"routes,omitempty"`
	// LB is what the load balancer counted for this arm's servers; nil
	// when it has no series for them.
	LB *LBCounts `json:"load_balancer,omitempty"`
	// Absent says why an arm that was seen looks gone at this poll (scrape
	// target down or removed, series stale); empty while it is there.
	Absent string `json:"absent,omitempty"`
}

// Bucket is one boundary of the latency histogram.
type Bucket struct {
	LE    float64 `json:"le"`
	Count int64   `json:"count"`
}

// RouteCounts are the requests and 5xx of one route.
type RouteCounts struct {
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
}

// LBCounts are the load balancer's attempts to reach an arm's servers and
// the failed ones (5xx, connection and response errors, retries,
// redispatches).
type LBCounts struct {
	Attempts int64 `json:"attempts"`
	Failures int64 `json:"failures"`
}

// CustomValue is one poll's value of a custom check for both arms.
type CustomValue struct {
	Canary, Baseline       float64
	HasCanary, HasBaseline bool
	CanaryErr, BaselineErr string
}

// Observation is what one poll saw.
type Observation struct {
	Elapsed  time.Duration
	Canary   Arm
	Baseline Arm
	Custom   []CustomValue // aligned with Config.Checks.Custom
	// Final is set on the last poll (the maximum duration ran out).
	Final bool
}

// CheckResult is the state of one check after a poll.
type CheckResult struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Status string `json:"status"` // ok, fail, waiting, no-worse, off, no-data
	// Evidence is the Bayes factor for a regression (sequential checks),
	// Threshold the value at which the check fails (1/α_check).
	Evidence  float64 `json:"evidence,omitempty"`
	Threshold float64 `json:"threshold,omitempty"`
	// PassEvidence is the evidence that the canary is no worse (within the
	// tolerance), PassThreshold the value at which that is shown.
	PassEvidence  float64 `json:"pass_evidence,omitempty"`
	PassThreshold float64 `json:"pass_threshold,omitempty"`
	Detail        string  `json:"detail"`
}

// RouteResult is one route's line of the per-route table.
type RouteResult struct {
	Route    string      `json:"route"`
	Canary   RouteCounts `json:"canary"`
	Baseline RouteCounts `json:"baseline"`
	Evidence float64     `json:"evidence"`
	Fail     bool        `json:"fail"`
}

// Verdict is the engine's answer after a poll.
type Verdict struct {
	Outcome  Outcome       `json:"outcome"`
	Reason   string        `json:"reason"`
	Waiting  string        `json:"waiting,omitempty"`
	Elapsed  time.Duration `json:"-"`
	Canary   Arm           `json:"canary"`
	Baseline Arm           `json:"baseline"`
	Share    float64       `json:"observed_canary_share"`
	Checks   []CheckResult `json:"checks"`
	Routes   []RouteResult `json:"routes,omitempty"`
}

// Engine turns observations into decisions. Its state is what the tests
// need from earlier polls (the dispersion of the counts, the
// non-inferiority evidence, streaks of custom checks, since when the
// canary is gone), so `gate simulate`, `gate plan` and `gate backtest` run
// the very code `gate analyze` runs.
type Engine struct {
	cfg         Config
	alphaCheck  float64
	threshold   float64 // ln(1/α_check)
	numTests    int
	customBad   []int  // consecutive polls a custom check was bad
	customSeen  []bool // a custom check ever had data for both arms
	canaryLabel string

	errs, lb   comparison
	lat        map[float64]*comparison
	latPool    *stats.Pool
	status     map[string]*comparison
	statusPool *stats.Pool
	routes     map[string]*comparison
	routePool  *stats.Pool
	gone       bool
	goneSince  time.Duration
}

// NewEngine prepares an engine; cfg must be valid.
func NewEngine(cfg Config) *Engine {
	ck := cfg.Checks
	n := 0
	for _, on := range []bool{ck.Errors.Enabled, ck.Latency.Enabled, ck.Status.Enabled, ck.Routes.Enabled, ck.LoadBalancer.Enabled} {
		if on {
			n++
		}
	}
	if ck.Guardrail.Enabled {
		n += 2 // errors and slow requests
	}
	a := stats.Bonferroni(cfg.Analysis.Alpha, n)
	return &Engine{
		cfg:         cfg,
		alphaCheck:  a,
		threshold:   stats.Threshold(a),
		numTests:    n,
		customBad:   make([]int, len(cfg.Checks.Custom)),
		customSeen:  make([]bool, len(cfg.Checks.Custom)),
		canaryLabel: normalizeSelector(cfg.Selectors.Canary),
		lat:         map[float64]*comparison{},
		status:      map[string]*comparison{},
		routes:      map[string]*comparison{},
	}
}

// AlphaPerCheck is the significance each statistical check gets.
func (e *Engine) AlphaPerCheck() float64 { return e.alphaCheck }

func ratio(k, n int64) float64 {
	if n == 0 {
		return 0
	}
	return float64(k) / float64(n)
}
