package telemetry

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestWriterKeepsResponseController checks, on a real server, that the
// wrapped writer still reaches the connection's features through Unwrap.
func TestWriterKeepsResponseController(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, testResults)
	tr, _ := memTracing(t, nil)
	r := testRouter(tr, m, NewLogger(io.Discard, 0))
	errs := make(chan error, 4)
	r.Get("/rc/deadline", func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		errs <- rc.SetWriteDeadline(time.Now().Add(time.Minute))
		errs <- rc.EnableFullDuplex()
		_, _ = w.Write([]byte("x"))
		errs <- rc.Flush()
	})
	r.Get("/rc/hijack", func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		errs <- err
		if err == nil {
			_, _ = buf.WriteString("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
			_ = buf.Flush()
			conn.Close()
		}
	})
	srv := httptest.NewServer(r)
	for _, path := range []string{"/rc/deadline", "/rc/hijack", "/stream"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Errorf("%s: status %d", path, resp.StatusCode)
		}
	}
	srv.Close() // waits for the handlers (and their deferred metrics)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("response controller: %v", err)
		}
	}
	if h, ok := histSeries(t, reg, "/stream", "GET", "200"); !ok || h.GetSampleCount() != 1 {
		t.Errorf("streamed request not recorded")
	}
}
