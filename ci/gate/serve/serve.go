// Package serve is `gate serve`: the canary gate as a long-running HTTP
// service that deploy controllers call. Argo Rollouts reaches it through
// its Web metric provider, Flagger through its webhooks; both ask "how is
// the canary doing?" again and again, and the service answers from one
// analysis per canary that runs in the background.
//
// The package knows nothing of the statistics: an analysis is whatever the
// Runner it is given does (package gate wires in its engine), so the HTTP
// contracts are tested here with a fake runner and, in gate's own tests,
// against a real Prometheus.
package serve

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// Spec is what one analysis compares: PromQL label matchers (without
// braces) picking the canary's and the baseline's series.
type Spec struct {
	Canary   string `json:"canary"`
	Baseline string `json:"baseline"`
}

// Outcome is the end of a finished analysis as the runner reports it.
type Outcome string

// The outcomes a Runner may return.
const (
	Pass         Outcome = "pass"
	Fail         Outcome = "fail"
	Inconclusive Outcome = "inconclusive"
)

// Result is a finished analysis.
type Result struct {
	Outcome Outcome
	Reason  string
	// Report is the runner's full report (JSON), shown by the status
	// endpoint; optional.
	Report json.RawMessage
}

// Runner runs one analysis to its end. It returns when it has decided or
// when ctx ends (then with an Inconclusive result or ctx's error: serve
// never records either as a verdict). Its error means the analysis could
// not run as asked (a query Prometheus refuses): the service reports it
// as phase "error", never as a pass. progress receives one line per poll.
type Runner interface {
	Run(ctx context.Context, spec Spec, progress io.Writer) (Result, error)
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context, spec Spec, progress io.Writer) (Result, error)

// Run calls f.
func (f RunnerFunc) Run(ctx context.Context, spec Spec, progress io.Writer) (Result, error) {
	return f(ctx, spec, progress)
}

// Deps are what the service needs from outside.
type Deps struct {
	Runner    Runner
	Store     *Store // holds the analyses; see OpenStore
	Selectors Selectors
	Registry  prometheus.Registerer // the service's metrics (required)
	Gatherer  prometheus.Gatherer   // served at /metrics
	Logger    *slog.Logger
}

// server holds the handlers' shared state.
type server struct {
	deps    Deps
	metrics *metrics
	log     *slog.Logger
}

// NewServer returns the HTTP API of gate serve (routes in routes.go).
func NewServer(d Deps) (http.Handler, error) {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if err := d.Selectors.parse(); err != nil {
		return nil, err
	}
	m, err := newMetrics(d.Registry, d.Store)
	if err != nil {
		return nil, err
	}
	d.Store.onFinish = m.finished
	s := &server{deps: d, metrics: m, log: d.Logger.With("component", "gate-serve")}
	return s.routes(), nil
}

// maxBody bounds a request body: the controllers send a few hundred bytes.
const maxBody = 64 << 10
