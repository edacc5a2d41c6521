package telemetry

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// startServerSpan gives the request its server span and puts the span's
// traceparent on the response. Sampling is decided first, with the ids the
// span will have: a request that is not sampled (or, with nothing
// exported, any request) gets an idSpan in the recorder, no SDK span; a
// sampled one gets an SDK span with those same ids (requestIDs), so a
// ratio sampler's decision holds.
func (t *Tracing) startServerSpan(rec *recorder, r *http.Request) {
	parent := r.Context()
	// Extracting canonicalises header names (an allocation each): skip
	// it when the request carries no trace context at all.
	if hasTraceHeaders(r.Header) {
		parent = t.propagator.Extract(parent, propagation.HeaderCarrier(r.Header))
	}
	rec.ctx.parent = parent
	method := foldMethod(r.Method)
	if t.mode == tracingDisabled {
		_, span := t.tracer.Start(parent, spanName(method, RouteUnmatched), serverSpanOpts...)
		rec.useSDKSpan(span)
		return
	}
	psc := trace.SpanContextFromContext(parent)
	tid := psc.TraceID()
	if !tid.IsValid() {
		tid = newTraceID()
	}
	sid := newSpanID()
	var cfg trace.SpanContextConfig
	switch t.mode {
	case tracingExporting:
		res := t.sampler.ShouldSample(sdktrace.SamplingParameters{
			ParentContext: parent, TraceID: tid, Name: spanName(method, RouteUnmatched), Kind: trace.SpanKindServer,
		})
		if res.Decision != sdktrace.Drop {
			ctx := withRequestIDs(parent, tid, sid)
			_, span := t.tracer.Start(ctx, spanName(method, RouteUnmatched), serverSpanOpts...)
			rec.useSDKSpan(span)
			return
		}
		// What the SDK gives a span its sampler drops.
		cfg = trace.SpanContextConfig{TraceFlags: psc.TraceFlags() &^ trace.FlagsSampled, TraceState: res.Tracestate}
	case tracingPassOn:
		// Nothing exported: the caller's decision is passed on (see
		// passOnTracer).
		cfg = trace.SpanContextConfig{TraceFlags: psc.TraceFlags() & trace.FlagsSampled, TraceState: psc.TraceState()}
	}
	cfg.TraceID, cfg.SpanID = tid, sid
	rec.span = idSpan{sc: trace.NewSpanContext(cfg), tp: t.provider}
	rec.spanSet = true
	if spanKeyWorks {
		rec.ctx.span = &rec.span
	} else {
		rec.spanCtx = trace.ContextWithSpan(&rec.ctx, &rec.span)
	}
	rec.setTraceparent(rec.span.sc)
}

// useSDKSpan makes span the request's server span.
func (rec *recorder) useSDKSpan(span trace.Span) {
	rec.sdkSpan = span
	rec.spanCtx = trace.ContextWithSpan(&rec.ctx, span)
	rec.setTraceparent(span.SpanContext())
}

var serverSpanOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}

// hasTraceHeaders reports whether h carries W3C trace context or baggage
// (keys as net/http canonicalises them).
func hasTraceHeaders(h http.Header) bool {
	_, tp := h["Traceparent"]
	_, b := h["Baggage"]
	return tp || b
}

// setTraceparent puts the server span's W3C traceparent (and tracestate)
// on the response, so that clients can find the trace. The value is
// formatted into the recorder: no allocation.
func (rec *recorder) setTraceparent(sc trace.SpanContext) {
	if !sc.IsValid() {
		return
	}
	buf := &rec.traceparent
	tid, sid := sc.TraceID(), sc.SpanID()
	copy(buf[:], "00-")
	hex.Encode(buf[3:35], tid[:])
	buf[35] = '-'
	hex.Encode(buf[36:52], sid[:])
	buf[52] = '-'
	const digits = "0123456789abcdef"
	flags := sc.TraceFlags() & trace.FlagsSampled
	buf[53], buf[54] = digits[flags>>4], digits[flags&15]
	h := rec.ResponseWriter.Header()
	if rec.traceparentVal[0] == "" {
		// The header value points into the recorder, which the response
		// keeps alive; these bytes are written once and never again.
		rec.traceparentVal[0] = unsafe.String(&buf[0], len(buf))
		h["Traceparent"] = rec.traceparentVal[:]
	} else {
		h["Traceparent"] = []string{string(buf[:])} // a second server span: the first value stays as it was
	}
	if ts := sc.TraceState(); ts.Len() > 0 {
		h["Tracestate"] = []string{ts.String()}
	}
}

// SetStoreSystem names the database behind the store spans (db.system:
// "sqlite", the default, or "postgresql"). Call it before serving.
func (t *Tracing) SetStoreSystem(name string) {
	if t != nil {
		t.storeSystem = name
	}
}

// StartStoreSpan starts a client span "<system> <op>" (e.g. "sqlite get")
// for one store operation. op must be a constant (create, get, ...), never
// user data. Call the returned function with the operation's error when it
// is done.
func (t *Tracing) StartStoreSpan(ctx context.Context, op string) (context.Context, func(err error)) {
	if t == nil {
		return ctx, func(error) {}
	}
	system := t.storeSystem
	if system == "" {
		system = "sqlite"
	}
	ctx, span := t.tracer.Start(ctx, system+" "+op,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("db.system", system),
			attribute.String("db.system.name", system),
			attribute.String("db.operation.name", op),
		))
	return ctx, func(err error) {
		if err != nil && span.IsRecording() {
			// The error text may quote user data: record only its type.
			span.SetStatus(codes.Error, op+" failed")
			span.SetAttributes(attribute.String("error.type", errorType(err)))
		}
		span.End()
	}
}

// errorType names the kind of err for the error.type attribute: the Go
// type of the innermost error of a chain of wraps (the *fmt.wrapError of
// fmt.Errorf("...: %w") says nothing of the kind). Never its text.
func errorType(err error) string {
	for {
		inner := errors.Unwrap(err)
		if inner == nil {
			return fmt.Sprintf("%T", err)
		}
		err = inner
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
