package telemetry

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

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
