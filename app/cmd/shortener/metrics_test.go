package main

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/internal/testenv"
	"github.com/obsshort/shortener/telemetry"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestServiceExportsTheMetricContract starts the service as main does and
// scrapes its admin /metrics before any traffic: every family of the
// contract is there, and the result series that exist at zero are exactly
// the app's result lists (app owns them, telemetry creates them).
func TestServiceExportsTheMetricContract(t *testing.T) {
	addr, admin := testenv.FreeAddr(t), testenv.FreeAddr(t)
	db := filepath.Join(t.TempDir(), "s.db")
	ctx, cancel := context.WithCancel(context.Background())
	logs := &testenv.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", addr, "--admin-addr", admin, "--drain-delay", "0s"},
			envFrom(map[string]string{"SHORTENER_DB": db}), logs, logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("run did not return after shutdown")
		}
	})
	testenv.WaitHTTP(t, "http://"+admin+"/readyz", 10*time.Second)

	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	for _, name := range telemetry.ExportedMetricNames() {
		if families[name] == nil {
			t.Errorf("%s is in the metric contract but the service does not export it", name)
		}
	}
	results := func(family string) []string {
		var out []string
		for _, m := range families[family].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == telemetry.LabelResult && m.GetCounter().GetValue() == 0 {
					out = append(out, l.GetValue())
				}
			}
		}
		slices.Sort(out)
		return out
	}
	for _, c := range []struct {
		family string
		want   []string
	}{
		{telemetry.MetricLinksCreated, app.CreateResults()},
		{telemetry.MetricRedirects, app.RedirectResults()},
	} {
		slices.Sort(c.want)
		if got := results(c.family); !slices.Equal(got, c.want) {
			t.Errorf("%s at zero: %v, want the app's results %v", c.family, got, c.want)
		}
	}
}
