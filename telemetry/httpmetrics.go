package telemetry

import (
	"maps"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

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
