package server

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRenderErrorIsLoggedAndAnswered500: a template that fails (here: fed
// the wrong data) sends no part of its page; the error is logged and the
// user gets a 500 with the problem page, or plain text when the problem page
// itself is the one failing.
func TestRenderErrorIsLoggedAndAnswered500(t *testing.T) {
	tests := []struct {
		name     string
		template string
		wantType string
	}{
		{"page fails, problem page shown", "index.html", "text/html"},
		{"problem page fails, plain text", problemTemplate, "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			d := Deps{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
			w := httptest.NewRecorder()
			d.render(w, httptest.NewRequest(http.MethodGet, "/", nil), http.StatusOK, tt.template, 42)
			body := w.Body.String()
			if w.Code != http.StatusInternalServerError {
				t.Fatalf("status %d, want 500", w.Code)
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.wantType) {
				t.Fatalf("content type %q, want %s", ct, tt.wantType)
			}
			if strings.Contains(body, "<form") || strings.Count(body, "<!doctype html>") > 1 {
				t.Fatalf("answer holds part of the failed page:\n%s", body)
			}
			if !strings.Contains(body, internalMessage) {
				t.Fatalf("answer lacks the internal-error message:\n%s", body)
			}
			if !strings.Contains(logs.String(), "render page failed") || !strings.Contains(logs.String(), tt.template) {
				t.Fatalf("render error not logged with its template: %s", logs.String())
			}
		})
	}
	// The pages render with the data they are meant for.
	var logs bytes.Buffer
	d := Deps{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	w := httptest.NewRecorder()
	d.render(w, httptest.NewRequest(http.MethodGet, "/", nil), http.StatusOK, "index.html", pageData{Errors: map[string]string{}})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "<form") || logs.Len() != 0 {
		t.Fatalf("index page with its data: %d, logs %q", w.Code, logs.String())
	}
}
