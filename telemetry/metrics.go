package telemetry

import (
	"maps"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
)

// NewRegistry returns a fresh registry holding the Go runtime and process
// collectors. The app passes it to NewMetrics, RegisterBuildInfo and
// MetricsHandler; nothing here touches prometheus.DefaultRegisterer.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// RegisterBuildInfo registers shortener_build_info{version,revision,goversion} 1
// and returns the version and revision it reports. Version and Revision come
// from -ldflags -X (see the Makefile); when empty, from debug.ReadBuildInfo
// (main module version, vcs.revision); finally "dev" and "unknown".
func RegisterBuildInfo(reg prometheus.Registerer) (version, revision string) {
	version, revision = buildVersion()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: MetricBuildInfo,
		Help: "Build information of the running shortener; the value is always 1.",
	}, []string{"version", "revision", "goversion"})
	g.WithLabelValues(version, revision, runtime.Version()).Set(1)
	if reg != nil {
		reg.MustRegister(g)
	}
	return version, revision
}

// buildVersion resolves the version and revision as RegisterBuildInfo
// describes.
func buildVersion() (version, revision string) {
	version, revision = Version, Revision
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		if revision == "" {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && s.Value != "" {
					revision = s.Value
				}
			}
		}
	}
	if version == "" {
		version = "dev"
	}
	if revision == "" {
		revision = "unknown"
	}
	return version, revision
}

// MetricsHandler serves the registry in the Prometheus text format, or in
// OpenMetrics (with exemplars) when the scraper asks for it. Mount it on the
// admin listener only.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorHandling:     promhttp.ContinueOnError,
	})
}

// Known values of the business labels. They are created at zero by
// NewMetrics so that increase() sees the first event of each.
var (
	LinkResults     = []string{"created", "conflict", "invalid", "error"}
	RedirectResults = []string{"found", "not_found", "expired", "deleted"}
	// StoreOps are the store operations whose series NewMetrics creates at
	// zero; other operation names still work and appear on first use.
	StoreOps = []string{"create", "get", "delete", "add_visits", "ready"}
)

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
// see RegisterBuildInfo) and registers them on reg. Business label values
// are created at zero. reg may be nil (nothing is registered; for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:                            MetricHTTPRequestDuration,
			Help:                            "Duration of HTTP server requests, by route pattern, method and status code.",
			Buckets:                         DurationBuckets,
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
			Help: "Link creation attempts, by result (created, conflict, invalid, error).",
		}, []string{LabelResult}),
		redirects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRedirects,
			Help: "Redirect lookups, by result (found, not_found, expired, deleted).",
		}, []string{LabelResult}),
		storeDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricStoreOperationDuration,
			Help:    "Duration of store (SQLite) operations, by operation.",
			Buckets: StoreDurationBuckets,
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
		linkCounters:     map[string]prometheus.Counter{},
		redirectCounters: map[string]prometheus.Counter{},
	}
	m.observers.Store(&map[seriesKey]prometheus.Observer{})
	for _, r := range LinkResults {
		m.linkCounters[r] = m.linksCreated.WithLabelValues(r)
	}
	for _, r := range RedirectResults {
		m.redirectCounters[r] = m.redirects.WithLabelValues(r)
	}
	for _, op := range StoreOps {
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
			m.storeDur, m.storeErrs, m.cache, m.flushBatches, m.visits, m.fault, m.writable)
	}
	return m
}

// Route describes one route of the router for InitHTTP: its chi pattern, its
// method and the status codes it can answer.
type Route struct {
	Method   string
	Pattern  string
	Statuses []int
}

// unmatchedStatuses are the statuses of requests that match no route.
var unmatchedStatuses = []int{http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusInternalServerError}

// InitHTTP creates the request duration series of every route x method x
// status at zero, plus the unmatched route with 404, 405 and 500 for GET,
// HEAD, _OTHER and every method the routes use, so that increase() sees
// their first request.
func (m *Metrics) InitHTTP(routes []Route) {
	if m == nil {
		return
	}
	methods := map[string]bool{http.MethodGet: true, http.MethodHead: true, MethodOther: true}
	for _, rt := range routes {
		method := foldMethod(rt.Method)
		methods[method] = true
		if rt.Pattern == "" {
			continue
		}
		for _, s := range rt.Statuses {
			m.duration.WithLabelValues(rt.Pattern, method, statusLabel(s))
		}
	}
	for method := range methods {
		m.initUnmatched([]string{method})
	}
}

func (m *Metrics) initUnmatched(methods []string) {
	for _, method := range methods {
		for _, s := range unmatchedStatuses {
			m.duration.WithLabelValues(RouteUnmatched, method, statusLabel(s))
		}
	}
}

// Middleware records the RED metrics of each request. Mount it inside the
// chi router with r.Use, after Tracing.Middleware (so the exemplar sees the
// span): chi sets the route pattern on its own request copy, which only a
// middleware inside the router can read, and only after next returns.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.active.Inc()
		rec, w := wrapWriter(w)
		completed := false
		defer func() {
			m.active.Dec()
			status := rec.statusOr(completed)
			obs := m.observer(rec.route(r, status), foldMethod(r.Method), status)
			d := rec.duration().Seconds()
			if sc := trace.SpanContextFromContext(r.Context()); sc.IsSampled() {
				if eo, ok := obs.(prometheus.ExemplarObserver); ok {
					eo.ObserveWithExemplar(d, prometheus.Labels{
						"trace_id": sc.TraceID().String(),
						"span_id":  sc.SpanID().String(),
					})
					return
				}
			}
			obs.Observe(d)
		}()
		next.ServeHTTP(w, r)
		completed = true
	})
}

// seriesKey identifies one request duration series.
type seriesKey struct {
	route, method string
	status        int
}

// observer returns the duration series of these labels. Looking a series up
// with WithLabelValues hashes and validates the label values (~250 ns); the
// observers are cached in a copy-on-write map read without locks. The
// labels are bounded (route patterns, folded methods, status codes the
// handlers write), so is the map.
func (m *Metrics) observer(route, method string, status int) prometheus.Observer {
	k := seriesKey{route, method, status}
	if o, ok := (*m.observers.Load())[k]; ok {
		return o
	}
	m.observersMu.Lock()
	defer m.observersMu.Unlock()
	old := *m.observers.Load()
	if o, ok := old[k]; ok {
		return o
	}
	o := m.duration.WithLabelValues(route, method, statusLabel(status))
	next := make(map[seriesKey]prometheus.Observer, len(old)+1)
	maps.Copy(next, old)
	next[k] = o
	m.observers.Store(&next)
	return o
}

// LinkCreated counts one link creation attempt: created, conflict, invalid
// or error.
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

// Redirect counts one redirect lookup: found, not_found, expired or deleted.
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

// foldMethod returns the method label: the standard methods as they are,
// anything else MethodOther (the method is client input: unbounded).
func foldMethod(method string) string {
	switch method {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodOptions:
		return http.MethodOptions
	case http.MethodConnect:
		return http.MethodConnect
	case http.MethodTrace:
		return http.MethodTrace
	}
	return MethodOther
}

// statusLabels holds the status code strings, to format none per request.
var statusLabels = func() []string {
	s := make([]string, 600)
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusLabel(code int) string {
	if code >= 0 && code < len(statusLabels) {
		return statusLabels[code]
	}
	return strconv.Itoa(code)
}
