package telemetry

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// TestAccessLineMatchesSlog: the access line the logger encodes itself is
// byte for byte what slog's JSON handler writes for the same record, with
// the logger's attributes (of any kind) and any duration or span.
func TestAccessLineMatchesSlog(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{0x4b, 0xf9, 0x2f}, SpanID: trace.SpanID{0, 0xf0, 0x67}, TraceFlags: trace.FlagsSampled})
	withs := [][]any{
		nil,
		{"component", "shortener"},
		{"component", "shortener", "n", 3, "f", 0.25, "ok", true, "d", 1500 * time.Millisecond},
		{"quote", `a "b" \c <d> & é` + "\n\t\x01", slog.Group("g", "x", 1, slog.Group("h", "y", "z"))},
		{"empty", slog.Group("nothing")},
	}
	type rec struct {
		t          time.Time
		method     string
		route      string
		status     int
		durationMS float64
		bytes      int64
		sc         trace.SpanContext
	}
	recs := []rec{
		{time.Date(2026, 11, 29, 13, 50, 1, 123456789, time.UTC), "GET", "/{code}", 302, 0.123, 0, sc},
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600)), "POST", "/api/v1/links", 201, 12, 87, trace.SpanContext{}},
		{time.Date(2026, 6, 7, 8, 9, 10, 100, time.UTC), "_OTHER", "unmatched", 405, 0, 1 << 40, sc},
		{time.Date(2026, 6, 7, 8, 9, 10, 0, time.Local), "GET", "/static/*", 200, 1e21, 5, sc},
		{time.Date(2026, 6, 7, 8, 9, 10, 0, time.UTC), "GET", "/", 500, 1234567.891, 5, sc},
		{time.Date(2026, 6, 7, 8, 9, 10, 0, time.UTC), "GET", "/", 500, 0.0000001, 5, sc},
	}
	for _, with := range withs {
		var fast, slow bytes.Buffer
		opts := &slog.HandlerOptions{Level: slog.LevelInfo}
		h := slog.NewJSONHandler(&slow, opts).WithAttrs(attrsOf(with))
		l := (&accessLine{w: &fast, opts: opts}).withAttrs(attrsOf(with))
		if l == nil {
			t.Fatalf("with %v: no encoder", with)
		}
		for _, r := range recs {
			fast.Reset()
			slow.Reset()
			if !l.write(r.t, r.method, r.route, r.status, r.durationMS, r.bytes, r.sc) {
				t.Fatalf("with %v: %+v not encoded", with, r)
			}
			record := slog.NewRecord(r.t, slog.LevelInfo, accessMsg, 0)
			record.AddAttrs(slog.String("method", r.method), slog.String("route", r.route), slog.Int("status", r.status),
				slog.Float64("duration_ms", r.durationMS), slog.Int64("bytes", r.bytes))
			if r.sc.IsValid() {
				record.AddAttrs(slog.String(LogKeyTraceID, r.sc.TraceID().String()), slog.String(LogKeySpanID, r.sc.SpanID().String()))
			}
			if err := h.Handle(context.Background(), record); err != nil {
				t.Fatal(err)
			}
			if fast.String() != slow.String() {
				t.Errorf("with %v:\n own  %s slog %s", with, fast.String(), slow.String())
			}
		}
	}
}

// attrsOf turns key-value pairs into attributes as Logger.With does.
func attrsOf(args []any) []slog.Attr {
	r := slog.NewRecord(time.Time{}, 0, "", 0)
	r.Add(args...)
	var out []slog.Attr
	r.Attrs(func(a slog.Attr) bool { out = append(out, a); return true })
	return out
}

// TestAccessLogFallsBackToSlog: a route the encoder does not escape, a
// logger with a group open, or a logger that is not NewLogger's still get
// their access line, through slog.
func TestAccessLogFallsBackToSlog(t *testing.T) {
	var buf syncBuffer
	grouped := NewLogger(&buf, slog.LevelInfo).With("component", "c").WithGroup("req")
	if a := newAccessLog(grouped); a.line != nil {
		t.Fatal("a logger with a group open encodes access lines itself")
	}
	if l := (&accessLine{w: &buf, opts: &slog.HandlerOptions{}}); l.write(time.Now(), "GET", `/a"b`, 200, 1, 0, trace.SpanContext{}) {
		t.Fatal("a route with a quote was encoded without escaping")
	}
	serve(testRouter(nil, nil, grouped), "GET", "/abc", nil)
	lines := buf.lines(t)
	if len(lines) != 2 { // the handler's and the access line
		t.Fatalf("%d lines, want 2", len(lines))
	}
	access := lines[1]
	req, _ := access["req"].(map[string]any)
	if access["msg"] != accessMsg || req["route"] != "/{code}" || access["component"] != "c" {
		t.Errorf("access line through slog: %v", access)
	}
	if !strings.Contains(buf.b.String(), `"req":{"method":"GET"`) {
		t.Errorf("access attributes not in the open group: %s", buf.b.String())
	}
}
