package serve

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metric names of gate serve (its own /metrics).
const (
	MetricRequests         = "gate_serve_requests_total"
	MetricAnalyses         = "gate_serve_analyses"
	MetricAnalysesFinished = "gate_serve_analyses_finished_total"
	MetricAnalysisDuration = "gate_serve_analysis_duration_seconds"
)

type metrics struct {
	requests      *prometheus.CounterVec
	finishedTotal *prometheus.CounterVec
	duration      *prometheus.HistogramVec
}

// analysesCollector reports the analyses held, by phase, from the store.
type analysesCollector struct {
	store *Store
	desc  *prometheus.Desc
}

func (c analysesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c analysesCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.store.Counts()
	for _, p := range Phases {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[p]), string(p))
	}
}

func newMetrics(reg prometheus.Registerer, store *Store) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRequests,
			Help: "Requests to gate serve by controller (argo, flagger, api), hook and status code.",
		}, []string{"controller", "hook", "code"}),
		finishedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricAnalysesFinished,
			Help: "Analyses that ended, by phase (pass, fail, inconclusive, lost, error).",
		}, []string{"phase"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricAnalysisDuration,
			Help:    "Time from the start of an analysis to its end, by phase.",
			Buckets: []float64{10, 30, 60, 120, 300, 600, 1200, 1800, 3600},
		}, []string{"phase"}),
	}
	col := analysesCollector{store: store, desc: prometheus.NewDesc(MetricAnalyses, "Analyses gate serve holds, by phase.", []string{"phase"}, nil)}
	for _, c := range []prometheus.Collector{m.requests, m.finishedTotal, m.duration, col} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Every phase exists at zero from the start, so increase() sees the
	// first fail.
	for _, p := range Phases {
		if p != PhaseRunning {
			m.finishedTotal.WithLabelValues(string(p))
			m.duration.WithLabelValues(string(p))
		}
	}
	return m, nil
}

func (m *metrics) finished(a Analysis) {
	m.finishedTotal.WithLabelValues(string(a.Phase)).Inc()
	if a.Finished != nil {
		m.duration.WithLabelValues(string(a.Phase)).Observe(a.Finished.Sub(a.Started).Seconds())
	}
}
