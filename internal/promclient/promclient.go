// Package promclient is the one client of the Prometheus HTTP API in this
// module (the gate, the local stack, the release replay and the tests all
// use it). It runs instant and range queries, lists targets and checks
// readiness.
// Every call has a deadline per attempt, transient failures are retried
// with a growing backoff, and every error says which call failed against
// which server, with the URL's password redacted.
//
// Authentication, TLS, proxies and extra headers come from
// github.com/prometheus/common/config (HTTPClientConfig), the same
// configuration Prometheus uses for its own outbound requests. That package
// brings go-conntrack, which registers dialer metrics on the global
// Prometheus registry when imported: harmless for the tools and tests that
// use this client, and a reason the service itself must not import it.
package promclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// Defaults of Options.
const (
	DefaultTimeout = 10 * time.Second
	DefaultBackoff = 200 * time.Millisecond
)

// Options tune a Client. Zero values take the defaults.
type Options struct {
	// HTTP configures authentication, TLS, proxy and headers. nil means
	// config.DefaultHTTPClientConfig: plain HTTP(S) with the system roots.
	// The caller validates it (HTTPClientConfig.Validate) beforehand.
	HTTP *config.HTTPClientConfig
	// Timeout bounds one attempt of one call (default DefaultTimeout).
	Timeout time.Duration
	// Retries is how often a call that failed for a transient reason is
	// tried again (default 0). A refused query is never retried.
	Retries int
	// Backoff is the wait before the first retry; the n-th retry waits
	// n × Backoff (default DefaultBackoff).
	Backoff time.Duration
}

// Client talks to one server speaking the Prometheus HTTP API (Prometheus,
// Thanos, Mimir, VictoriaMetrics). It is safe for concurrent use.
type Client struct {
	base     *url.URL
	redacted string
	hc       *http.Client
	api      v1.API
	opts     Options
}

// ErrBadQuery marks a query the server refused as malformed (bad_data), or
// whose answer has a type the caller cannot use: retrying will not help,
// it is a configuration error.
var ErrBadQuery = errors.New("bad query")

// New returns a client of the API at rawURL (scheme, host and an optional
// path prefix, e.g. https://mimir.example/prometheus). A user:password@ in
// the URL is sent as basic auth and never printed.
func New(rawURL string, o Options) (*Client, error) {
	base, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.Retries < 0 {
		o.Retries = 0
	}
	hcfg := config.DefaultHTTPClientConfig
	if o.HTTP != nil {
		hcfg = *o.HTTP
	}
	hc, err := config.NewClientFromConfig(hcfg, "promclient")
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: http client: %w", RedactURL(rawURL), err)
	}
	// The per-attempt context deadline is the real bound; this one also
	// covers reading a body that trickles in after the headers.
	hc.Timeout = o.Timeout
	ac, err := api.NewClient(api.Config{Address: base.String(), Client: hc})
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", base.Redacted(), err)
	}
	return &Client{base: base, redacted: base.Redacted(), hc: hc, api: v1.NewAPI(ac), opts: o}, nil
}

// ParseURL checks that raw is an absolute http(s) URL with a host. Its
// errors never repeat the password.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		// url.Parse's error quotes the whole input, password included.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("URL %s: %v", RedactURL(raw), err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("URL %s: must start with http:// or https://", RedactURL(raw))
	case u.Host == "":
		return nil, fmt.Errorf("URL %s: no host", RedactURL(raw))
	}
	return u, nil
}

// URL is the server's base URL with the password redacted: what to print.
func (c *Client) URL() string { return c.redacted }

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Query runs an instant query evaluated at ts (zero: the server's current
// time) and returns whatever value type it yields.
func (c *Client) Query(ctx context.Context, q string, ts time.Time) (model.Value, error) {
	return retry(ctx, c, fmt.Sprintf("query %q", q), func(ctx context.Context) (model.Value, error) {
		v, _, _, err := c.api.Query(ctx, q, ts)
		var perr *v1.Error
		if errors.As(err, &perr) && perr.Type == v1.ErrBadData {
			return nil, permanent{fmt.Errorf("%w: %s", ErrBadQuery, perr.Msg)}
		}
		return v, err
	})
}

// QueryRange runs a range query over r and returns its series (a range
// query always yields a matrix).
func (c *Client) QueryRange(ctx context.Context, q string, r v1.Range) (model.Matrix, error) {
	call := fmt.Sprintf("query_range %q", q)
	v, err := retry(ctx, c, call, func(ctx context.Context) (model.Value, error) {
		v, _, _, err := c.api.QueryRange(ctx, q, r)
		var perr *v1.Error
		if errors.As(err, &perr) && perr.Type == v1.ErrBadData {
			return nil, permanent{fmt.Errorf("%w: %s", ErrBadQuery, perr.Msg)}
		}
		return v, err
	})
	if err != nil {
		return nil, err
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, c.wrap(call, fmt.Errorf("%w: want a range vector, got a %s", ErrBadQuery, v.Type()))
	}
	return m, nil
}

// Vector runs an instant query that must yield an instant vector or a
// scalar; a scalar comes back as a one-sample vector without labels.
func (c *Client) Vector(ctx context.Context, q string, ts time.Time) (model.Vector, error) {
	v, err := c.Query(ctx, q, ts)
	if err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case model.Vector:
		return v, nil
	case *model.Scalar:
		return model.Vector{&model.Sample{Value: v.Value, Timestamp: v.Timestamp}}, nil
	default:
		return nil, c.wrap(fmt.Sprintf("query %q", q), fmt.Errorf("%w: want an instant vector or a scalar, got a %s", ErrBadQuery, v.Type()))
	}
}

// Matrix is QueryRange from start to end at step (a backtest replays the
// series step by step).
func (c *Client) Matrix(ctx context.Context, q string, start, end time.Time, step time.Duration) (model.Matrix, error) {
	return c.QueryRange(ctx, q, v1.Range{Start: start, End: end, Step: step})
}

// Scalar runs an instant query that must yield exactly one number (a
// scalar or a one-sample vector, such as sum(...)). An empty vector is an
// error naming the query.
func (c *Client) Scalar(ctx context.Context, q string, ts time.Time) (float64, error) {
	vec, err := c.Vector(ctx, q, ts)
	if err != nil {
		return 0, err
	}
	if len(vec) != 1 {
		return 0, c.wrap(fmt.Sprintf("query %q", q), fmt.Errorf("want one sample, got %d", len(vec)))
	}
	return float64(vec[0].Value), nil
}

// Target is one active scrape target.
type Target = v1.ActiveTarget

// Targets lists the active scrape targets.
func (c *Client) Targets(ctx context.Context) ([]Target, error) {
	return retry(ctx, c, "targets", func(ctx context.Context) ([]Target, error) {
		r, err := c.api.Targets(ctx)
		return r.Active, err
	})
}

// Ready returns nil once the server answers /-/ready with 200 (Prometheus
// has loaded its TSDB and is serving queries).
func (c *Client) Ready(ctx context.Context) error {
	_, err := retry(ctx, c, "readiness", func(ctx context.Context) (struct{}, error) {
		u := *c.base
		u.Path = strings.TrimSuffix(u.Path, "/") + "/-/ready"
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return struct{}{}, permanent{err}
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return struct{}{}, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return struct{}{}, fmt.Errorf("not ready: %s", resp.Status)
		}
		return struct{}{}, nil
	})
	return err
}

// permanent marks an error that retrying cannot fix.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// retry runs one call with a deadline per attempt, retrying transient
// failures with a growing backoff, until the parent context ends.
func retry[T any](ctx context.Context, c *Client, call string, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	var lastErr error
	for attempt := 0; attempt <= c.opts.Retries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(time.Duration(attempt) * c.opts.Backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return zero, c.wrap(call, fmt.Errorf("%w (after: %w)", ctx.Err(), lastErr))
			case <-t.C:
			}
		}
		actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		v, err := fn(actx)
		cancel()
		if err == nil {
			return v, nil
		}
		var p permanent
		if errors.As(err, &p) {
			return zero, c.wrap(call, p.error)
		}
		if ctx.Err() != nil {
			return zero, c.wrap(call, fmt.Errorf("%w (after: %w)", ctx.Err(), err))
		}
		lastErr = err
	}
	if c.opts.Retries > 0 {
		lastErr = fmt.Errorf("%d attempts: %w", c.opts.Retries+1, lastErr)
	}
	return zero, c.wrap(call, lastErr)
}

// Error is a failed call: which one, against which server (password
// redacted), and why.
type Error struct {
	URL  string // redacted
	Call string // e.g. `query "up"`, "targets", "readiness"
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("prometheus %s: %s: %v", e.URL, e.Call, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

func (c *Client) wrap(call string, err error) error {
	return &Error{URL: c.redacted, Call: call, Err: scrubbed{err: err, msg: c.scrub(err.Error())}}
}

func (c *Client) scrub(msg string) string { return RedactIn(msg, c.base.String()) }

// scrubbed prints a redacted message but keeps the error chain, so
// errors.Is still finds context.DeadlineExceeded or ErrBadQuery.
type scrubbed struct {
	err error
	msg string
}

func (s scrubbed) Error() string { return s.msg }
func (s scrubbed) Unwrap() error { return s.err }
