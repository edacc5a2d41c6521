package telemetry

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// accessLog writes the access line of each request: through the logger's
// own encoder when the logger is one of NewLogger's (accessLine), else as
// a slog record.
type accessLog struct {
	logger *slog.Logger
	line   *accessLine // nil: log through slog
}

func newAccessLog(logger *slog.Logger) *accessLog {
	if logger == nil {
		return nil
	}
	a := &accessLog{logger: logger}
	if h, ok := logger.Handler().(*traceHandler); ok {
		a.line = h.line
	}
	return a
}

// Access line message and attribute keys.
const accessMsg = "request"

func (a *accessLog) write(rec *recorder, r *http.Request, status int) {
	ctx := r.Context()
	if rec.ctx.parent != nil {
		ctx = rec.context()
	}
	if !a.logger.Enabled(ctx, slog.LevelInfo) {
		return
	}
	method, route := foldMethod(r.Method), rec.route(r, status)
	durationMS := float64(rec.duration().Microseconds()) / 1000
	sc := rec.spanContext(r)
	if a.line != nil && a.line.write(rec.end, method, route, status, durationMS, rec.bytes, sc) {
		return
	}
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs,
		slog.String("method", method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Float64("duration_ms", durationMS),
		slog.Int64("bytes", rec.bytes),
	)
	if sc.IsValid() {
		attrs = append(attrs,
			slog.String(LogKeyTraceID, sc.TraceID().String()),
			slog.String(LogKeySpanID, sc.SpanID().String()),
		)
	}
	a.logger.LogAttrs(ctx, slog.LevelInfo, accessMsg, attrs...)
}

// accessLine encodes access lines exactly as slog's JSON handler (with
// these options and attributes) would, with no allocation per line: slog
// boxes every attribute, clones the record to add trace ids, and encodes
// the float through encoding/json, which cost about 9% of the CPU of a
// redirect in make bench. accessLine_test compares the two byte for byte.
type accessLine struct {
	w    io.Writer
	opts *slog.HandlerOptions
	// attrs are the handler's attributes (Logger.With), and prefix the
	// JSON handler's rendering of them.
	attrs  []slog.Attr
	prefix []byte
}

// withAttrs returns the encoder of a handler with attrs added; the JSON
// handler itself renders them, once.
func (l *accessLine) withAttrs(attrs []slog.Attr) *accessLine {
	if l == nil {
		return nil
	}
	all := append(slices.Clip(l.attrs), attrs...)
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, l.opts).WithAttrs(all)
	if err := h.Handle(context.Background(), slog.NewRecord(time.Time{}, slog.LevelInfo, "", 0)); err != nil {
		return nil
	}
	// {"level":"INFO","msg":"",<attrs>}\n
	out := buf.Bytes()
	head := []byte(`{"level":"INFO","msg":""`)
	if !bytes.HasPrefix(out, head) || !bytes.HasSuffix(out, []byte("}\n")) {
		return nil
	}
	return &accessLine{w: l.w, opts: l.opts, attrs: all, prefix: slices.Clone(out[len(head) : len(out)-2])}
}

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// write encodes and writes one access line; false means it could not
// (a value the encoder does not escape), and the caller logs through slog.
func (l *accessLine) write(t time.Time, method, route string, status int, durationMS float64, size int64, sc trace.SpanContext) bool {
	if y := t.Year(); y < 0 || y >= 10000 || !plainJSON(method) || !plainJSON(route) ||
		math.IsInf(durationMS, 0) || math.IsNaN(durationMS) {
		return false
	}
	bp := lineBufs.Get().(*[]byte)
	b := append((*bp)[:0], `{"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"`+accessMsg+`"`...)
	b = append(b, l.prefix...)
	b = append(b, `,"method":"`...)
	b = append(b, method...)
	b = append(b, `","route":"`...)
	b = append(b, route...)
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"duration_ms":`...)
	b = appendJSONFloat(b, durationMS)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, size, 10)
	if sc.IsValid() {
		tid, sid := sc.TraceID(), sc.SpanID()
		b = append(b, `,"`+LogKeyTraceID+`":"`...)
		b = hex.AppendEncode(b, tid[:])
		b = append(b, `","`+LogKeySpanID+`":"`...)
		b = hex.AppendEncode(b, sid[:])
		b = append(b, '"')
	}
	b = append(b, "}\n"...)
	_, _ = l.w.Write(b) // as slog.Logger drops a handler's write error
	*bp = b
	lineBufs.Put(bp)
	return true
}

// plainJSON reports whether s needs no escaping in a JSON string (printable
// ASCII other than '"' and '\\'), so that it is written as slog would.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// appendJSONFloat formats f as encoding/json does (slog's JSON handler uses
// it for floats).
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// lockedWriter serialises writes of whole lines to a writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
