package gate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Environment variables holding Prometheus secrets: secrets never travel in
// argv (visible in ps and CI logs) or in the YAML.
const (
	EnvToken    = "GATE_PROMETHEUS_TOKEN"
	EnvPassword = "GATE_PROMETHEUS_PASSWORD"
)

// promClient runs instant queries with a per-attempt timeout and retries
// on transient errors.
type promClient struct {
	api     v1.API
	url     string
	timeout time.Duration
	retries int
}

func newPromClient(cfg PrometheusConfig, getenv func(string) string) (*promClient, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fieldErr("prometheus.ca_file", "%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fieldErr("prometheus.ca_file", "no PEM certificate in %s", cfg.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	at := &authTransport{base: tr, headers: cfg.Headers}
	switch {
	case cfg.BearerTokenFile != "":
		b, err := os.ReadFile(cfg.BearerTokenFile)
		if err != nil {
			return nil, fieldErr("prometheus.bearer_token_file", "%v", err)
		}
		at.bearer = strings.TrimSpace(string(b))
	case getenv(EnvToken) != "":
		at.bearer = strings.TrimSpace(getenv(EnvToken))
	}
	if cfg.BasicAuth.Username != "" {
		at.user = cfg.BasicAuth.Username
		switch {
		case cfg.BasicAuth.PasswordFile != "":
			b, err := os.ReadFile(cfg.BasicAuth.PasswordFile)
			if err != nil {
				return nil, fieldErr("prometheus.basic_auth.password_file", "%v", err)
			}
			at.pass = strings.TrimRight(string(b), "\r\n")
		case getenv(EnvPassword) != "":
			at.pass = getenv(EnvPassword)
		default:
			return nil, fieldErr("prometheus.basic_auth.password_file", "no password: give a file or set %s", EnvPassword)
		}
	}
	if at.bearer != "" && at.user != "" {
		return nil, fieldErr("prometheus.basic_auth", "both a bearer token and basic auth are configured; pick one")
	}
	c, err := api.NewClient(api.Config{Address: cfg.URL, RoundTripper: at})
	if err != nil {
		return nil, fieldErr("prometheus.url", "%v", err)
	}
	return &promClient{api: v1.NewAPI(c), url: cfg.URL, timeout: cfg.Timeout.D(), retries: cfg.Retries}, nil
}

// authTransport adds credentials and extra headers (such as X-Scope-OrgID
// for Mimir) to every request.
type authTransport struct {
	base       http.RoundTripper
	bearer     string
	user, pass string
	headers    map[string]string
}

func (t *authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.headers {
		r.Header.Set(k, v)
	}
	if t.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+t.bearer)
	}
	if t.user != "" {
		r.SetBasicAuth(t.user, t.pass)
	}
	return t.base.RoundTrip(r)
}

// errBadQuery marks a query Prometheus refused as malformed: retrying will
// not help, and it is a configuration error.
var errBadQuery = errors.New("bad query")

// query runs an instant query at ts, retrying transient failures with a
// short backoff. Scalars come back as a one-sample vector.
func (c *promClient) query(ctx context.Context, q string, ts time.Time) (model.Vector, error) {
	var lastErr error
	for attempt := 0; attempt <= c.retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		val, _, _, err := c.api.Query(actx, q, ts)
		cancel()
		if err == nil {
			switch v := val.(type) {
			case model.Vector:
				return v, nil
			case *model.Scalar:
				return model.Vector{&model.Sample{Value: v.Value, Timestamp: v.Timestamp}}, nil
			default:
				return nil, fmt.Errorf("query %q: want an instant vector, got %s", q, val.Type())
			}
		}
		var perr *v1.Error
		if errors.As(err, &perr) && perr.Type == v1.ErrBadData {
			return nil, fmt.Errorf("%w: %q: %s", errBadQuery, q, perr.Msg)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		lastErr = err
	}
	return nil, fmt.Errorf("prometheus %s: %w", c.url, lastErr)
}

// counterTracker turns raw counter values into increases since the
// analysis started, per series, with counter resets handled the way
// Prometheus' increase() does (a drop means the process restarted from 0).
//
// Raw differences are used rather than increase(x[<elapsed>]) because
// increase() extrapolates to fractional counts and misses the first value
// of a series born inside the window (the first 500 of a canary creates
// its status="500" series with value 1: increase() would see 0).
type counterTracker struct {
	started bool
	last    map[model.Fingerprint]float64
	inc     map[model.Fingerprint]float64
	metric  map[model.Fingerprint]model.Metric
	ever    bool // any series ever seen
}

func newCounterTracker() *counterTracker {
	return &counterTracker{last: map[model.Fingerprint]float64{}, inc: map[model.Fingerprint]float64{}, metric: map[model.Fingerprint]model.Metric{}}
}

// update feeds one poll. The first call only records where each series
// stands at the analysis start.
func (t *counterTracker) update(v model.Vector) {
	for _, s := range v {
		val := float64(s.Value)
		if math.IsNaN(val) {
			continue
		}
		fp := s.Metric.Fingerprint()
		t.ever = true
		prev, seen := t.last[fp]
		switch {
		case !t.started:
			// value at the start: the baseline of the difference
		case !seen:
			// born after the start: all of it happened during the analysis
			t.inc[fp] += val
		case val >= prev:
			t.inc[fp] += val - prev
		default:
			t.inc[fp] += val // reset
		}
		t.last[fp] = val
		t.metric[fp] = s.Metric
	}
	t.started = true
}

// sum adds the increases of the series that match keep (nil = all).
func (t *counterTracker) sum(keep func(model.Metric) bool) int64 {
	total := 0.0
	for fp, inc := range t.inc {
		if keep == nil || keep(t.metric[fp]) {
			total += inc
		}
	}
	return int64(math.Round(total))
}

var status5xx = regexp.MustCompile(`^5..$`)

const statusLabel = "http_response_status_code"

func is5xx(m model.Metric) bool { return status5xx.MatchString(string(m[statusLabel])) }

// armSource reads one arm's counters.
type armSource struct {
	selector string
	count    *counterTracker
	bucket   *counterTracker
}

// promSource polls the counts of both arms and the custom checks.
type promSource struct {
	c                *promClient
	cfg              Config
	canary, baseline *armSource
	latency          bool
}

func newPromSource(c *promClient, cfg Config) *promSource {
	mk := func(sel string) *armSource {
		return &armSource{selector: normalizeSelector(sel), count: newCounterTracker(), bucket: newCounterTracker()}
	}
	return &promSource{c: c, cfg: cfg, canary: mk(cfg.Selectors.Canary), baseline: mk(cfg.Selectors.Baseline), latency: cfg.Checks.Latency.Enabled || cfg.Checks.Guardrail.Enabled}
}

func withMatcher(sel, extra string) string {
	if sel == "" {
		return extra
	}
	return sel + ", " + extra
}

func (s *promSource) countQuery(a *armSource) string {
	return fmt.Sprintf("%s_count{%s}", s.cfg.Metric, a.selector)
}

func (s *promSource) bucketQuery(a *armSource) string {
	le := strconv.FormatFloat(s.cfg.SLO.LatencyThreshold, 'g', -1, 64)
	return fmt.Sprintf("%s_bucket{%s}", s.cfg.Metric, withMatcher(a.selector, fmt.Sprintf("le=%q", le)))
}

// poll queries both arms at ts. On error nothing is updated, so the next
// successful poll still sees every increase.
func (s *promSource) poll(ctx context.Context, ts time.Time) (Observation, error) {
	var obs Observation
	type result struct {
		arm    *armSource
		count  model.Vector
		bucket model.Vector
	}
	var rs []result
	for _, a := range []*armSource{s.canary, s.baseline} {
		r := result{arm: a}
		var err error
		if r.count, err = s.c.query(ctx, s.countQuery(a), ts); err != nil {
			return obs, err
		}
		if s.latency {
			if r.bucket, err = s.c.query(ctx, s.bucketQuery(a), ts); err != nil {
				return obs, err
			}
		}
		rs = append(rs, r)
	}
	custom := make([]CustomValue, len(s.cfg.Checks.Custom))
	for i, cc := range s.cfg.Checks.Custom {
		var err error
		if custom[i].Canary, custom[i].HasCanary, custom[i].CanaryErr, err = s.customValue(ctx, cc, s.canary.selector, ts); err != nil {
			return obs, err
		}
		if cc.Tolerance != nil {
			if custom[i].Baseline, custom[i].HasBaseline, custom[i].BaselineErr, err = s.customValue(ctx, cc, s.baseline.selector, ts); err != nil {
				return obs, err
			}
		}
	}
	// All queries succeeded: only now fold them in.
	for _, r := range rs {
		r.arm.count.update(r.count)
		r.arm.bucket.update(r.bucket)
	}
	obs.Custom = custom
	obs.Canary = s.arm(s.canary)
	obs.Baseline = s.arm(s.baseline)
	return obs, nil
}

func (s *promSource) arm(a *armSource) Arm {
	out := Arm{Missing: !a.count.ever}
	out.Requests = a.count.sum(nil)
	out.Errors = a.count.sum(is5xx)
	if s.latency {
		// Slow = all requests − requests within the latency threshold. A
		// missing bucket series would make everything look slow: treat the
		// arm as missing instead.
		if !a.bucket.ever && a.count.ever {
			out.Missing = true
		}
		out.Slow = max(0, out.Requests-a.bucket.sum(nil))
	}
	return out
}

// customValue evaluates a custom check for one arm. An empty answer is
// reported as such (has=false), never as zero.
func (s *promSource) customValue(ctx context.Context, cc CustomCheck, selector string, ts time.Time) (val float64, has bool, why string, err error) {
	q, err := renderQuery(cc.Query, selector, s.cfg.SLO.ErrorBudget)
	if err != nil {
		return 0, false, "", fieldErr("checks.custom "+cc.Name+".query", "%v", err)
	}
	vec, err := s.c.query(ctx, q, ts)
	if err != nil {
		if errors.Is(err, errBadQuery) {
			return 0, false, "", fieldErr("checks.custom "+cc.Name+".query", "%v", err)
		}
		return 0, false, "", err
	}
	switch {
	case len(vec) == 0:
		return 0, false, fmt.Sprintf("no series for {%s}", selector), nil
	case len(vec) > 1:
		return 0, false, fmt.Sprintf("%d series for {%s}; aggregate the query to one (sum, max, ...)", len(vec), selector), nil
	case math.IsNaN(float64(vec[0].Value)):
		return 0, false, fmt.Sprintf("NaN for {%s} (no traffic?)", selector), nil
	}
	return float64(vec[0].Value), true, "", nil
}
