package telemetry

import (
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
)

// recorder wraps a ResponseWriter to learn the status and size of the
// response. The telemetry middlewares share one recorder per request: the
// outermost creates it, the inner ones find it and reuse it.
//
// It implements http.Flusher and io.ReaderFrom itself, and Unwrap for
// http.ResponseController (Hijack, SetReadDeadline, EnableFullDuplex, ...).
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool

	routeDone bool
	routeVal  string

	// start is when the outermost telemetry middleware saw the request;
	// elapsed is measured once, by the first middleware to finish. Reading
	// the clock is not free (hundreds of ns on some VMs), so the
	// middlewares share one pair of readings.
	start   time.Time
	elapsed time.Duration
	timed   bool
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
		w.elapsed = time.Since(w.start)
		w.timed = true
	}
	return w.elapsed
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
		w.routeVal = routeOf(r, status)
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
func routeOf(r *http.Request, status int) string {
	rctx := chi.RouteContext(r.Context())
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
