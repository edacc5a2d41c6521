package telemetry

import (
	"context"
	"time"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"
)

// reqCtx is a request's context as the telemetry middleware extends it. It
// answers the server span and the router's route context from fields of
// the request's recorder, where context.WithValue would allocate a context
// (and the span an interface box) for each, and anything else from its
// parent. It lives inside the recorder, so it costs no allocation of its
// own.
type reqCtx struct {
	parent context.Context
	span   *idSpan      // nil: the span is whatever parent holds
	rctx   *chi.Context // nil: the route context is whatever parent holds
}

func (c *reqCtx) Deadline() (time.Time, bool) { return c.parent.Deadline() }
func (c *reqCtx) Done() <-chan struct{}       { return c.parent.Done() }
func (c *reqCtx) Err() error                  { return c.parent.Err() }

func (c *reqCtx) Value(key any) any {
	switch {
	case c.span != nil && key == spanKey:
		return trace.Span(c.span)
	case c.rctx != nil && key == chi.RouteCtxKey:
		return c.rctx
	}
	return c.parent.Value(key)
}

func (c *reqCtx) String() string { return "telemetry.reqCtx" }

// spanKey is the key under which the OpenTelemetry API keeps the current
// span in a context. It is unexported there; a context that records the
// key it is asked for learns it from trace.SpanFromContext. spanKeyWorks
// (checked once) says whether a reqCtx answering that key is seen as
// carrying the span; if a future version looked spans up differently, the
// middleware falls back to trace.ContextWithSpan.
var (
	spanKey      any
	spanKeyWorks bool
)

func init() {
	spanKey = probeSpanKey()
	spanKeyWorks = spanKey != nil && reqCtxCarriesSpan()
}

type keyProbe struct {
	context.Context
	key any
}

func (p *keyProbe) Value(key any) any {
	if p.key == nil {
		p.key = key
	}
	return nil
}

func probeSpanKey() any {
	p := &keyProbe{Context: context.Background()}
	trace.SpanFromContext(p)
	return p.key
}

// reqCtxCarriesSpan reports whether the API finds a reqCtx's span.
func reqCtxCarriesSpan() bool {
	want := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}})
	c := &reqCtx{parent: context.Background(), span: &idSpan{sc: want}}
	return trace.SpanContextFromContext(c).Equal(want) && trace.SpanFromContext(c) == trace.Span(c.span)
}

// idSpan is a server span that records nothing: its ids (and sampled
// flag, trace state) are all there is, for logs, the response
// traceparent, exemplars and child spans. It is what an unsampled request
// gets instead of an SDK span, decided before any span exists.
type idSpan struct {
	embedded.Span
	sc trace.SpanContext
	tp trace.TracerProvider
}

var _ trace.Span = (*idSpan)(nil)

func (s *idSpan) End(...trace.SpanEndOption)              {}
func (s *idSpan) AddEvent(string, ...trace.EventOption)   {}
func (s *idSpan) AddLink(trace.Link)                      {}
func (s *idSpan) IsRecording() bool                       { return false }
func (s *idSpan) RecordError(error, ...trace.EventOption) {}
func (s *idSpan) SpanContext() trace.SpanContext          { return s.sc }
func (s *idSpan) SetStatus(codes.Code, string)            {}
func (s *idSpan) SetName(string)                          {}
func (s *idSpan) SetAttributes(...attribute.KeyValue)     {}

func (s *idSpan) TracerProvider() trace.TracerProvider {
	if s.tp == nil {
		return noop.NewTracerProvider()
	}
	return s.tp
}
