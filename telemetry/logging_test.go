package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(s.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestLogsCarryTheSpanTraceID(t *testing.T) {
	var buf syncBuffer
	logger := NewLogger(&buf, slog.LevelInfo)
	tr, exp := memTracing(t, nil)
	h := testRouter(tr, NewMetrics(nil, testResults), logger)
	w := serve(h, "GET", "/abc?secret=hunter2", http.Header{"Traceparent": {traceparent}, "Authorization": {"Bearer sekrit"}})
	if w.Code != http.StatusFound {
		t.Fatalf("status %d", w.Code)
	}
	server, ok := spanByName(exp.GetSpans(), "GET /{code}")
	if !ok {
		t.Fatal("no server span")
	}
	store, _ := spanByName(exp.GetSpans(), "sqlite get")
	lines := buf.lines(t)
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want the handler's and the access line: %v", len(lines), lines)
	}
	handlerLine, access := lines[0], lines[1]

	// The handler logged with the store span's context.
	if handlerLine["msg"] != "lookup" || handlerLine["trace_id"] != parentTraceID || handlerLine["span_id"] != store.SpanContext.SpanID().String() {
		t.Errorf("handler line %v: want trace %s span %s", handlerLine, parentTraceID, store.SpanContext.SpanID())
	}
	want := map[string]any{
		"msg":      "request",
		"level":    "INFO",
		"method":   "GET",
		"route":    "/{code}",
		"status":   float64(302),
		"trace_id": server.SpanContext.TraceID().String(),
		"span_id":  server.SpanContext.SpanID().String(),
	}
	for k, v := range want {
		if access[k] != v {
			t.Errorf("access line %s = %v, want %v", k, access[k], v)
		}
	}
	if server.SpanContext.TraceID().String() != parentTraceID {
		t.Errorf("span trace id %s", server.SpanContext.TraceID())
	}
	if _, ok := access["duration_ms"].(float64); !ok {
		t.Errorf("access line lacks duration_ms: %v", access)
	}
	if b, ok := access["bytes"].(float64); !ok || b <= 0 {
		t.Errorf("access line bytes %v", access["bytes"])
	}
	for _, secret := range []string{"hunter2", "sekrit", "/abc"} {
		buf.mu.Lock()
		leaked := strings.Contains(buf.b.String(), secret)
		buf.mu.Unlock()
		if leaked {
			t.Errorf("log output contains %q", secret)
		}
	}
	// One trace id per line: the handler does not duplicate the key.
	buf.mu.Lock()
	n := strings.Count(buf.b.String(), `"trace_id"`)
	buf.mu.Unlock()
	if n != 2 {
		t.Errorf("%d trace_id keys in 2 lines", n)
	}
}

func TestLogsWithoutExporterStillCarryTraceIDs(t *testing.T) {
	var buf syncBuffer
	tr, err := SetupTracing(t.Context(), mapEnv(nil), "shortener", "v0")
	if err != nil {
		t.Fatal(err)
	}
	serve(testRouter(tr, nil, NewLogger(&buf, slog.LevelInfo)), "GET", "/abc", nil)
	lines := buf.lines(t)
	access := lines[len(lines)-1]
	if id, _ := access["trace_id"].(string); len(id) != 32 || id == strings.Repeat("0", 32) {
		t.Errorf("access line trace_id %q", access["trace_id"])
	}
}

func TestLoggerWithoutSpan(t *testing.T) {
	var buf syncBuffer
	logger := NewLogger(&buf, slog.LevelDebug).With("component", "flusher").WithGroup("g")
	logger.InfoContext(context.Background(), "tick", "n", 1)
	logger.Debug("no context")
	lines := buf.lines(t)
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		if _, ok := l["trace_id"]; ok {
			t.Errorf("trace_id without a span: %v", l)
		}
		if l["component"] != "flusher" {
			t.Errorf("WithAttrs lost: %v", l)
		}
	}
}

func TestLoggerLevel(t *testing.T) {
	var buf syncBuffer
	logger := NewLogger(&buf, slog.LevelWarn)
	logger.Info("hidden")
	logger.Warn("shown")
	if lines := buf.lines(t); len(lines) != 1 || lines[0]["msg"] != "shown" {
		t.Errorf("lines %v", lines)
	}
	// The access log follows the level too.
	serve(testRouter(nil, nil, logger), "GET", "/abc", nil)
	if lines := buf.lines(t); len(lines) != 1 {
		t.Errorf("access line logged below the level: %v", lines)
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{"", slog.LevelInfo, false},
		{"debug", slog.LevelDebug, false},
		{"INFO", slog.LevelInfo, false},
		{"warn", slog.LevelWarn, false},
		{"warning", slog.LevelWarn, false},
		{"Error", slog.LevelError, false},
		{" error ", slog.LevelError, false},
		{"info+2", slog.LevelInfo + 2, false},
		{"verbose", 0, true},
		{"3", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseLevel(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err == nil && got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestAccessLogNilLogger: without a logger the middleware is not there at
// all: next is returned as is and sees the server's own ResponseWriter.
func TestAccessLogNilLogger(t *testing.T) {
	var got http.ResponseWriter
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = w
		w.WriteHeader(http.StatusTeapot)
	})
	h := AccessLog(nil)(next)
	if fmt.Sprintf("%p", h) != fmt.Sprintf("%p", next) {
		t.Error("AccessLog(nil) must return next unchanged")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/abc", nil))
	if got != w || w.Code != http.StatusTeapot {
		t.Errorf("next saw writer %T (status %d), want the server's own", got, w.Code)
	}
}
