package telemetry

import (
	"context"
	"encoding/binary"
	"math/rand/v2"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// passOnTracer is the tracer when no span leaves the process. A span it
// starts records nothing; it gets a new span id, and the trace id, trace
// state and sampled flag of its parent (a new trace id, not sampled, when
// there is none). So a caller's sampled traceparent stays sampled in the
// response, in child spans and in exemplars, for the cost of a random
// number. The SDK cannot do this: a span its sampler keeps is a span it
// records (several microseconds and allocations), and with NeverSample a
// sampled parent comes back unsampled.
type passOnTracer struct{ embedded.Tracer }

func (passOnTracer) Start(ctx context.Context, _ string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	var parent trace.SpanContext
	if start := trace.NewSpanStartConfig(opts...); !start.NewRoot() {
		parent = trace.SpanContextFromContext(ctx)
	}
	cfg := trace.SpanContextConfig{SpanID: newSpanID()}
	if parent.IsValid() {
		cfg.TraceID = parent.TraceID()
		cfg.TraceFlags = parent.TraceFlags() & trace.FlagsSampled
		cfg.TraceState = parent.TraceState()
	} else {
		cfg.TraceID = newTraceID()
	}
	// A context with only a span context holds a non-recording span: End,
	// SetAttributes and the like do nothing.
	ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(cfg))
	return ctx, trace.SpanFromContext(ctx)
}

// newTraceID and newSpanID draw from math/rand/v2's per-thread ChaCha8
// (no lock); an all-zero id is invalid, so it is drawn again.
func newTraceID() trace.TraceID {
	var id trace.TraceID
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:8], rand.Uint64())
		binary.BigEndian.PutUint64(id[8:], rand.Uint64())
	}
	return id
}

func newSpanID() trace.SpanID {
	var id trace.SpanID
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:], rand.Uint64())
	}
	return id
}

// requestIDs is the SDK's id generator: random ids from the same source as
// passOnTracer's, except for the server span of a sampled request, whose
// ids the middleware chose before asking the sampler (withRequestIDs), so
// that the SDK samples the span it was asked about.
type requestIDs struct{}

type requestIDsKey struct{}

// chosenIDs are the ids a server span is to get.
type chosenIDs struct {
	trace trace.TraceID
	span  trace.SpanID
}

// withRequestIDs returns ctx carrying the ids of the next span started
// with it. Use it only for that call: spans started from a context derived
// from it would get the same span id.
func withRequestIDs(ctx context.Context, tid trace.TraceID, sid trace.SpanID) context.Context {
	return context.WithValue(ctx, requestIDsKey{}, chosenIDs{trace: tid, span: sid})
}

func (requestIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if ids, ok := ctx.Value(requestIDsKey{}).(chosenIDs); ok {
		return ids.trace, ids.span
	}
	return newTraceID(), newSpanID()
}

func (requestIDs) NewSpanID(ctx context.Context, tid trace.TraceID) trace.SpanID {
	if ids, ok := ctx.Value(requestIDsKey{}).(chosenIDs); ok && ids.trace == tid {
		return ids.span
	}
	return newSpanID()
}
