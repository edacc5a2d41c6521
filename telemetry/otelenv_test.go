package telemetry

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestResourceFromEnv(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		wantService string
		wantVersion string
		wantExtra   map[string]string
	}{
		{"defaults", nil, "shortener-test", "v1.2.3", nil},
		{"OTEL_SERVICE_NAME wins", map[string]string{
			"OTEL_SERVICE_NAME":        "short-canary",
			"OTEL_RESOURCE_ATTRIBUTES": "service.name=ignored,deployment.environment.name=prod,team=sre%20core",
		}, "short-canary", "v1.2.3", map[string]string{"deployment.environment.name": "prod", "team": "sre core"}},
		{"service.name from attributes", map[string]string{
			"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs, service.version=v9",
		}, "from-attrs", "v9", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, exp := memTracing(t, tc.env)
			_, end := tr.StartStoreSpan(context.Background(), "get")
			end(nil)
			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("%d spans", len(spans))
			}
			attrs := attrMap(spans[0].Resource.Attributes())
			if attrs["service.name"] != tc.wantService || attrs["service.version"] != tc.wantVersion {
				t.Errorf("service %q %q, want %q %q", attrs["service.name"], attrs["service.version"], tc.wantService, tc.wantVersion)
			}
			for k, v := range tc.wantExtra {
				if attrs[k] != v {
					t.Errorf("resource %s = %q, want %q", k, attrs[k], v)
				}
			}
			if attrs["telemetry.sdk.name"] != "opentelemetry" {
				t.Errorf("resource lacks the SDK attributes: %v", attrs)
			}
		})
	}
}

func TestSamplerFromEnv(t *testing.T) {
	sampled := trace.ContextWithRemoteSpanContext(context.Background(), remoteParent(t, true))
	unsampled := trace.ContextWithRemoteSpanContext(context.Background(), remoteParent(t, false))
	tests := []struct {
		sampler, arg        string
		rootSampled         bool
		sampledParentKept   bool
		unsampledParentKept bool
		wantErr             bool
	}{
		// parentbased_traceidratio 0.1: a new root trace is kept at random
		// (TestDefaultSamplerKeepsAShare checks the share), parents are followed.
		{"", "", false, true, false, false},
		{"parentbased_always_on", "", true, true, false, false},
		{"always_on", "", true, true, true, false},
		{"always_off", "", false, false, false, false},
		{"parentbased_always_off", "", false, true, false, false},
		{"traceidratio", "0", false, false, false, false},
		{"parentbased_traceidratio", "0", false, true, false, false},
		{"parentbased_traceidratio", "1", true, true, false, false},
		{"traceidratio", "1.5", false, false, false, true},
		{"jaeger_remote", "", false, false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.sampler+"/"+tc.arg, func(t *testing.T) {
			_, err := samplerFromEnv(mapEnv(map[string]string{"OTEL_TRACES_SAMPLER": tc.sampler, "OTEL_TRACES_SAMPLER_ARG": tc.arg}))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			tr, exp := memTracing(t, map[string]string{"OTEL_TRACES_SAMPLER": tc.sampler, "OTEL_TRACES_SAMPLER_ARG": tc.arg})
			for _, c := range []struct {
				ctx  context.Context
				want bool
			}{{context.Background(), tc.rootSampled}, {sampled, tc.sampledParentKept}, {unsampled, tc.unsampledParentKept}} {
				if tc.sampler == "" && c.ctx == context.Background() {
					continue // random by design
				}
				exp.Reset()
				_, end := tr.StartStoreSpan(c.ctx, "get")
				end(nil)
				if got := len(exp.GetSpans()) == 1; got != c.want {
					t.Errorf("sampled %v, want %v", got, c.want)
				}
			}
		})
	}
}

// With OTEL_TRACES_SAMPLER unset, a share near DefaultSampleRatio of new
// traces is recorded, and a caller's sampled parent is always followed.
func TestDefaultSamplerKeepsAShare(t *testing.T) {
	tr, exp := memTracing(t, map[string]string{"OTEL_TRACES_SAMPLER": ""})
	h := testRouter(tr, nil, nil)
	const n = 4000
	for range n {
		serve(h, "GET", "/abc", nil)
	}
	servers := 0
	for _, s := range exp.GetSpans() {
		if s.Name == "GET /{code}" {
			servers++
		}
	}
	share := float64(servers) / n
	if share < DefaultSampleRatio*0.7 || share > DefaultSampleRatio*1.3 {
		t.Fatalf("default sampler kept %.3f of new traces, want about %.2f", share, DefaultSampleRatio)
	}
}
