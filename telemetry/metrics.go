package telemetry

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Results are the values of the result label that the app reports. The app
// owns them (telemetry knows nothing of links); NewMetrics creates each
// series at zero so that increase() sees its first event. Other values
// still count, from their first use.
type Results struct {
	LinkCreated []string // shortener_links_created_total
	Redirect    []string // shortener_redirects_total
}

// Metrics holds every metric family of names.go. A nil *Metrics is valid
// and records nothing (the app passes nil when telemetry is off).
type Metrics struct {
	duration *prometheus.HistogramVec
	active   prometheus.Gauge

	linksCreated *prometheus.CounterVec
	redirects    *prometheus.CounterVec
	storeDur     *prometheus.HistogramVec
	storeErrs    *prometheus.CounterVec
	cache        *prometheus.CounterVec
	flushBatches *prometheus.CounterVec
	visits       prometheus.Counter
	fault        prometheus.Gauge
	writable     prometheus.Gauge
	reachable    prometheus.Gauge

	// Fast paths for the known label values (no label hashing per event).
	linkCounters     map[string]prometheus.Counter
	redirectCounters map[string]prometheus.Counter
	cacheHit         prometheus.Counter
	cacheMiss        prometheus.Counter
	flushOK          prometheus.Counter
	flushErr         prometheus.Counter

	observers   atomic.Pointer[map[seriesKey]prometheus.Observer]
	observersMu sync.Mutex
}

// NewMetrics creates every family listed in names.go (except build info,
// see RegisterBuildInfo, and the families of Tracing and BufferedWriter)
// and registers them on reg. The business label values of results, the
// cache and flush results and StoreOps are created at zero. reg may be nil
// (nothing is registered; for tests).
func NewMetrics(reg prometheus.Registerer, results Results) *Metrics {
	m := &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:                            MetricHTTPRequestDuration,
			Help:                            "Duration of HTTP server requests, by route pattern, method and status code.",
			Buckets:                         DurationBuckets(),
			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  160,
			NativeHistogramMinResetDuration: time.Hour,
		}, []string{LabelRoute, LabelMethod, LabelStatus}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: MetricHTTPActiveRequests,
			Help: "Number of HTTP server requests in flight.",
		}),
		linksCreated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricLinksCreated,
			Help: "Link creation attempts, by result" + listed(results.LinkCreated) + ".",
		}, []string{LabelResult}),
		redirects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRedirects,
			Help: "Redirect lookups, by result" + listed(results.Redirect) + ".",
		}, []string{LabelResult}),
		storeDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricStoreOperationDuration,
			Help:    "Duration of store (SQLite) operations, by operation.",
			Buckets: StoreDurationBuckets(),
		}, []string{LabelOp}),
		storeErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricStoreErrors,
			Help: "Store (SQLite) operations that failed, by operation.",
		}, []string{LabelOp}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricCacheLookups,
			Help: "Link cache lookups, by result (hit, miss).",
		}, []string{LabelResult}),
		flushBatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricVisitFlushBatches,
			Help: "Visit-count flush batches written to the store, by result (ok, error).",
		}, []string{LabelResult}),
		visits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricVisitsFlushed,
			Help: "Visits written to the store by the visit-count flusher.",
		}),
		fault: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: MetricFaultInjectionEnabled,
			Help: "1 when fault injection (game day) is enabled, else 0.",
		}),
		writable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: MetricStoreWritable,
			Help: "1 when the store took the last write probe or write, else 0.",
		}),
		reachable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: MetricStoreReachable,
			Help: "1 when the last read check reached the store, else 0.",
		}),
		linkCounters:     map[string]prometheus.Counter{},
		redirectCounters: map[string]prometheus.Counter{},
	}
	m.observers.Store(&map[seriesKey]prometheus.Observer{})
	for _, r := range results.LinkCreated {
		m.linkCounters[r] = m.linksCreated.WithLabelValues(r)
	}
	for _, r := range results.Redirect {
		m.redirectCounters[r] = m.redirects.WithLabelValues(r)
	}
	for _, op := range StoreOps() {
		m.storeDur.WithLabelValues(op)
		m.storeErrs.WithLabelValues(op)
	}
	// The unmatched route exists from the start, so the duration family is
	// exported even before InitHTTP and any traffic.
	m.initUnmatched([]string{http.MethodGet, http.MethodHead, MethodOther})
	m.cacheHit = m.cache.WithLabelValues("hit")
	m.cacheMiss = m.cache.WithLabelValues("miss")
	m.flushOK = m.flushBatches.WithLabelValues("ok")
	m.flushErr = m.flushBatches.WithLabelValues("error")
	if reg != nil {
		reg.MustRegister(m.duration, m.active, m.linksCreated, m.redirects,
			m.storeDur, m.storeErrs, m.cache, m.flushBatches, m.visits, m.fault, m.writable, m.reachable)
	}
	return m
}

// listed returns " (a, b, c)" for a help text, or "" for no values.
func listed(values []string) string {
	if len(values) == 0 {
		return ""
	}
	return " (" + strings.Join(values, ", ") + ")"
}

// LinkCreated counts one link creation attempt by its result (one of
// Results.LinkCreated).
func (m *Metrics) LinkCreated(result string) {
	if m == nil {
		return
	}
	if c, ok := m.linkCounters[result]; ok {
		c.Inc()
		return
	}
	m.linksCreated.WithLabelValues(result).Inc()
}

// Redirect counts one redirect lookup by its result (one of
// Results.Redirect).
func (m *Metrics) Redirect(result string) {
	if m == nil {
		return
	}
	if c, ok := m.redirectCounters[result]; ok {
		c.Inc()
		return
	}
	m.redirects.WithLabelValues(result).Inc()
}

// StoreOp records the duration of one store operation and counts it as an
// error when err is not nil. op must be a constant (create, get, ...), never
// user data. Pass a nil err for expected outcomes such as "not found".
func (m *Metrics) StoreOp(op string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.storeDur.WithLabelValues(op).Observe(d.Seconds())
	if err != nil {
		m.storeErrs.WithLabelValues(op).Inc()
	}
}

// CacheLookup counts one link cache lookup as a hit or a miss.
func (m *Metrics) CacheLookup(hit bool) {
	if m == nil {
		return
	}
	if hit {
		m.cacheHit.Inc()
	} else {
		m.cacheMiss.Inc()
	}
}

// VisitFlush counts one visit-count flush batch; on success the visits it
// wrote are added to shortener_visits_flushed_total.
func (m *Metrics) VisitFlush(visits int, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.flushErr.Inc()
		return
	}
	m.flushOK.Inc()
	if visits > 0 {
		m.visits.Add(float64(visits))
	}
}

// SetStoreWritable sets shortener_store_writable to 1 or 0 (the store's
// write health, app.StoreHealthOptions.OnWriteStatus).
func (m *Metrics) SetStoreWritable(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.writable.Set(1)
	} else {
		m.writable.Set(0)
	}
}

// SetFaultInjection sets shortener_fault_injection_enabled to 1 or 0.
func (m *Metrics) SetFaultInjection(on bool) {
	if m == nil {
		return
	}
	if on {
		m.fault.Set(1)
	} else {
		m.fault.Set(0)
	}
}

// SetStoreReachable sets shortener_store_reachable to 1 or 0 (the outcome
// of the store's read check, app.StoreHealthOptions.OnReachable).
func (m *Metrics) SetStoreReachable(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.reachable.Set(1)
	} else {
		m.reachable.Set(0)
	}
}
