package telemetry

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/trace"
)

// recorder is the telemetry state of one request. It wraps the
// ResponseWriter to learn the status and size of the response, and holds
// what the middlewares share: one pair of clock readings, the server
// span's ids and the request context that carries them (reqCtx), and the
// response's traceparent value. The telemetry middlewares share one
// recorder per request: the outermost creates it, the inner ones find it
// and reuse it. Everything a request needs for its telemetry is in this
// one allocation: an unsampled request has no SDK span at all.
//
// It implements http.Flusher and io.ReaderFrom itself, and Unwrap for
// http.ResponseController (Hijack, SetReadDeadline, EnableFullDuplex, ...).
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
	// completed is set when the handler returned (it did not panic).
	completed bool

	routeDone bool
	routeVal  string

	// start is when the outermost telemetry middleware saw the request;
	// end is read once, by the first middleware to finish. Reading the
	// clock is not free (hundreds of ns on some VMs), so the middlewares
	// share one pair of readings; end is also the access line's time.
	start time.Time
	end   time.Time
	timed bool

	// ctx is the request's context once a middleware has put something
	// in it (ctx.parent is set): the server span, the router's route
	// context. See reqCtx.
	ctx reqCtx
	// span is the server span when no SDK span was started for it (not
	// sampled, or nothing exported): ids only, recording nothing.
	span    idSpan
	spanSet bool
	// sdkSpan is the server span when the SDK made it (sampled), and
	// spanCtx the context carrying it (also used for span when reqCtx
	// cannot carry it, see spanKeyWorks).
	sdkSpan trace.Span
	spanCtx context.Context
	// traceparent holds the response's traceparent header value.
	traceparent    [55]byte
	traceparentVal [1]string
}

// wrapWriter returns the recorder of w, reusing it when w already is one.
func wrapWriter(w http.ResponseWriter) (*recorder, http.ResponseWriter) {
	if rec, ok := w.(*recorder); ok {
		return rec, rec
	}
	rec := &recorder{ResponseWriter: w, start: time.Now()}
	return rec, rec
}

// duration returns the time since the request started, measured once.
func (w *recorder) duration() time.Duration {
	if !w.timed {
		w.end = time.Now()
		w.timed = true
	}
	return w.end.Sub(w.start)
}

// spanContext returns the server span's ids: from the recorder when a
// middleware of this request started the span, else from the context.
func (w *recorder) spanContext(r *http.Request) trace.SpanContext {
	switch {
	case w.sdkSpan != nil:
		return w.sdkSpan.SpanContext()
	case w.spanSet:
		return w.span.sc
	}
	return trace.SpanContextFromContext(r.Context())
}

// context returns the request's context as the middlewares extended it.
func (w *recorder) context() context.Context {
	if w.spanCtx != nil {
		return w.spanCtx
	}
	return &w.ctx
}

func (w *recorder) WriteHeader(code int) {
	if !w.wroteHeader {
		// 1xx informational headers (except 101) are not the final status.
		if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
			w.ResponseWriter.WriteHeader(code)
			return
		}
		w.status = code
		w.wroteHeader = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.status = http.StatusOK
		w.wroteHeader = true
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom keeps io.Copy's sendfile path of the underlying writer.
func (w *recorder) ReadFrom(src io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.status = http.StatusOK
		w.wroteHeader = true
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, src)
	}
	w.bytes += n
	return n, err
}

// Flush sends buffered data; a flush before any write commits status 200.
func (w *recorder) Flush() {
	if !w.wroteHeader {
		w.status = http.StatusOK
		w.wroteHeader = true
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusOr returns the response status: 200 when the handler wrote nothing,
// 500 when it did not complete (it panicked) before writing a header.
func (w *recorder) statusOr(completed bool) int {
	if w.wroteHeader {
		return w.status
	}
	if !completed {
		return http.StatusInternalServerError
	}
	return http.StatusOK
}

// route returns the http_route of the request, computed once after the
// router ran: the chi route pattern, or RouteUnmatched.
func (w *recorder) route(r *http.Request, status int) string {
	if !w.routeDone {
		rctx := w.ctx.rctx
		if rctx == nil {
			rctx = chi.RouteContext(r.Context())
		}
		w.routeVal = routeOf(rctx, status)
		w.routeDone = true
	}
	return w.routeVal
}

// routeOf reads the chi route pattern. Requests that matched no route get
// RouteUnmatched. So do 404/405 answers of a sub-router mounted with
// r.Mount("/admin", sub) that found no route: chi then reports only the
// mount's catch-all ("/admin/*"). A mount is recognisable by the RoutePath
// it sets; a wildcard route of the router itself (r.Get("/static/*", ...))
// keeps its pattern whatever it answers.
func routeOf(rctx *chi.Context, status int) string {
	if rctx == nil || len(rctx.RoutePatterns) == 0 {
		return RouteUnmatched
	}
	p := rctx.RoutePattern()
	if p == "" {
		return RouteUnmatched
	}
	if (status == http.StatusNotFound || status == http.StatusMethodNotAllowed) && rctx.RoutePath != "" &&
		strings.HasSuffix(rctx.RoutePatterns[len(rctx.RoutePatterns)-1], "/*") {
		return RouteUnmatched
	}
	return p
}

type writerOnly struct{ io.Writer }
