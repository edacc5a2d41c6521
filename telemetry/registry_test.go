package telemetry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/testenv"
	"github.com/prometheus/client_golang/prometheus"
)

func TestBuildInfo(t *testing.T) {
	tests := []struct {
		name, version, revision string
		wantVersion, wantRev    string
	}{
		{"ldflags", "v1.4.0", "abc123", "v1.4.0", "abc123"},
		// A test binary has neither a module version nor vcs info
		// (GOFLAGS=-buildvcs=false or go test): final fallbacks.
		{"fallback", "", "", "dev", "unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			oldV, oldR := Version, Revision
			Version, Revision = tc.version, tc.revision
			defer func() { Version, Revision = oldV, oldR }()
			reg := prometheus.NewRegistry()
			v, r := RegisterBuildInfo(reg)
			if v != tc.wantVersion || r != tc.wantRev {
				t.Fatalf("got %q %q, want %q %q", v, r, tc.wantVersion, tc.wantRev)
			}
			want := fmt.Sprintf("shortener_build_info{goversion=%q,revision=%q,version=%q} 1\n", runtime.Version(), tc.wantRev, tc.wantVersion)
			if text := textExposition(t, reg); !strings.Contains(text, want) {
				t.Fatalf("exposition lacks %q:\n%s", want, text)
			}
		})
	}
}

// TestPromtoolCheckMetrics lints the text exposition of a registry that saw
// traffic of every kind. promtool reads the text format, not OpenMetrics.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := testenv.RequireTool(t, "promtool")
	reg := NewRegistry()
	RegisterBuildInfo(reg)
	m := NewMetrics(reg, testResults)
	m.InitHTTP(testRoutes)
	tr, _ := memTracing(t, nil)
	if err := tr.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	logs := NewBufferedWriter(io.Discard, 1<<10, time.Hour, nil)
	defer logs.Close()
	if err := logs.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	h := testRouter(tr, m, nil)
	for _, target := range []string{"/abc", "/missing", "/boom", "/a/b", "/healthz"} {
		serve(h, "GET", target, nil)
	}
	serve(h, "BREW", "/abc", nil)
	m.LinkCreated("created")
	m.Redirect("found")
	m.StoreOp("get", time.Millisecond, nil)
	m.StoreOp("create", time.Millisecond, errors.New("x"))
	m.CacheLookup(true)
	m.VisitFlush(4, nil)
	m.SetFaultInjection(true)

	// Scrape through the handler, as Prometheus would, in the text format.
	rec := httptest.NewRecorder()
	MetricsHandler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("content type %q", ct)
	}
	// promtool lints what it is given: make sure that is the whole contract.
	for _, name := range ExportedMetricNames() {
		if !strings.Contains(rec.Body.String(), "# TYPE "+name+" ") {
			t.Errorf("scrape lacks %s: promtool would not check it", name)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(rec.Body.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("promtool check metrics: err %v\n%s", err, out)
	}
}
