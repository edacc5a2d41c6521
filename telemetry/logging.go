package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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
//
// Access lines (AccessLog, Instrument) are encoded by the logger itself,
// byte for byte as the JSON handler would write them, without its per-line
// allocations (see accessLine).
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	// The JSON handler and the access-line encoder write whole lines to
	// the same writer: one lock keeps them from interleaving. A
	// BufferedWriter locks itself.
	if _, ok := w.(*BufferedWriter); !ok {
		w = &lockedWriter{w: w}
	}
	opts := &slog.HandlerOptions{Level: level}
	return slog.New(&traceHandler{
		inner: slog.NewJSONHandler(w, opts),
		line:  &accessLine{w: w, opts: opts},
	})
}

// traceHandler adds trace_id and span_id to records logged with a span in
// their context, unless the record already has them.
type traceHandler struct {
	inner slog.Handler
	// line encodes access lines for this handler; nil once a group is
	// open (the access log then goes through inner).
	line *accessLine
}

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
	return &traceHandler{inner: h.inner.WithAttrs(attrs), line: h.line.withAttrs(attrs)}
}

func (h *traceHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h // as slog's handlers do
	}
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
