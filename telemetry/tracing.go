package telemetry

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Tracing is the OpenTelemetry setup of the service: the W3C propagator
// and, when an endpoint is configured, a tracer provider with an OTLP/HTTP
// exporter behind a bounded batch processor; without an endpoint, a tracer
// that only hands out ids (passOnTracer). A nil *Tracing is valid and does
// nothing.
type Tracing struct {
	tracer     trace.Tracer
	provider   trace.TracerProvider // of tracer; nil without an SDK
	mode       tracingMode
	sampler    sdktrace.Sampler // the provider's, when exporting
	propagator propagation.TextMapPropagator
	shutdown   func(context.Context) error
	// exporting is true when spans leave the process (an exporter is set).
	exporting bool
	drops     *dropCounter
	exporter  *countingExporter // nil when nothing is exported
	// storeSystem is db.system of store spans ("" means sqlite).
	storeSystem string
}

// tracingMode is how server spans are made.
type tracingMode int

const (
	// tracingPassOn: nothing is exported; every request gets ids only,
	// with its caller's sampled flag (passOnTracer).
	tracingPassOn tracingMode = iota
	// tracingExporting: the SDK records and exports sampled spans; the
	// sampler is asked first, and unsampled requests get ids only.
	tracingExporting
	// tracingDisabled: OTEL_SDK_DISABLED; the API's no-op tracer.
	tracingDisabled
)

// tracingOptions are test hooks of setupTracing.
type tracingOptions struct {
	exporter sdktrace.SpanExporter // used instead of OTLP when set
	batch    []sdktrace.BatchSpanProcessorOption
	sync     bool // export each span as it ends (in-memory tests)

	exportTimeout time.Duration // default spanExportTimeout
	queueLimit    int64         // default spanQueueSize
}

// SetupTracing configures tracing from the standard OTEL_* variables, read
// through getenv:
//
//   - OTEL_SDK_DISABLED=true: no spans at all (propagation still works).
//   - OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is) or
//     OTEL_EXPORTER_OTLP_ENDPOINT (+ "/v1/traces"): OTLP over HTTP/protobuf.
//     Without either (or with OTEL_TRACES_EXPORTER=none) no span is
//     recorded or exported, and no export error logged, but every span
//     gets ids (logs, the response traceparent) and keeps the sampled flag
//     of its caller's traceparent: a sampled request stays sampled
//     downstream and its duration carries an exemplar. Traces started here
//     are not sampled. See passOnTracer.
//   - OTEL_EXPORTER_OTLP_[TRACES_]HEADERS, OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT.
//   - OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG: default
//     parentbased_traceidratio with DefaultSampleRatio (see there why).
//   - OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES: service.name defaults to
//     serviceName and service.version to version.
//
// Invalid values are errors (the service should refuse to start with a
// tracing setup it cannot honour). Call Shutdown to flush at exit.
func SetupTracing(ctx context.Context, getenv func(string) string, serviceName, version string) (*Tracing, error) {
	return setupTracing(ctx, getenv, serviceName, version, tracingOptions{})
}

func setupTracing(ctx context.Context, getenv func(string) string, serviceName, version string, opts tracingOptions) (*Tracing, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	t := &Tracing{
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		shutdown:   func(context.Context) error { return nil },
		drops:      &dropCounter{},
	}
	if strings.EqualFold(env("OTEL_SDK_DISABLED"), "true") {
		t.tracer = noop.NewTracerProvider().Tracer(tracerName)
		t.mode = tracingDisabled
		return t, nil
	}

	if opts.exportTimeout <= 0 {
		opts.exportTimeout = spanExportTimeout
	}
	if opts.queueLimit <= 0 {
		opts.queueLimit = spanQueueSize
	}
	res, err := tracingResource(ctx, env, serviceName, version)
	if err != nil {
		return nil, err
	}

	exporter := opts.exporter
	if exporter == nil {
		exporter, err = otlpExporter(ctx, env, opts.exportTimeout)
		if err != nil {
			return nil, err
		}
	}

	if exporter == nil {
		// Nothing leaves the process: record nothing, but give every span
		// ids (logs, exemplars) and pass the caller's sampling decision on.
		t.tracer = passOnTracer{}
		return t, nil
	}
	sampler, err := samplerFromEnv(env)
	if err != nil {
		return nil, err
	}

	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler),
		sdktrace.WithIDGenerator(requestIDs{}),
	}
	t.mode, t.sampler = tracingExporting, sampler
	t.exporting = true
	counted := &countingExporter{SpanExporter: exporter, drops: t.drops}
	t.exporter = counted
	var sp sdktrace.SpanProcessor
	if opts.sync {
		sp = sdktrace.NewSimpleSpanProcessor(counted)
	} else {
		batch := append([]sdktrace.BatchSpanProcessorOption{
			// The BSP queue has headroom over our own bound so that it
			// never drops silently: every drop goes through boundedProcessor.
			sdktrace.WithMaxQueueSize(int(opts.queueLimit) + 2*spanBatchSize + 16),
			sdktrace.WithMaxExportBatchSize(spanBatchSize),
			sdktrace.WithBatchTimeout(spanBatchTimeout),
			sdktrace.WithExportTimeout(opts.exportTimeout),
		}, opts.batch...)
		sp = sdktrace.NewBatchSpanProcessor(counted, batch...)
	}
	tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(&boundedProcessor{
		SpanProcessor: sp, drops: t.drops, limit: opts.queueLimit,
	}))
	tp := sdktrace.NewTracerProvider(tpOpts...)
	t.tracer = tp.Tracer(tracerName)
	t.provider = tp
	t.shutdown = tp.Shutdown
	return t, nil
}

const tracerName = "github.com/obsshort/shortener/telemetry"

// Shutdown flushes the spans still queued and stops the exporter, giving up
// when ctx ends.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// Exporting reports whether spans are exported (an OTLP endpoint is set).
func (t *Tracing) Exporting() bool { return t != nil && t.exporting }

// SetLogger sends the tracing's own errors (failed exports, at most one
// line per 30 s) to logger instead of the OpenTelemetry default (the
// standard log package, on stderr).
func (t *Tracing) SetLogger(logger *slog.Logger) {
	if t == nil || t.exporter == nil {
		return
	}
	t.exporter.logger.Store(logger)
}
