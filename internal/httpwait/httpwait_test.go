package httpwait

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestUntilOK(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if err := UntilOK(context.Background(), srv.URL, 5*time.Second, nil); err != nil {
		t.Fatalf("ready after two 503s: %v", err)
	}
	if calls.Load() != 3 {
		t.Fatalf("%d calls, want 3", calls.Load())
	}

	never := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer never.Close()
	err := UntilOK(context.Background(), never.URL, 200*time.Millisecond, nil)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("never ready: %v, want a timeout naming the last answer", err)
	}
	start := time.Now()
	err = UntilOK(context.Background(), never.URL, 10*time.Second, func() error { return errors.New("process exited") })
	if err == nil || !strings.Contains(err.Error(), "process exited") || time.Since(start) > 2*time.Second {
		t.Fatalf("dead process: %v after %s", err, time.Since(start))
	}
}
