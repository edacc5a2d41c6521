package kubernetes

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	flaggerv1 "github.com/fluxcd/flagger/pkg/apis/flagger/v1beta1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/obsshort/shortener/alerts"
	"github.com/obsshort/shortener/ci/gate"
	"github.com/obsshort/shortener/dashboards"
	"github.com/obsshort/shortener/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the generated manifests")

// TestGeneratedFilesAreCurrent: the PrometheusRules and dashboard
// ConfigMaps in base/generated are exactly what Generate makes from
// alerts/*.yml and dashboards/*.json now (run with -update to rewrite).
func TestGeneratedFilesAreCurrent(t *testing.T) {
	root := testenv.ModuleRoot(t)
	files, err := Generate(os.DirFS(root))
	if err != nil {
		t.Fatal(err)
	}
	for rel, want := range files {
		path := filepath.Join(root, "deploy", "kubernetes", rel)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run: go test ./deploy/kubernetes -run TestGeneratedFilesAreCurrent -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: alerts/ or dashboards/ changed; run: go test ./deploy/kubernetes -run TestGeneratedFilesAreCurrent -update", rel)
		}
	}
}

// object is one built manifest, decoded into its upstream Go type.
type object struct {
	kind, name string
	raw        []byte // YAML as kustomize wrote it
	v          any
}

// upstream maps apiVersion/kind to the Go type that must accept it.
var upstream = map[string]func() any{
	"v1/Namespace":                            func() any { return &corev1.Namespace{} },
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/PersistentVolumeClaim":                func() any { return &corev1.PersistentVolumeClaim{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"networking.k8s.io/v1/Ingress":            func() any { return &networkingv1.Ingress{} },
	"monitoring.coreos.com/v1/PodMonitor":     func() any { return &monitoringv1.PodMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
	"argoproj.io/v1alpha1/Rollout":            func() any { return &rolloutsv1alpha1.Rollout{} },
	"argoproj.io/v1alpha1/AnalysisTemplate":   func() any { return &rolloutsv1alpha1.AnalysisTemplate{} },
	"flagger.app/v1beta1/Canary":              func() any { return &flaggerv1.Canary{} },
	"flagger.app/v1beta1/MetricTemplate":      func() any { return &flaggerv1.MetricTemplate{} },
}

// decodeStrict decodes one manifest into its upstream type; unknown or
// duplicate fields and unknown kinds are errors.
func decodeStrict(raw []byte) (object, error) {
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := sigsyaml.Unmarshal(raw, &tm); err != nil {
		return object{}, err
	}
	mk, ok := upstream[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return object{}, fmt.Errorf("%s %s/%s: no upstream type to check it against", tm.Metadata.Name, tm.APIVersion, tm.Kind)
	}
	v := mk()
	if err := sigsyaml.UnmarshalStrict(raw, v); err != nil {
		return object{}, fmt.Errorf("%s %s: %w", tm.Kind, tm.Metadata.Name, err)
	}
	return object{kind: tm.Kind, name: tm.Metadata.Name, raw: raw, v: v}, nil
}

// built is one overlay after kustomize, every object decoded.
type built struct {
	overlay string
	objs    []object
}

var builtCache = map[string]*built{}

func build(t *testing.T, overlay string) *built {
	t.Helper()
	if b, ok := builtCache[overlay]; ok {
		return b
	}
	dir := filepath.Join(testenv.ModuleRoot(t), "deploy", "kubernetes", "overlays", overlay)
	m, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := &built{overlay: overlay}
	for _, r := range m.Resources() {
		raw, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		o, err := decodeStrict(raw)
		if err != nil {
			t.Fatalf("overlay %s: %v", overlay, err)
		}
		b.objs = append(b.objs, o)
	}
	builtCache[overlay] = b
	return b
}

// get returns the object of kind and name, failing the test if absent.
func get[T any](t *testing.T, b *built, kind, name string) T {
	t.Helper()
	for _, o := range b.objs {
		if o.kind == kind && o.name == name {
			return o.v.(T)
		}
	}
	t.Fatalf("overlay %s has no %s %s", b.overlay, kind, name)
	var zero T
	return zero
}

func all[T any](b *built, kind string) []T {
	var out []T
	for _, o := range b.objs {
		if o.kind == kind {
			out = append(out, o.v.(T))
		}
	}
	return out
}

// TestOverlaysDecodeStrictly builds every overlay and decodes each object
// into its upstream type (k8s.io/api, Argo Rollouts v1alpha1, Prometheus
// Operator monitoring/v1, Flagger v1beta1); an unknown field fails.
func TestOverlaysDecodeStrictly(t *testing.T) {
	want := map[string][]string{
		"plain":         {"Namespace", "Deployment", "Service", "PersistentVolumeClaim", "PodMonitor", "PrometheusRule", "ConfigMap"},
		"argo-rollouts": {"Rollout", "AnalysisTemplate", "Deployment", "Service", "PodMonitor"},
		"flagger":       {"Canary", "MetricTemplate", "Ingress", "Deployment", "PodMonitor"},
	}
	for _, ov := range Overlays {
		t.Run(ov, func(t *testing.T) {
			b := build(t, ov)
			for _, k := range want[ov] {
				if !slices.ContainsFunc(b.objs, func(o object) bool { return o.kind == k }) {
					t.Errorf("no %s", k)
				}
			}
			for _, o := range b.objs {
				if ns := namespaceOf(o.v); o.kind != "Namespace" && ns != "shortener" {
					t.Errorf("%s %s in namespace %q, want shortener", o.kind, o.name, ns)
				}
			}
		})
	}
}

func namespaceOf(v any) string {
	return reflect.ValueOf(v).Elem().FieldByName("ObjectMeta").FieldByName("Namespace").String()
}

// TestStrictDecodingRejectsUnknownFields shows the check can fail: a typo
// in any object of an overlay is refused.
func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	b := build(t, "argo-rollouts")
	for _, o := range b.objs {
		var m map[string]any
		if err := yaml.Unmarshal(o.raw, &m); err != nil {
			t.Fatal(err)
		}
		m["spec"] = map[string]any{"replicaz": 1}
		if o.kind == "ConfigMap" {
			delete(m, "spec")
			m["datta"] = map[string]any{"a": "b"}
		}
		raw, _ := yaml.Marshal(m)
		if _, err := decodeStrict(raw); err == nil || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("%s %s with an unknown field: %v, want an unknown field error", o.kind, o.name, err)
		}
	}
	if _, err := decodeStrict([]byte("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n")); err == nil {
		t.Error("an unknown kind decoded")
	}
}

// TestPrometheusRulesAreTheAlertFiles: the PrometheusRules hold exactly
// the rules of alerts/*.yml (same groups, names, expressions, for, labels,
// annotations), so Prometheus in the cluster evaluates what promtool tests.
func TestPrometheusRulesAreTheAlertFiles(t *testing.T) {
	want, err := alerts.Load()
	if err != nil {
		t.Fatal(err)
	}
	var got []alerts.Rule
	for _, pr := range all[*monitoringv1.PrometheusRule](build(t, "plain"), "PrometheusRule") {
		for _, g := range pr.Spec.Groups {
			for _, r := range g.Rules {
				ar := alerts.Rule{Record: r.Record, Alert: r.Alert, Expr: r.Expr.String(), Labels: r.Labels, Annotations: r.Annotations,
					File: strings.TrimPrefix(pr.Name, "shortener-") + ".yml", Group: g.Name}
				if r.For != nil {
					ar.For = string(*r.For)
				}
				got = append(got, ar)
			}
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d rules in the PrometheusRules, %d in alerts/*.yml", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if len(w.Labels) == 0 {
			w.Labels = nil
		}
		if len(w.Annotations) == 0 {
			w.Annotations = nil
		}
		if !reflect.DeepEqual(w, g) {
			t.Errorf("rule %d differs:\n alerts: %+v\n  built: %+v", i, w, g)
		}
	}
}

// TestDashboardConfigMapsAreTheDashboards: one ConfigMap per dashboard,
// labelled for Grafana's sidecar, holding the file byte for byte.
func TestDashboardConfigMapsAreTheDashboards(t *testing.T) {
	ds, err := dashboards.Load()
	if err != nil {
		t.Fatal(err)
	}
	cms := map[string]*corev1.ConfigMap{}
	for _, cm := range all[*corev1.ConfigMap](build(t, "plain"), "ConfigMap") {
		if cm.Labels[DashboardLabel] == "1" {
			for k := range cm.Data {
				cms[k] = cm
			}
		}
	}
	if len(cms) != len(ds) {
		t.Errorf("%d dashboard ConfigMaps, %d dashboards", len(cms), len(ds))
	}
	root := testenv.ModuleRoot(t)
	for _, d := range ds {
		cm, ok := cms[d.File]
		if !ok {
			t.Errorf("no ConfigMap for %s", d.File)
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, "dashboards", d.File))
		if err != nil {
			t.Fatal(err)
		}
		if cm.Data[d.File] != string(b) {
			t.Errorf("ConfigMap %s differs from dashboards/%s", cm.Name, d.File)
		}
	}
}

// shortenerPod returns the shortener pod template as the overlay runs it:
// the Deployment's (Argo's Rollout takes it by workloadRef).
func shortenerPod(t *testing.T, b *built) corev1.PodTemplateSpec {
	t.Helper()
	return shortenerDeployment(t, b).Spec.Template
}

func shortenerDeployment(t *testing.T, b *built) *appsv1.Deployment {
	t.Helper()
	return get[*appsv1.Deployment](t, b, "Deployment", "shortener")
}

func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

// TestSelectorsMatchPods: every selector selects the pods it means and the
// Service users reach exposes the public port only.
func TestSelectorsMatchPods(t *testing.T) {
	for _, ov := range Overlays {
		t.Run(ov, func(t *testing.T) {
			b := build(t, ov)
			for _, d := range all[*appsv1.Deployment](b, "Deployment") {
				sel, err := metaSelector(d.Spec.Selector)
				if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
					t.Errorf("Deployment %s: selector %v does not match its pods %v (%v)", d.Name, d.Spec.Selector, d.Spec.Template.Labels, err)
				}
			}
			pod := shortenerPod(t, b)
			gatePod := get[*appsv1.Deployment](t, b, "Deployment", "gate").Spec.Template
			for _, s := range all[*corev1.Service](b, "Service") {
				target := pod
				if s.Name == "gate" {
					target = gatePod
				}
				if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(target.Labels)) {
					t.Errorf("Service %s selects %v, pods have %v", s.Name, s.Spec.Selector, target.Labels)
				}
				c := target.Spec.Containers[0]
				for _, p := range s.Spec.Ports {
					if !hasPort(c, p.TargetPort.String()) {
						t.Errorf("Service %s targets port %s, which container %s does not name", s.Name, p.TargetPort.String(), c.Name)
					}
					if p.TargetPort.String() == "admin" || p.TargetPort.IntValue() == 8081 {
						t.Errorf("Service %s exposes the admin listener", s.Name)
					}
				}
			}
			pm := get[*monitoringv1.PodMonitor](t, b, "PodMonitor", "shortener")
			sel, err := metaSelector(&pm.Spec.Selector)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range podsAsRun(t, b) {
				if !sel.Matches(labels.Set(p.labels)) {
					t.Errorf("PodMonitor misses the %s pods %v", p.role, p.labels)
				}
			}
			if sel.Matches(labels.Set(gatePod.Labels)) {
				t.Error("the shortener PodMonitor selects gate pods")
			}
			for _, ep := range pm.Spec.PodMetricsEndpoints {
				if ep.Port == nil || !hasPort(container(t, pod.Spec, "shortener"), *ep.Port) {
					t.Errorf("PodMonitor scrapes port %v, which the shortener does not name", ep.Port)
				}
			}
		})
	}
}

func hasPort(c corev1.Container, name string) bool {
	for _, p := range c.Ports {
		if p.Name == name || fmt.Sprint(p.ContainerPort) == name {
			return true
		}
	}
	return false
}

// TestPodsAreRestricted: every pod of every overlay (the shortener, gate
// serve, the gate Job) runs as a non-root user with a read-only root
// filesystem, no privilege escalation, no capabilities, the runtime's
// seccomp profile and a memory limit; every path written is a volume.
func TestPodsAreRestricted(t *testing.T) {
	for _, ov := range Overlays {
		b := build(t, ov)
		specs := map[string]corev1.PodSpec{}
		for _, d := range all[*appsv1.Deployment](b, "Deployment") {
			specs["Deployment "+d.Name] = d.Spec.Template.Spec
		}
		for _, at := range all[*rolloutsv1alpha1.AnalysisTemplate](b, "AnalysisTemplate") {
			for _, m := range at.Spec.Metrics {
				if m.Provider.Job != nil {
					specs["Job of "+at.Name] = m.Provider.Job.Spec.Template.Spec
				}
			}
		}
		for name, s := range specs {
			psc := s.SecurityContext
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
				psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s/%s: pod security context %+v: want non-root user and RuntimeDefault seccomp", ov, name, psc)
			}
			if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
				t.Errorf("%s/%s mounts a service account token it does not use", ov, name)
			}
			for _, c := range s.Containers {
				sc := c.SecurityContext
				if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil ||
					*sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
					t.Errorf("%s/%s container %s: security context %+v", ov, name, c.Name, sc)
				}
				if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
					t.Errorf("%s/%s container %s: no memory limit", ov, name, c.Name)
				}
				if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
					t.Errorf("%s/%s container %s: no cpu request", ov, name, c.Name)
				}
			}
		}
		// The writable paths: the database folder and /tmp for the
		// shortener, the state folder for gate serve.
		sh := container(t, shortenerPod(t, b).Spec, "shortener")
		for _, p := range []string{"/data", "/tmp"} {
			if !slices.ContainsFunc(sh.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == p && !m.ReadOnly }) {
				t.Errorf("%s: shortener has no writable volume at %s", ov, p)
			}
		}
		g := container(t, get[*appsv1.Deployment](t, b, "Deployment", "gate").Spec.Template.Spec, "gate")
		if !slices.ContainsFunc(g.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == envOf(g, "GATE_SERVE_STATE_DIR") && !m.ReadOnly }) {
			t.Errorf("%s: gate serve's state folder %q is not a writable volume", ov, envOf(g, "GATE_SERVE_STATE_DIR"))
		}
	}
}

func envOf(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// TestGateConfigIsValid: the gate configuration the cluster gets passes
// the gate's own strict loader and validation.
func TestGateConfigIsValid(t *testing.T) {
	cm := get[*corev1.ConfigMap](t, build(t, "plain"), "ConfigMap", "gate-config")
	path := filepath.Join(t.TempDir(), "canary.yaml")
	if err := os.WriteFile(path, []byte(cm.Data["canary.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := gate.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// gateTiming is the gate's warmup and max_duration from gate-config.
func gateConfig(t *testing.T, b *built) gate.Config {
	t.Helper()
	cm := get[*corev1.ConfigMap](t, b, "ConfigMap", "gate-config")
	path := filepath.Join(t.TempDir(), "canary.yaml")
	if err := os.WriteFile(path, []byte(cm.Data["canary.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := gate.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
