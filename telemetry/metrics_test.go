package telemetry

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestBusinessMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, testResults)
	m.LinkCreated("created")
	m.LinkCreated("created")
	m.LinkCreated("conflict")
	m.Redirect("found")
	m.Redirect("expired")
	m.StoreOp("get", 3*time.Millisecond, nil)
	m.StoreOp("get", time.Millisecond, errors.New("disk"))
	m.CacheLookup(true)
	m.CacheLookup(false)
	m.CacheLookup(false)
	m.VisitFlush(7, nil)
	m.VisitFlush(3, errors.New("busy"))
	m.SetFaultInjection(true)
	checks := []struct {
		c    prometheus.Collector
		want float64
	}{
		{m.linksCreated.WithLabelValues("created"), 2},
		{m.linksCreated.WithLabelValues("conflict"), 1},
		{m.redirects.WithLabelValues("found"), 1},
		{m.redirects.WithLabelValues("expired"), 1},
		{m.redirects.WithLabelValues("not_found"), 0},
		{m.storeErrs.WithLabelValues("get"), 1},
		{m.cache.WithLabelValues("hit"), 1},
		{m.cache.WithLabelValues("miss"), 2},
		{m.flushBatches.WithLabelValues("ok"), 1},
		{m.flushBatches.WithLabelValues("error"), 1},
		{m.visits, 7},
		{m.fault, 1},
	}
	for i, c := range checks {
		if got := toFloat64(t, c.c); got != c.want {
			t.Errorf("check %d: got %v, want %v", i, got, c.want)
		}
	}
	if n := collectAndCount(t, m.storeDur); n != len(StoreOps()) {
		t.Errorf("store duration series %d, want %d", n, len(StoreOps()))
	}
	m.SetFaultInjection(false)
	if got := toFloat64(t, m.fault); got != 0 {
		t.Errorf("fault gauge %v after off", got)
	}
}

func TestAllFamiliesExported(t *testing.T) {
	reg := NewRegistry()
	RegisterBuildInfo(reg)
	NewMetrics(reg, testResults) // no InitHTTP: every family must exist regardless
	var tr *Tracing
	if err := tr.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	var logs *BufferedWriter
	if err := logs.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, name := range ExportedMetricNames() {
		if !have[name] {
			t.Errorf("%s is in ExportedMetricNames but not exported", name)
		}
	}
	for _, std := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if !have[std] {
			t.Errorf("standard collector metric %s missing", std)
		}
	}
}

func TestNilMetricsIsNoop(t *testing.T) {
	var m *Metrics
	m.InitHTTP(testRoutes)
	m.LinkCreated("created")
	m.Redirect("found")
	m.StoreOp("get", time.Millisecond, errors.New("x"))
	m.CacheLookup(true)
	m.VisitFlush(1, nil)
	m.SetFaultInjection(true)
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	if h := m.Middleware(next); fmt.Sprintf("%p", h) != fmt.Sprintf("%p", next) {
		t.Error("nil Metrics.Middleware must return next unchanged")
	}
	w := serve(testRouter(nil, nil, nil), "GET", "/abc", nil)
	if w.Code != http.StatusFound {
		t.Errorf("status %d", w.Code)
	}
}

// TestResultsComeFromTheCaller: the result series created at zero are
// exactly the values the app passes in (telemetry declares none of its
// own), and a value outside them still counts from its first use.
func TestResultsComeFromTheCaller(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, Results{LinkCreated: []string{"made", "refused"}, Redirect: []string{"sent"}})
	values := func(family string) []string {
		var out []string
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != family {
				continue
			}
			for _, s := range mf.GetMetric() {
				for _, l := range s.GetLabel() {
					if l.GetName() == LabelResult {
						out = append(out, l.GetValue()+"="+fmt.Sprint(s.GetCounter().GetValue()))
					}
				}
			}
		}
		slices.Sort(out)
		return out
	}
	if got, want := values(MetricLinksCreated), []string{"made=0", "refused=0"}; !slices.Equal(got, want) {
		t.Errorf("%s series %v, want %v", MetricLinksCreated, got, want)
	}
	if got, want := values(MetricRedirects), []string{"sent=0"}; !slices.Equal(got, want) {
		t.Errorf("%s series %v, want %v", MetricRedirects, got, want)
	}
	m.LinkCreated("made")
	m.Redirect("lost")
	if got, want := values(MetricLinksCreated), []string{"made=1", "refused=0"}; !slices.Equal(got, want) {
		t.Errorf("%s series %v, want %v", MetricLinksCreated, got, want)
	}
	if got, want := values(MetricRedirects), []string{"lost=1", "sent=0"}; !slices.Equal(got, want) {
		t.Errorf("%s series %v, want %v", MetricRedirects, got, want)
	}
}
