package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/obsshort/shortener/app/server"
)

// TestFaultRoutesLimitErrors: with Routes set, only the listed route
// answers 500, and its injected 500s are counted under its own route label;
// the other routes (and the health endpoints) answer as usual.
func TestFaultRoutesLimitErrors(t *testing.T) {
	ts := newTestServer(t, func(d *server.Deps) {
		d.Fault = server.Fault{ErrorRate: 1, Routes: []string{"/api/v1/links/{code}"}}
	})
	code := ts.create(t, `{"url":"https://example.com/fault"}`)["code"].(string)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/api/v1/links/" + code, 500}, // the faulted route
		{"GET", "/" + code, 302},              // a redirect: not listed
		{"GET", "/readyz", 200},
		{"GET", "/api/v1/links/" + code, 500},
	} {
		if resp, body := ts.do(t, tc.method, tc.path, ""); resp.StatusCode != tc.want {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.want)
		}
	}
	r, err := http.Get(ts.admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	for _, want := range []string{
		`http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="500",http_route="/api/v1/links/{code}"} 2`,
		`http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="500",http_route="/{code}"} 0`,
		`http_server_request_duration_seconds_count{http_request_method="POST",http_response_status_code="201",http_route="/api/v1/links"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestFaultRoutesLimitLatency: the delay applies to the listed route only.
// The delay is an hour, so a faulted request is recognised by its deadline
// running out, not by measuring time; the unlisted route answers well
// within the same deadline.
func TestFaultRoutesLimitLatency(t *testing.T) {
	ts := newTestServer(t, func(d *server.Deps) {
		d.Fault = server.Fault{Latency: time.Hour, Routes: []string{"/api/v1/links/{code}"}}
	})
	get := func(path string) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+path, nil)
		if err != nil {
			return 0, err
		}
		resp, err := ts.client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if status, err := get("/nosuchcode"); err != nil || status != 404 {
		t.Errorf("GET /{code} (not faulted): %d %v, want 404 at once", status, err)
	}
	if status, err := get("/api/v1/links/nosuchcode"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("GET /api/v1/links/{code} (delayed an hour): %d %v, want the deadline to run out", status, err)
	}
}

func TestParseFaultRoutes(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: "  ", want: nil},
		{in: "/{code}", want: []string{"/{code}"}},
		{in: "/{code}, /api/v1/links/{code},/{code}", want: []string{"/{code}", "/api/v1/links/{code}"}},
		{in: "/", want: []string{"/"}},
		{in: "/abc123", wantErr: `"/abc123" is not a public route pattern; one of /, /api/v1/links,`},
		{in: "/healthz", wantErr: `"/healthz" is not a public route pattern`},
		{in: "/{code},,/", wantErr: "empty route"},
	}
	for _, tc := range tests {
		got, err := server.ParseFaultRoutes(tc.in)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseFaultRoutes(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
			}
		case err != nil || !slices.Equal(got, tc.want):
			t.Errorf("ParseFaultRoutes(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
