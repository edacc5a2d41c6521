package telemetry

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// tracingResource builds the resource: SDK and host attributes, then
// OTEL_RESOURCE_ATTRIBUTES, then service.name (OTEL_SERVICE_NAME, else the
// one in OTEL_RESOURCE_ATTRIBUTES, else serviceName) and service.version.
func tracingResource(ctx context.Context, env func(string) string, serviceName, version string) (*resource.Resource, error) {
	attrs, err := parseKeyValues(env("OTEL_RESOURCE_ATTRIBUTES"))
	if err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	kvs := make([]attribute.KeyValue, 0, len(attrs)+2)
	name, ver := serviceName, version
	for _, kv := range attrs {
		switch kv[0] {
		case "service.name":
			name = kv[1]
		case "service.version":
			ver = kv[1]
		default:
			kvs = append(kvs, attribute.String(kv[0], kv[1]))
		}
	}
	if n := env("OTEL_SERVICE_NAME"); n != "" {
		name = n
	}
	if name == "" {
		name = "unknown_service"
	}
	kvs = append(kvs, attribute.String("service.name", name))
	if ver != "" {
		kvs = append(kvs, attribute.String("service.version", ver))
	}
	return resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithAttributes(kvs...),
	)
}

// parseKeyValues parses the W3C-baggage-like "k1=v1,k2=v2" list of
// OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS (values
// percent-decoded).
func parseKeyValues(s string) ([][2]string, error) {
	var out [][2]string
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid entry %q (want key=value)", part)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("invalid value of %q: %w", k, err)
		}
		out = append(out, [2]string{k, dv})
	}
	return out, nil
}

// otlpExporter returns the OTLP/HTTP exporter the environment asks for, or
// nil when no endpoint is configured.
func otlpExporter(ctx context.Context, env func(string) string, timeout time.Duration) (sdktrace.SpanExporter, error) {
	switch exp := strings.ToLower(env("OTEL_TRACES_EXPORTER")); exp {
	case "", "otlp":
	case "none":
		return nil, nil
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: only otlp and none are supported", exp)
	}
	endpoint := env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		if base := env("OTEL_EXPORTER_OTLP_ENDPOINT"); base != "" {
			endpoint = strings.TrimSuffix(base, "/") + "/v1/traces"
		}
	}
	if endpoint == "" {
		return nil, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("OTLP traces endpoint %q: want an http:// or https:// URL", endpoint)
	}
	protocol := first(env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), env("OTEL_EXPORTER_OTLP_PROTOCOL"))
	if protocol != "" && protocol != "http/protobuf" {
		return nil, fmt.Errorf("OTLP protocol %q: only http/protobuf is supported", protocol)
	}
	opts := []otlptracehttp.Option{
		otlptracehttp.WithEndpointURL(endpoint),
		otlptracehttp.WithTimeout(timeout),
		// Retries stay within one export timeout: a collector that is down
		// costs a bounded queue, never a growing backlog.
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{
			Enabled:         true,
			InitialInterval: 500 * time.Millisecond,
			MaxInterval:     2 * time.Second,
			MaxElapsedTime:  timeout,
		}),
	}
	if h := first(env("OTEL_EXPORTER_OTLP_TRACES_HEADERS"), env("OTEL_EXPORTER_OTLP_HEADERS")); h != "" {
		kvs, err := parseKeyValues(h)
		if err != nil {
			return nil, fmt.Errorf("OTLP headers: %w", err)
		}
		headers := make(map[string]string, len(kvs))
		for _, kv := range kvs {
			headers[kv[0]] = kv[1]
		}
		opts = append(opts, otlptracehttp.WithHeaders(headers))
	}
	if ms := first(env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"), env("OTEL_EXPORTER_OTLP_TIMEOUT")); ms != "" {
		n, err := strconv.Atoi(ms)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("OTLP timeout %q: want milliseconds", ms)
		}
		opts = append(opts, otlptracehttp.WithTimeout(time.Duration(n)*time.Millisecond))
	}
	// New does not connect: a collector that is down is not an error here.
	return otlptracehttp.New(ctx, opts...)
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// DefaultSampleRatio is the share of new traces recorded when
// OTEL_TRACES_SAMPLER is unset. The SDK's own default (parentbased_always_on)
// records every redirect; at tens of thousands of redirects per second that
// cost 17% of the CPU in the benchmark (bench/README.md) for spans nobody
// reads. A caller's sampled parent is still honoured, and exemplars still
// link the histogram to the traces that are kept.
const DefaultSampleRatio = 0.1

// samplerFromEnv parses OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG;
// unset, it is parentbased_traceidratio at DefaultSampleRatio.
func samplerFromEnv(env func(string) string) (sdktrace.Sampler, error) {
	name := strings.ToLower(env("OTEL_TRACES_SAMPLER"))
	arg := env("OTEL_TRACES_SAMPLER_ARG")
	ratio := func() (float64, error) {
		if arg == "" {
			return 1, nil
		}
		f, err := strconv.ParseFloat(arg, 64)
		if err != nil || f < 0 || f > 1 {
			return 0, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%q: want a ratio between 0 and 1", arg)
		}
		return f, nil
	}
	switch name {
	case "":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(DefaultSampleRatio)), nil
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio":
		f, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.TraceIDRatioBased(f), nil
	case "parentbased_traceidratio":
		f, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(f)), nil
	}
	return nil, fmt.Errorf("OTEL_TRACES_SAMPLER=%q: unsupported sampler", name)
}
