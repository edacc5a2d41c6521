package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// Log attribute keys that link a log line to its trace.
const (
	LogKeyTraceID = "trace_id"
	LogKeySpanID  = "span_id"
)

// NewLogger returns a JSON logger writing to w. Every record logged with a
// context that carries a span (logger.InfoContext(ctx, ...)) gets the
// span's trace_id and span_id, the same ids as the exported span and the
// request duration exemplar.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(&traceHandler{inner: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

// traceHandler adds trace_id and span_id to records logged with a span in
// their context, unless the record already has them.
type traceHandler struct{ inner slog.Handler }

func (h *traceHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && !hasTraceAttr(r) {
			r = r.Clone()
			r.AddAttrs(
				slog.String(LogKeyTraceID, sc.TraceID().String()),
				slog.String(LogKeySpanID, sc.SpanID().String()),
			)
		}
	}
	return h.inner.Handle(ctx, r)
}

func hasTraceAttr(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == LogKeyTraceID {
			found = true
			return false
		}
		return true
	})
	return found
}

func (h *traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &traceHandler{inner: h.inner.WithAttrs(attrs)}
}

func (h *traceHandler) WithGroup(name string) slog.Handler {
	return &traceHandler{inner: h.inner.WithGroup(name)}
}

// ParseLevel parses a --log-level value: debug, info, warn (or warning),
// error, case-insensitive, with slog's "+N"/"-N" offsets ("info+2"). The
// empty string is info.
func ParseLevel(s string) (slog.Level, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "":
		return slog.LevelInfo, nil
	case "warning":
		return slog.LevelWarn, nil
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo, fmt.Errorf("invalid log level %q: want debug, info, warn or error", s)
	}
	return l, nil
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
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec, w := wrapWriter(w)
			completed := false
			defer func() {
				ctx := r.Context()
				if !logger.Enabled(ctx, slog.LevelInfo) {
					return
				}
				status := rec.statusOr(completed)
				attrs := make([]slog.Attr, 0, 7)
				attrs = append(attrs,
					slog.String("method", foldMethod(r.Method)),
					slog.String("route", rec.route(r, status)),
					slog.Int("status", status),
					slog.Float64("duration_ms", float64(rec.duration().Microseconds())/1000),
					slog.Int64("bytes", rec.bytes),
				)
				if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
					attrs = append(attrs,
						slog.String(LogKeyTraceID, sc.TraceID().String()),
						slog.String(LogKeySpanID, sc.SpanID().String()),
					)
				}
				logger.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
			}()
			next.ServeHTTP(w, r)
			completed = true
		})
	}
}
