package telemetry

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestContractSlicesCannotBeMutated changes every slice the contract hands
// out and checks that neither the next caller nor the exported histograms
// see the change.
func TestContractSlicesCannotBeMutated(t *testing.T) {
	floats := []struct {
		name string
		get  func() []float64
	}{
		{"DurationBuckets", DurationBuckets},
		{"StoreDurationBuckets", StoreDurationBuckets},
	}
	for _, c := range floats {
		t.Run(c.name, func(t *testing.T) {
			want := c.get()
			got := c.get()
			for i := range got {
				got[i] = -1
			}
			_ = append(got[:0], 42)
			if again := c.get(); !slices.Equal(again, want) {
				t.Fatalf("%s changed by a caller: %v, want %v", c.name, again, want)
			}
		})
	}
	t.Run("StoreOps", func(t *testing.T) {
		want := StoreOps()
		got := StoreOps()
		got[0] = "mutated"
		if again := StoreOps(); !slices.Equal(again, want) {
			t.Fatalf("StoreOps changed by a caller: %v, want %v", again, want)
		}
	})
	t.Run("histograms keep their buckets", func(t *testing.T) {
		b := DurationBuckets()
		b[len(b)-1] = 99
		reg := prometheus.NewRegistry()
		NewMetrics(reg, testResults)
		h, ok := histSeries(t, reg, RouteUnmatched, "GET", "404")
		if !ok {
			t.Fatal("no request duration series")
		}
		var les []float64
		for _, bk := range h.GetBucket() {
			les = append(les, bk.GetUpperBound())
		}
		if !slices.Equal(les, DurationBuckets()) {
			t.Fatalf("histogram buckets %v, want %v", les, DurationBuckets())
		}
	})
}

// TestLatencySLOIsABucketBoundary: the SLI reads the le bucket at the SLO
// threshold (alerts/slo.yml, le="0.1"); a threshold between two boundaries
// could only be approximated.
func TestLatencySLOIsABucketBoundary(t *testing.T) {
	if !slices.Contains(DurationBuckets(), LatencySLOSeconds) {
		t.Fatalf("LatencySLOSeconds %v is not one of DurationBuckets() %v", LatencySLOSeconds, DurationBuckets())
	}
	// The le label Prometheus sees is the formatted boundary.
	le := strconv.FormatFloat(LatencySLOSeconds, 'g', -1, 64)
	reg := prometheus.NewRegistry()
	NewMetrics(reg, testResults)
	if !hasLine(textExposition(t, reg), MetricHTTPRequestDuration+`_bucket{http_request_method="GET",http_response_status_code="404",http_route="unmatched",le="`+le+`"} 0`) {
		t.Fatalf("no le=%q bucket exported", le)
	}
}

// hasLine reports whether text holds line as a whole line.
func hasLine(text, line string) bool {
	return slices.Contains(strings.Split(text, "\n"), line)
}
