// Package telemetry holds the service's metrics, tracing and logging setup.
// It knows nothing of links: the app reports events through its methods.
//
// The names in this file are a contract: dashboards/, alerts/ and the canary
// gate query exactly these series. Tests cross-check every name used there
// against this list, so renaming a metric here fails those tests.
package telemetry

// Metric names exported by the shortener. Label names are listed beside each.
const (
	// Histogram; labels http_route, http_request_method, http_response_status_code.
	MetricHTTPRequestDuration = "http_server_request_duration_seconds"
	// Gauge; no labels.
	MetricHTTPActiveRequests = "http_server_active_requests"
	// Counter; label result: the app's link creation results (created,
	// conflict, invalid, error), created at zero from Results.LinkCreated.
	MetricLinksCreated = "shortener_links_created_total"
	// Counter; label result: the app's redirect results (found, not_found,
	// expired, deleted), created at zero from Results.Redirect.
	MetricRedirects = "shortener_redirects_total"
	// Histogram; label operation (create, get, delete, add_visits, ...).
	MetricStoreOperationDuration = "shortener_store_operation_duration_seconds"
	// Counter; label operation.
	MetricStoreErrors = "shortener_store_errors_total"
	// Counter; label result: hit, miss.
	MetricCacheLookups = "shortener_cache_lookups_total"
	// Counter; label result: ok, error. One per visit-count flush batch.
	MetricVisitFlushBatches = "shortener_visit_flush_batches_total"
	// Counter; visits written to the store by the flusher.
	MetricVisitsFlushed = "shortener_visits_flushed_total"
	// Gauge = 1; labels version, revision, goversion.
	MetricBuildInfo = "shortener_build_info"
	// Gauge: 1 when fault injection is on.
	MetricFaultInjectionEnabled = "shortener_fault_injection_enabled"
	// Gauge: 1 when the store took the last write probe or write, 0 when it
	// refused it or no probe has finished yet. Readiness does not depend on it.
	MetricStoreWritable = "shortener_store_writable"
	// Gauge: 1 when the last read check reached the store, 0 when it could
	// not (a PostgreSQL server down or restarting). Redirects keep coming
	// from the cache meanwhile.
	MetricStoreReachable = "shortener_store_reachable"
	// Counter; label reason: queue_full, export_failed. Sampled spans that
	// never reached the trace collector (registered by Tracing.RegisterMetrics).
	MetricTraceSpansDropped = "shortener_trace_spans_dropped_total"
	// Counter; no labels. Writes of buffered log lines to the log output
	// that failed, losing their lines (registered by
	// BufferedWriter.RegisterMetrics).
	MetricLogWriteErrors = "shortener_log_write_errors_total"
)

// Label names and fixed values shared with dashboards, alerts and the gate.
const (
	LabelRoute  = "http_route"
	LabelMethod = "http_request_method"
	LabelStatus = "http_response_status_code"
	LabelResult = "result"
	LabelOp     = "operation"

	// RouteUnmatched is the http_route of requests that match no route.
	RouteUnmatched = "unmatched"
	// MethodOther is the http_request_method of non-standard methods.
	MethodOther = "_OTHER"
)

// LatencySLOSeconds is the redirect latency SLO threshold. It must be a
// bucket boundary of DurationBuckets (TestLatencySLOIsABucketBoundary):
// the SLI counts requests at or under it from one le bucket, and any other
// threshold could only be approximated.
const LatencySLOSeconds = 0.1

// DurationBuckets returns the classic buckets of the request duration
// histogram: fine below a millisecond (redirects), a boundary at the
// LatencySLOSeconds threshold, and a tail to 10 s. Each call returns a new
// slice: the caller may change it without changing the contract.
func DurationBuckets() []float64 {
	return []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
}

// StoreDurationBuckets returns the buckets of the store operation
// histogram: SQLite reads take tens of microseconds, writes (fsync)
// milliseconds. Each call returns a new slice.
func StoreDurationBuckets() []float64 {
	return []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}
}

// StoreOps returns the store operations whose series NewMetrics creates at
// zero; other operation names still work and appear on first use. Each
// call returns a new slice.
func StoreOps() []string {
	return []string{"create", "get", "delete", "add_visits", "ready", "scan", "update", "import", "daily_visits", "prune_visits"}
}

// ExportedMetricNames lists every metric family the shortener exports,
// besides the standard go_* and process_* collectors. Series derived from
// histograms (_bucket, _sum, _count) belong to their family.
func ExportedMetricNames() []string {
	return []string{
		MetricHTTPRequestDuration,
		MetricHTTPActiveRequests,
		MetricLinksCreated,
		MetricRedirects,
		MetricStoreOperationDuration,
		MetricStoreErrors,
		MetricCacheLookups,
		MetricVisitFlushBatches,
		MetricVisitsFlushed,
		MetricBuildInfo,
		MetricFaultInjectionEnabled,
		MetricStoreWritable,
		MetricStoreReachable,
		MetricTraceSpansDropped,
		MetricLogWriteErrors,
	}
}

// Version and Revision are stamped at build time with -ldflags -X; when
// empty, RegisterBuildInfo falls back to the module build info.
var (
	Version  string
	Revision string
)
