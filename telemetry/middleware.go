package telemetry

import (
	"log/slog"
	"net/http"
	"sync"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
)

// Instrument returns a middleware with all the request telemetry in one
// layer: the server span (t), the RED metrics (m) and the access log
// (logger). Any of them may be nil; with all three nil the handler is
// returned unchanged. It does what Tracing.Middleware, Metrics.Middleware
// and AccessLog do when chained, for one recorder, one deferred call and
// one clock reading per request.
//
// Unlike those it may wrap a chi router from the outside: it then hands the
// router a route context of its own (chi uses a route context it finds in
// the request's context instead of adding one), so it can read the route
// pattern after the router ran and the request's context costs no
// allocation beyond the recorder. Mount it inside the router with r.Use
// when it wraps anything else.
func Instrument(t *Tracing, m *Metrics, logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if t == nil && m == nil && logger == nil {
			return next
		}
		in := &instrument{t: t, m: m, log: newAccessLog(logger), next: next}
		if router, ok := next.(chi.Routes); ok {
			in.router = router
		}
		return in
	}
}

type instrument struct {
	t      *Tracing
	m      *Metrics
	log    *accessLog
	router chi.Routes // next, when it is a chi router
	next   http.Handler
}

// routeContexts recycles the route contexts handed to routers, as chi
// does with its own.
var routeContexts = sync.Pool{New: func() any { return chi.NewRouteContext() }}

func (in *instrument) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec, w := wrapWriter(w)
	ctxChanged := false
	if in.t != nil {
		in.t.startServerSpan(rec, r)
		ctxChanged = true
	}
	var rctx *chi.Context
	if in.router != nil && chi.RouteContext(r.Context()) == nil {
		rctx = routeContexts.Get().(*chi.Context)
		rctx.Reset()
		rctx.Routes = in.router
		if rec.ctx.parent == nil {
			rec.ctx.parent = r.Context()
		}
		rec.ctx.rctx = rctx
		ctxChanged = true
	}
	if in.m != nil {
		in.m.active.Inc()
	}
	defer in.finish(rec, r, rctx)
	if ctxChanged {
		r = r.WithContext(rec.context())
	}
	in.next.ServeHTTP(w, r)
	rec.completed = true
}

// finish records the request once the handler returned or panicked (then
// it counts as a 500 and the panic goes on to the server's recovery).
func (in *instrument) finish(rec *recorder, r *http.Request, rctx *chi.Context) {
	status := rec.statusOr(rec.completed)
	if in.m != nil {
		in.m.active.Dec()
		in.m.observe(rec, r, status)
	}
	if in.log != nil {
		in.log.write(rec, r, status)
	}
	if in.t != nil {
		in.t.endServerSpan(rec, r, status)
	}
	if rctx != nil {
		rec.route(r, status) // read before the route context is reused
		rec.ctx.rctx = nil
		routeContexts.Put(rctx)
	}
}

// Middleware starts a server span per request, continuing the trace of an
// incoming traceparent, and puts its traceparent on the response. Mount it
// with r.Use before Metrics.Middleware. After the handler it names the span
// "METHOD /route/pattern" (never the raw path) and sets the HTTP
// semantic-convention attributes. Sampling is decided before any span
// exists: a request that is not sampled gets ids only, no SDK span.
func (t *Tracing) Middleware(next http.Handler) http.Handler {
	if t == nil {
		return next
	}
	return Instrument(t, nil, nil)(next)
}

// Middleware records the RED metrics of each request. Mount it inside the
// chi router with r.Use, after Tracing.Middleware (so the exemplar sees the
// span): chi sets the route pattern on its own request copy, which only a
// middleware inside the router can read, and only after next returns.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return Instrument(nil, m, nil)(next)
}

// AccessLog logs one line per request, after the handler: method, route
// (the pattern, never the raw path), status, duration_ms, bytes, trace_id,
// span_id. Mount it with r.Use after Metrics.Middleware. Nothing from the
// URL, headers or body is logged. A nil logger logs nothing.
func AccessLog(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if logger == nil {
			return next
		}
		return Instrument(nil, nil, logger)(next)
	}
}

// observe records the request duration, with the span's ids as exemplar
// when it is sampled.
func (m *Metrics) observe(rec *recorder, r *http.Request, status int) {
	obs := m.observer(rec.route(r, status), foldMethod(r.Method), status)
	d := rec.duration().Seconds()
	if sc := rec.spanContext(r); sc.IsSampled() {
		if eo, ok := obs.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(d, prometheus.Labels{
				"trace_id": sc.TraceID().String(),
				"span_id":  sc.SpanID().String(),
			})
			return
		}
	}
	obs.Observe(d)
}

// endServerSpan names a recorded server span after its route and sets the
// HTTP attributes; a span that records nothing has nothing to end.
func (t *Tracing) endServerSpan(rec *recorder, r *http.Request, status int) {
	span := rec.sdkSpan
	if span == nil {
		return
	}
	if !span.IsRecording() {
		span.End()
		return
	}
	method := foldMethod(r.Method)
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
}
