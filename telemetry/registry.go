package telemetry

import (
	"net/http"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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

// BuildVersion is the version and revision this binary reports, resolved
// as RegisterBuildInfo describes (for --version).
func BuildVersion() (version, revision string) { return buildVersion() }

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
