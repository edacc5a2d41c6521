package kubernetes

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	flaggerv1 "github.com/fluxcd/flagger/pkg/apis/flagger/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/obsshort/shortener/alerts"
	"github.com/obsshort/shortener/ci/gate/serve"
	"github.com/obsshort/shortener/dashboards/metriccheck"
	"github.com/obsshort/shortener/internal/testenv"
)

func flaggerCanary(t *testing.T) (*built, *flaggerv1.Canary) {
	t.Helper()
	b := build(t, "flagger")
	return b, get[*flaggerv1.Canary](t, b, "Canary", "shortener")
}

// TestCanaryRefersToTheOverlay: the Canary's target, ingress and service
// port exist, and the admin listener stays off the services Flagger makes.
func TestCanaryRefersToTheOverlay(t *testing.T) {
	b, c := flaggerCanary(t)
	d := get[*appsv1.Deployment](t, b, c.Spec.TargetRef.Kind, c.Spec.TargetRef.Name)
	if c.Spec.IngressRef == nil {
		t.Fatal("no ingressRef: with the nginx provider Flagger needs the Ingress")
	}
	ing := get[*networkingv1.Ingress](t, b, c.Spec.IngressRef.Kind, c.Spec.IngressRef.Name)
	if be := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service; be == nil || be.Name != c.Name || be.Port.Name != c.Spec.Service.PortName {
		t.Errorf("Ingress backend %+v, want Flagger's apex service %s port %s", be, c.Name, c.Spec.Service.PortName)
	}
	tp := c.Spec.Service.TargetPort.String()
	if !hasPort(container(t, d.Spec.Template.Spec, "shortener"), tp) || tp == "admin" {
		t.Errorf("Canary service targets port %q: want the public listener's port", tp)
	}
	if len(all[*flaggerv1.Canary](b, "Canary")) != 1 {
		t.Error("want one Canary")
	}
	for _, o := range b.objs {
		if o.kind == "Service" && (o.name == c.Name || o.name == c.Name+"-primary" || o.name == c.Name+"-canary") {
			t.Errorf("the overlay keeps Service %s, which Flagger generates and owns", o.name)
		}
	}
}

// flaggerHookTypes are the webhook types gate serve serves, each at
// /flagger/v1/<type>.
var flaggerHookTypes = []flaggerv1.HookType{
	flaggerv1.PreRolloutHook, flaggerv1.RolloutHook, flaggerv1.ConfirmTrafficIncreaseHook,
	flaggerv1.ConfirmPromotionHook, flaggerv1.RollbackHook, flaggerv1.PostRolloutHook, flaggerv1.EventHook,
}

// callLikeFlagger posts the payload Flagger's CallWebhook builds and
// applies its rule: a status above 202 is an error (the body its text).
func callLikeFlagger(t *testing.T, url string, c *flaggerv1.Canary, w flaggerv1.CanaryWebhook, checksum string) (ok bool, text string) {
	t.Helper()
	p := flaggerv1.CanaryWebhookPayload{Name: c.Name, Namespace: c.Namespace, Phase: flaggerv1.CanaryPhaseProgressing, Checksum: checksum}
	if w.Metadata != nil {
		p.Metadata = *w.Metadata
	}
	if w.Type == flaggerv1.EventHook {
		p.Metadata = map[string]string{"eventMessage": "New revision detected", "eventType": "Normal", "timestamp": "1795867200000"}
	}
	body, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode <= 202, string(b)
}

// TestCanaryWebhooksAgainstGateServe sends each of the Canary's webhooks,
// with the payload Flagger builds, to gate serve at the path the Canary
// names, and checks what Flagger then does for a pass and for a fail.
func TestCanaryWebhooksAgainstGateServe(t *testing.T) {
	b, c := flaggerCanary(t)
	byType := map[flaggerv1.HookType]flaggerv1.CanaryWebhook{}
	for _, w := range c.Spec.Analysis.Webhooks {
		typ := w.Type
		if typ == "" {
			typ = flaggerv1.RolloutHook
		}
		if path := gateURL(t, b, w.URL); path != "/flagger/v1/"+string(typ) {
			t.Errorf("webhook %s of type %s calls %s, want /flagger/v1/%s", w.Name, typ, path, typ)
		}
		byType[typ] = w
	}
	for _, typ := range flaggerHookTypes {
		if _, ok := byType[typ]; !ok {
			t.Errorf("the Canary has no %s webhook to gate serve", typ)
		}
	}
	// What Flagger does with each answer: go on (true) or not.
	for _, tt := range []struct {
		outcome serve.Outcome
		want    map[flaggerv1.HookType]bool
	}{
		{serve.Pass, map[flaggerv1.HookType]bool{
			flaggerv1.PreRolloutHook: true, flaggerv1.RolloutHook: true, flaggerv1.ConfirmTrafficIncreaseHook: true,
			flaggerv1.ConfirmPromotionHook: true, flaggerv1.RollbackHook: false, flaggerv1.EventHook: true, flaggerv1.PostRolloutHook: true,
		}},
		{serve.Fail, map[flaggerv1.HookType]bool{
			flaggerv1.PreRolloutHook: false, flaggerv1.RolloutHook: false, flaggerv1.ConfirmTrafficIncreaseHook: false,
			flaggerv1.ConfirmPromotionHook: false, flaggerv1.RollbackHook: true, flaggerv1.EventHook: true, flaggerv1.PostRolloutHook: true,
		}},
		{serve.Inconclusive, map[flaggerv1.HookType]bool{
			flaggerv1.PreRolloutHook: false, flaggerv1.RolloutHook: true, flaggerv1.ConfirmTrafficIncreaseHook: false,
			flaggerv1.ConfirmPromotionHook: false, flaggerv1.RollbackHook: false, flaggerv1.EventHook: true, flaggerv1.PostRolloutHook: true,
		}},
	} {
		t.Run(string(tt.outcome), func(t *testing.T) {
			srv, r, store := gateServe(t, t.TempDir())
			const checksum = "7b9f6c5d8"
			if ok, text := callLikeFlagger(t, srv.URL+"/flagger/v1/pre-rollout", c, byType[flaggerv1.PreRolloutHook], checksum); !ok {
				t.Fatalf("pre-rollout starting the analysis: %s", text)
			}
			r.ch(`namespace="shortener", job="shortener", track="canary"`) <- serve.Result{Outcome: tt.outcome, Reason: string(tt.outcome) + ": decided"}
			waitPhase(t, store, serve.Phase(tt.outcome))
			for _, typ := range flaggerHookTypes {
				w := byType[typ]
				ok, text := callLikeFlagger(t, srv.URL+"/flagger/v1/"+string(typ), c, w, checksum)
				if ok != tt.want[typ] {
					t.Errorf("%s after %s: goes on %v (%q), want %v", typ, tt.outcome, ok, text, tt.want[typ])
				}
			}
		})
	}
}

// TestRecordedFlaggerRequestsHaveFlaggersShape: the bodies gate serve's
// tests replay decode strictly into Flagger's CanaryWebhookPayload.
func TestRecordedFlaggerRequestsHaveFlaggersShape(t *testing.T) {
	for _, f := range []string{"flagger-webhook.json", "flagger-event.json"} {
		b, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "ci/gate/serve/testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		var p flaggerv1.CanaryWebhookPayload
		if err := sigsyaml.UnmarshalStrict(b, &p); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if p.Name == "" || p.Namespace == "" || p.Checksum == "" || p.Phase == "" {
			t.Errorf("%s: %+v lacks a field Flagger always sends", f, p)
		}
	}
}

// renderFlaggerQuery renders a MetricTemplate query as Flagger's
// observers.RenderQuery does, with the template functions of Flagger's
// MetricTemplateModel.
func renderFlaggerQuery(t *testing.T, q string, model flaggerv1.MetricTemplateModel) string {
	t.Helper()
	tpl, err := template.New("tmpl").Option("missingkey=error").Funcs(model.TemplateFunctions()).Parse(q)
	if err != nil {
		t.Fatalf("query template: %v", err)
	}
	var b strings.Builder
	if err := tpl.Execute(&b, nil); err != nil {
		t.Fatalf("query template: %v", err)
	}
	return b.String()
}

// TestMetricTemplates: every metric the Canary checks names a template in
// the overlay, on the Prometheus the gate reads, and each rendered query
// selects only series the shortener exports.
func TestMetricTemplates(t *testing.T) {
	b, c := flaggerCanary(t)
	cfg := gateConfig(t, b)
	rules, err := alerts.Load()
	if err != nil {
		t.Fatal(err)
	}
	known := metriccheck.New(alerts.RecordedNames(rules))
	for _, m := range c.Spec.Analysis.Metrics {
		if m.TemplateRef == nil {
			t.Errorf("metric %s has no templateRef", m.Name)
			continue
		}
		mt := get[*flaggerv1.MetricTemplate](t, b, "MetricTemplate", m.TemplateRef.Name)
		if mt.Spec.Provider.Type != "prometheus" || mt.Spec.Provider.Address != cfg.Prometheus.URL {
			t.Errorf("template %s reads %s %s, the gate %s", mt.Name, mt.Spec.Provider.Type, mt.Spec.Provider.Address, cfg.Prometheus.URL)
		}
		if m.ThresholdRange == nil || (m.ThresholdRange.Max == nil && m.ThresholdRange.Min == nil) {
			t.Errorf("metric %s has no thresholdRange", m.Name)
		}
		q := renderFlaggerQuery(t, mt.Spec.Query, flaggerv1.MetricTemplateModel{Name: c.Name, Namespace: c.Namespace, Target: c.Spec.TargetRef.Name, Interval: m.Interval})
		names, err := metriccheck.Extract(q)
		if err != nil {
			t.Fatalf("%s: %v", mt.Name, err)
		}
		for _, n := range names {
			if !known.Known(n) {
				t.Errorf("template %s queries %s, which nothing exports", mt.Name, n)
			}
		}
	}
}
