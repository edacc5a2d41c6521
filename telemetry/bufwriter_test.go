package telemetry

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type lockedBuf struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuf) snapshot() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

func TestBufferedWriterBatchesAndFlushes(t *testing.T) {
	out := &lockedBuf{}
	w := NewBufferedWriter(out, 1<<16, 50*time.Millisecond, nil)
	for range 100 {
		if _, err := w.Write([]byte("line\n")); err != nil {
			t.Fatal(err)
		}
	}
	if s, _ := out.snapshot(); s != "" {
		t.Fatalf("written before the interval: %d bytes", len(s))
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		s, writes := out.snapshot()
		if strings.Count(s, "line\n") == 100 {
			if writes != 1 {
				t.Errorf("100 lines took %d writes, want 1", writes)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lines not flushed by the ticker: %q", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, _ = w.Write([]byte("last\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if s, _ := out.snapshot(); !strings.HasSuffix(s, "last\n") {
		t.Fatalf("Close did not flush the tail")
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// flakyWriter fails while down is set, then writes again.
type flakyWriter struct {
	mu   sync.Mutex
	down bool
	b    bytes.Buffer
}

func (f *flakyWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return 0, errors.New("disk full")
	}
	return f.b.Write(p)
}

func (f *flakyWriter) set(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *flakyWriter) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.b.String()
}

// TestBufferedWriterSurvivesFailedWrites: a failed write loses its own
// lines only; it is said once on the error writer, every failure is
// counted, and lines written after the output recovers arrive.
func TestBufferedWriterSurvivesFailedWrites(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		flush func(*BufferedWriter) // how lines leave the buffer
	}{
		{"explicit flush", 1 << 10, func(w *BufferedWriter) { _ = w.Flush() }},
		{"line larger than the buffer", 6, func(*BufferedWriter) {}}, // each 7-byte line is written at once
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := &flakyWriter{down: true}
			stderr := &lockedBuf{}
			// An interval that never fires in the test: only tc.flush writes.
			w := NewBufferedWriter(out, tc.size, time.Hour, stderr)
			reg := prometheus.NewRegistry()
			if err := w.RegisterMetrics(reg); err != nil {
				t.Fatal(err)
			}
			for _, line := range []string{"lost-1\n", "lost-2\n"} {
				_, _ = w.Write([]byte(line))
				tc.flush(w)
			}
			out.set(false)
			_, _ = w.Write([]byte("kept-1\n"))
			tc.flush(w)
			_, _ = w.Write([]byte("kept-2\n"))
			if err := w.Close(); err != nil {
				t.Fatalf("close after recovery: %v", err)
			}

			got := out.String()
			if got != "kept-1\nkept-2\n" {
				t.Errorf("output %q, want the lines written after recovery only", got)
			}
			said, _ := stderr.snapshot()
			if n := strings.Count(said, "\n"); n != 1 || !strings.Contains(said, "disk full") || !strings.Contains(said, MetricLogWriteErrors) {
				t.Errorf("error writer got %d lines, want 1 naming the error and the metric: %q", n, said)
			}
			text := textExposition(t, reg)
			if !hasLine(text, MetricLogWriteErrors+" 2") {
				t.Errorf("want 2 failed writes counted:\n%s", text)
			}
		})
	}
}

func TestBufferedWriterOversizedLineFails(t *testing.T) {
	out := &flakyWriter{down: true}
	w := NewBufferedWriter(out, 4, time.Hour, nil)
	defer w.Close()
	if n, err := w.Write([]byte("too long for the buffer\n")); err == nil || n != 0 {
		t.Fatalf("write through a failing output: n %d err %v, want 0 and an error", n, err)
	}
	out.set(false)
	if _, err := w.Write([]byte("too long again\n")); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
	if got := out.String(); got != "too long again\n" {
		t.Errorf("output %q", got)
	}
}

func TestNilBufferedWriterMetricIsZero(t *testing.T) {
	var w *BufferedWriter
	reg := prometheus.NewRegistry()
	if err := w.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if text := textExposition(t, reg); !hasLine(text, MetricLogWriteErrors+" 0") {
		t.Errorf("exposition:\n%s", text)
	}
}
