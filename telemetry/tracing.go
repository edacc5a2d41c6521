package telemetry

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Span queue bounds. A collector that is down fills the queue; further spans
// are dropped (and counted) instead of blocking requests.
const (
	spanQueueSize     = 2048
	spanBatchSize     = 512
	spanBatchTimeout  = 5 * time.Second
	spanExportTimeout = 10 * time.Second
)

// Tracing is the OpenTelemetry setup of the service: a tracer provider, the
// W3C propagator and, when an endpoint is configured, an OTLP/HTTP exporter
// behind a bounded batch processor. A nil *Tracing is valid and does nothing.
type Tracing struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	shutdown   func(context.Context) error
	// exporting is true when spans leave the process (an exporter is set).
	exporting bool
	drops     *dropCounter
	exporter  *countingExporter // nil when nothing is exported
}

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
//     Without either (or with OTEL_TRACES_EXPORTER=none) nothing is exported:
//     spans get trace ids for log correlation but are not sampled nor
//     recorded, which costs next to nothing and logs no export errors.
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

	var sampler sdktrace.Sampler
	if exporter != nil {
		sampler, err = samplerFromEnv(env)
		if err != nil {
			return nil, err
		}
	} else {
		// Nothing leaves the process: keep trace ids (logs) but record nothing.
		sampler = sdktrace.NeverSample()
	}

	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler),
	}
	if exporter != nil {
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
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)
	t.tracer = tp.Tracer(tracerName)
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

// RegisterMetrics registers shortener_trace_spans_dropped_total{reason} on
// reg: spans lost because the export queue was full (queue_full) or their
// export failed (export_failed). Both series exist at zero, and on a nil
// *Tracing stay at zero.
func (t *Tracing) RegisterMetrics(reg prometheus.Registerer) error {
	var d *dropCounter
	if t != nil {
		d = t.drops
	}
	return reg.Register(dropCollector{d: d, desc: prometheus.NewDesc(MetricTraceSpansDropped,
		"Sampled spans that never reached the trace collector, by reason (queue_full, export_failed).",
		[]string{"reason"}, nil)})
}

// Middleware starts a server span per request, continuing the trace of an
// incoming traceparent. Mount it with r.Use before Metrics.Middleware. After
// the handler it names the span "METHOD /route/pattern" (never the raw path)
// and sets the HTTP semantic-convention attributes.
func (t *Tracing) Middleware(next http.Handler) http.Handler {
	if t == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		// Extracting canonicalises header names (an allocation each): skip
		// it when the request carries no trace context at all.
		if hasTraceHeaders(r.Header) {
			ctx = t.propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
		}
		method := foldMethod(r.Method)
		ctx, span := t.tracer.Start(ctx, spanName(method, RouteUnmatched), serverSpanOpts...)
		setResponseTraceparent(w.Header(), span.SpanContext())
		rec, w := wrapWriter(w)
		completed := false
		defer func() {
			if !span.IsRecording() {
				span.End()
				return
			}
			status := rec.statusOr(completed)
			route := rec.route(r, status)
			span.SetName(spanName(method, route))
			attrs := make([]attribute.KeyValue, 0, 6)
			attrs = append(attrs,
				attribute.String("http.request.method", method),
				attribute.Int("http.response.status_code", status),
				attribute.String("url.scheme", scheme(r)),
			)
			if route != RouteUnmatched {
				attrs = append(attrs, attribute.String("http.route", route))
			}
			if method == MethodOther {
				attrs = append(attrs, attribute.String("http.request.method_original", truncate(r.Method, 32)))
			}
			if r.ProtoMajor > 0 {
				attrs = append(attrs, attribute.String("network.protocol.version", protoVersion(r)))
			}
			span.SetAttributes(attrs...)
			if status >= 500 {
				span.SetStatus(codes.Error, "")
				span.SetAttributes(attribute.String("error.type", statusLabel(status)))
			}
			span.End()
		}()
		next.ServeHTTP(w, r.WithContext(ctx))
		completed = true
	})
}

var serverSpanOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}

// hasTraceHeaders reports whether h carries W3C trace context or baggage
// (keys as net/http canonicalises them).
func hasTraceHeaders(h http.Header) bool {
	_, tp := h["Traceparent"]
	_, b := h["Baggage"]
	return tp || b
}

// setResponseTraceparent puts the server span's W3C traceparent (and
// tracestate) on the response, so that clients can find the trace.
func setResponseTraceparent(h http.Header, sc trace.SpanContext) {
	if !sc.IsValid() {
		return
	}
	var buf [55]byte
	tid, sid := sc.TraceID(), sc.SpanID()
	copy(buf[:], "00-")
	hex.Encode(buf[3:35], tid[:])
	buf[35] = '-'
	hex.Encode(buf[36:52], sid[:])
	buf[52] = '-'
	flags := sc.TraceFlags() & trace.FlagsSampled
	hex.Encode(buf[53:55], []byte{byte(flags)})
	h["Traceparent"] = []string{string(buf[:])}
	if ts := sc.TraceState(); ts.Len() > 0 {
		h["Tracestate"] = []string{ts.String()}
	}
}

// StartStoreSpan starts a client span "sqlite <op>" for one store
// operation. op must be a constant (create, get, ...), never user data. Call
// the returned function with the operation's error when it is done.
func (t *Tracing) StartStoreSpan(ctx context.Context, op string) (context.Context, func(err error)) {
	if t == nil {
		return ctx, func(error) {}
	}
	ctx, span := t.tracer.Start(ctx, "sqlite "+op,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("db.system", "sqlite"),
			attribute.String("db.system.name", "sqlite"),
			attribute.String("db.operation.name", op),
		))
	return ctx, func(err error) {
		if err != nil && span.IsRecording() {
			// The error text may quote user data: record only its type.
			span.SetStatus(codes.Error, op+" failed")
			span.SetAttributes(attribute.String("error.type", fmt.Sprintf("%T", err)))
		}
		span.End()
	}
}

// spanName follows the HTTP semantic conventions: "{method} {route}", the
// method alone without a route, and "HTTP" for non-standard methods.
func spanName(method, route string) string {
	if method == MethodOther {
		method = "HTTP"
	}
	if route == RouteUnmatched || route == "" {
		return method
	}
	return method + " " + route
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func protoVersion(r *http.Request) string {
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor == 1:
		return "1.1"
	case r.ProtoMajor == 2:
		return "2"
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		return "1.0"
	}
	return strconv.Itoa(r.ProtoMajor) + "." + strconv.Itoa(r.ProtoMinor)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// tracingResource builds the resource: SDK and host attributes, then
// OTEL_RESOURCE_ATTRIBUTES, then service.name (OTEL_SERVICE_NAME, else the
// one in OTEL_RESOURCE_ATTRIBUTES, else serviceName) and service.version.
func tracingResource(ctx context.Context, env func(string) string, serviceName, version string) (*resource.Resource, error) {
	attrs, err := parseKeyValues(env("OTEL_RESOURCE_ATTRIBUTES"))
	if err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	kvs := make([]attribute.KeyValue, 0, len(attrs)+2)
	name, ver := serviceName, version
	for _, kv := range attrs {
		switch kv[0] {
		case "service.name":
			name = kv[1]
		case "service.version":
			ver = kv[1]
		default:
			kvs = append(kvs, attribute.String(kv[0], kv[1]))
		}
	}
	if n := env("OTEL_SERVICE_NAME"); n != "" {
		name = n
	}
	if name == "" {
		name = "unknown_service"
	}
	kvs = append(kvs, attribute.String("service.name", name))
	if ver != "" {
		kvs = append(kvs, attribute.String("service.version", ver))
	}
	return resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithAttributes(kvs...),
	)
}

// parseKeyValues parses the W3C-baggage-like "k1=v1,k2=v2" list of
// OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS (values
// percent-decoded).
func parseKeyValues(s string) ([][2]string, error) {
	var out [][2]string
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid entry %q (want key=value)", part)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("invalid value of %q: %w", k, err)
		}
		out = append(out, [2]string{k, dv})
	}
	return out, nil
}

// otlpExporter returns the OTLP/HTTP exporter the environment asks for, or
// nil when no endpoint is configured.
func otlpExporter(ctx context.Context, env func(string) string, timeout time.Duration) (sdktrace.SpanExporter, error) {
	switch exp := strings.ToLower(env("OTEL_TRACES_EXPORTER")); exp {
	case "", "otlp":
	case "none":
		return nil, nil
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: only otlp and none are supported", exp)
	}
	endpoint := env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		if base := env("OTEL_EXPORTER_OTLP_ENDPOINT"); base != "" {
			endpoint = strings.TrimSuffix(base, "/") + "/v1/traces"
		}
	}
	if endpoint == "" {
		return nil, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("OTLP traces endpoint %q: want an http:// or https:// URL", endpoint)
	}
	protocol := first(env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), env("OTEL_EXPORTER_OTLP_PROTOCOL"))
	if protocol != "" && protocol != "http/protobuf" {
		return nil, fmt.Errorf("OTLP protocol %q: only http/protobuf is supported", protocol)
	}
	opts := []otlptracehttp.Option{
		otlptracehttp.WithEndpointURL(endpoint),
		otlptracehttp.WithTimeout(timeout),
		// Retries stay within one export timeout: a collector that is down
		// costs a bounded queue, never a growing backlog.
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{
			Enabled:         true,
			InitialInterval: 500 * time.Millisecond,
			MaxInterval:     2 * time.Second,
			MaxElapsedTime:  timeout,
		}),
	}
	if h := first(env("OTEL_EXPORTER_OTLP_TRACES_HEADERS"), env("OTEL_EXPORTER_OTLP_HEADERS")); h != "" {
		kvs, err := parseKeyValues(h)
		if err != nil {
			return nil, fmt.Errorf("OTLP headers: %w", err)
		}
		headers := make(map[string]string, len(kvs))
		for _, kv := range kvs {
			headers[kv[0]] = kv[1]
		}
		opts = append(opts, otlptracehttp.WithHeaders(headers))
	}
	if ms := first(env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"), env("OTEL_EXPORTER_OTLP_TIMEOUT")); ms != "" {
		n, err := strconv.Atoi(ms)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("OTLP timeout %q: want milliseconds", ms)
		}
		opts = append(opts, otlptracehttp.WithTimeout(time.Duration(n)*time.Millisecond))
	}
	// New does not connect: a collector that is down is not an error here.
	return otlptracehttp.New(ctx, opts...)
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// DefaultSampleRatio is the share of new traces recorded when
// OTEL_TRACES_SAMPLER is unset. The SDK's own default (parentbased_always_on)
// records every redirect; at tens of thousands of redirects per second that
// cost 17% of the CPU in the benchmark (bench/README.md) for spans nobody
// reads. A caller's sampled parent is still honoured, and exemplars still
// link the histogram to the traces that are kept.
const DefaultSampleRatio = 0.1

// samplerFromEnv parses OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG;
// unset, it is parentbased_traceidratio at DefaultSampleRatio.
func samplerFromEnv(env func(string) string) (sdktrace.Sampler, error) {
	name := strings.ToLower(env("OTEL_TRACES_SAMPLER"))
	arg := env("OTEL_TRACES_SAMPLER_ARG")
	ratio := func() (float64, error) {
		if arg == "" {
			return 1, nil
		}
		f, err := strconv.ParseFloat(arg, 64)
		if err != nil || f < 0 || f > 1 {
			return 0, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%q: want a ratio between 0 and 1", arg)
		}
		return f, nil
	}
	switch name {
	case "":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(DefaultSampleRatio)), nil
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio":
		f, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.TraceIDRatioBased(f), nil
	case "parentbased_traceidratio":
		f, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(f)), nil
	}
	return nil, fmt.Errorf("OTEL_TRACES_SAMPLER=%q: unsupported sampler", name)
}

// dropCounter counts sampled spans that never reached the collector, and
// the spans between the processor and the exporter.
type dropCounter struct {
	queueFull    atomic.Uint64
	exportFailed atomic.Uint64
	pending      atomic.Int64 // handed to the batch processor, not yet exported
}

// boundedProcessor sits in front of the SDK batch processor and bounds the
// spans waiting for export: beyond limit they are dropped and counted (the
// SDK's own queue drops silently). OnEnd never blocks.
type boundedProcessor struct {
	sdktrace.SpanProcessor
	drops *dropCounter
	limit int64
}

func (p *boundedProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	if p.drops.pending.Add(1) > p.limit {
		p.drops.pending.Add(-1)
		p.drops.queueFull.Add(1)
		return
	}
	p.SpanProcessor.OnEnd(s)
}

// exportErrorInterval is the least time between two export error reports:
// a collector that is down must not flood the logs.
const exportErrorInterval = 30 * time.Second

// countingExporter counts the spans of failed exports as dropped, releases
// the pending count of every batch it is handed, and reports export errors
// at most once per exportErrorInterval (to the logger of SetLogger, else to
// the OpenTelemetry error handler).
type countingExporter struct {
	sdktrace.SpanExporter
	drops  *dropCounter
	logger atomic.Pointer[slog.Logger]

	mu         sync.Mutex
	lastReport time.Time
	failures   int // failed exports since the last report
}

func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	defer e.drops.pending.Add(-int64(len(spans)))
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		e.drops.exportFailed.Add(uint64(len(spans)))
		e.report(err)
	}
	// The error is reported (rate-limited) and counted: the batch processor
	// has nothing more to do with it.
	return nil
}

func (e *countingExporter) report(err error) {
	e.mu.Lock()
	e.failures++
	now := time.Now()
	if !e.lastReport.IsZero() && now.Sub(e.lastReport) < exportErrorInterval {
		e.mu.Unlock()
		return
	}
	n := e.failures
	e.failures, e.lastReport = 0, now
	e.mu.Unlock()
	if l := e.logger.Load(); l != nil {
		l.Warn("trace export failed; spans dropped", "error", err.Error(),
			"failed_exports", n, "metric", MetricTraceSpansDropped)
		return
	}
	otel.Handle(fmt.Errorf("trace export failed (%d failures since last report): %w", n, err))
}

// SetLogger sends the tracing's own errors (failed exports, at most one
// line per 30 s) to logger instead of the OpenTelemetry default (the
// standard log package, on stderr).
func (t *Tracing) SetLogger(logger *slog.Logger) {
	if t == nil || t.exporter == nil {
		return
	}
	t.exporter.logger.Store(logger)
}

// dropCollector exports a dropCounter as a counter family.
type dropCollector struct {
	d    *dropCounter
	desc *prometheus.Desc
}

func (c dropCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c dropCollector) Collect(ch chan<- prometheus.Metric) {
	var full, failed uint64
	if c.d != nil {
		full, failed = c.d.queueFull.Load(), c.d.exportFailed.Load()
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(full), "queue_full")
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(failed), "export_failed")
}
