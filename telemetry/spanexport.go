package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Span queue bounds. A collector that is down fills the queue; further spans
// are dropped (and counted) instead of blocking requests.
const (
	spanQueueSize     = 2048
	spanBatchSize     = 512
	spanBatchTimeout  = 5 * time.Second
	spanExportTimeout = 10 * time.Second
)

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
