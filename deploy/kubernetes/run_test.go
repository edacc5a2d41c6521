package kubernetes

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	flaggerv1 "github.com/fluxcd/flagger/pkg/apis/flagger/v1beta1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/obsshort/shortener/ci/gate/serve"
	"github.com/obsshort/shortener/internal/promtest"
	"github.com/obsshort/shortener/internal/testenv"
)

// running is a container of the manifests started as a local process.
type running struct {
	ports map[string]string // container port name -> local host:port
}

// runContainer starts the container's command as the manifests configure
// it (its args and env), with every listen address moved to a free
// loopback port and the volumes to temp folders, and waits until it
// listens. The mapping is by port number: a container port 8080 that the
// env says ":8080" becomes 127.0.0.1:<free>.
func runContainer(t *testing.T, c corev1.Container, bin string, files map[string]string) running {
	t.Helper()
	r := running{ports: map[string]string{}}
	byNumber := map[string]string{}
	for _, p := range c.Ports {
		addr := testenv.FreeAddr(t)
		r.ports[p.Name] = addr
		byNumber[strconv.Itoa(int(p.ContainerPort))] = addr
	}
	tmp := t.TempDir()
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = filepath.Join(tmp, strings.ReplaceAll(m.MountPath, "/", "_"))
		if err := os.MkdirAll(mounts[m.MountPath], 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for path, content := range files { // files the volumes hold (ConfigMaps)
		dir := mounts[filepath.Dir(path)]
		if dir == "" {
			t.Fatalf("no volume mounted at %s for %s", filepath.Dir(path), path)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(path)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	local := func(v string) string {
		if strings.HasPrefix(v, ":") {
			if a, ok := byNumber[v[1:]]; ok {
				return a
			}
		}
		for mp, dir := range mounts {
			if v == mp || strings.HasPrefix(v, mp+"/") || strings.Contains(v, "="+mp+"/") {
				v = strings.Replace(v, mp, dir, 1)
			}
		}
		return v
	}
	var env []string
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil {
			q := c.Resources.Limits[corev1.ResourceName(strings.TrimPrefix(e.ValueFrom.ResourceFieldRef.Resource, "limits."))]
			v = strconv.FormatInt(q.Value(), 10)
		}
		env = append(env, e.Name+"="+local(v))
	}
	var args []string
	for _, a := range c.Args {
		args = append(args, local(a))
	}
	env = append(env, "OTEL_SDK_DISABLED=true")
	testenv.Start(t, env, bin, args...)
	for _, addr := range r.ports {
		waitListen(t, addr)
	}
	return r
}

func waitListen(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after 30s", addr)
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// probes returns the HTTP probes of a container.
func probes(c corev1.Container) map[string]*corev1.Probe {
	return map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
}

// TestContainersServeTheirProbes runs the real shortener and gate serve
// as their containers are configured (env, args, mounted gate config) and
// asks every probe's path on the port it names: all answer 200. The
// PodMonitor's port and path serve the metrics.
func TestContainersServeTheirProbes(t *testing.T) {
	b := build(t, "plain")
	sh := container(t, shortenerPod(t, b).Spec, "shortener")
	shBin := testenv.BuildBinary(t, "./app/cmd/shortener", "")
	r := runContainer(t, sh, shBin, nil)

	cm := get[*corev1.ConfigMap](t, b, "ConfigMap", "gate-config")
	gd := get[*appsv1.Deployment](t, b, "Deployment", "gate")
	g := container(t, gd.Spec.Template.Spec, "gate")
	files := map[string]string{}
	for _, m := range g.VolumeMounts {
		for _, v := range gd.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil && v.ConfigMap.Name == cm.Name {
				for k, val := range cm.Data {
					files[m.MountPath+"/"+k] = val
				}
			}
		}
	}
	if len(files) == 0 {
		t.Fatal("gate serve mounts no gate-config")
	}
	gr := runContainer(t, g, testenv.BuildBinary(t, "./ci/cmd/gate", ""), files)

	for name, run := range map[string]struct {
		c corev1.Container
		r running
	}{"shortener": {sh, r}, "gate": {g, gr}} {
		n := 0
		for kind, p := range probes(run.c) {
			if p == nil {
				continue
			}
			if p.HTTPGet == nil {
				t.Errorf("%s %s probe is not an HTTP probe", name, kind)
				continue
			}
			addr, ok := run.r.ports[p.HTTPGet.Port.String()]
			if !ok {
				t.Errorf("%s %s probe: port %s is not a container port", name, kind, p.HTTPGet.Port.String())
				continue
			}
			if code, body := httpGet(t, "http://"+addr+p.HTTPGet.Path); code != 200 {
				t.Errorf("%s %s probe GET %s: %d %q", name, kind, p.HTTPGet.Path, code, body)
			}
			n++
		}
		if n < 2 {
			t.Errorf("%s has %d HTTP probes, want liveness and readiness", name, n)
		}
	}
	// Public listener: the page; admin listener: metrics, as the
	// PodMonitor scrapes them.
	if code, _ := httpGet(t, "http://"+r.ports["http"]+"/"); code != 200 {
		t.Errorf("public listener / answers %d", code)
	}
	pm := get[*monitoringv1.PodMonitor](t, b, "PodMonitor", "shortener")
	ep := pm.Spec.PodMetricsEndpoints[0]
	code, body := httpGet(t, "http://"+r.ports[*ep.Port]+ep.Path)
	if code != 200 || !strings.Contains(body, "http_server_request_duration_seconds") {
		t.Errorf("PodMonitor's %s%s: %d, no request histogram", *ep.Port, ep.Path, code)
	}
	if code, _ := httpGet(t, "http://"+r.ports["http"]+ep.Path); code == 200 {
		t.Error("the public listener serves /metrics")
	}
}

// operatorPrefix is what the Prometheus Operator puts before a
// PodMonitor's own relabelings (pkg/prometheus/promcfg.go, v0.95): the
// namespace, container and pod labels, job as <namespace>/<podmonitor>
// and endpoint as the port name. Emulated here: the operator itself needs
// a cluster.
func operatorPrefix(ns, pm, port string) []map[string]any {
	return []map[string]any{
		{"source_labels": []string{"__meta_kubernetes_namespace"}, "target_label": "namespace"},
		{"source_labels": []string{"__meta_kubernetes_pod_container_name"}, "target_label": "container"},
		{"source_labels": []string{"__meta_kubernetes_pod_name"}, "target_label": "pod"},
		{"target_label": "job", "replacement": ns + "/" + pm},
		{"target_label": "endpoint", "replacement": port},
	}
}

// prometheusRelabel turns the operator's RelabelConfig into Prometheus'
// relabel_configs.
func prometheusRelabel(rs []monitoringv1.RelabelConfig) []map[string]any {
	var out []map[string]any
	for _, r := range rs {
		m := map[string]any{"action": strings.ToLower(r.Action)}
		if len(r.SourceLabels) > 0 {
			var s []string
			for _, l := range r.SourceLabels {
				s = append(s, string(l))
			}
			m["source_labels"] = s
		}
		if r.TargetLabel != "" {
			m["target_label"] = r.TargetLabel
		}
		if r.Regex != "" {
			m["regex"] = r.Regex
		}
		if r.Replacement != nil {
			m["replacement"] = *r.Replacement
		}
		if r.Separator != nil {
			m["separator"] = *r.Separator
		}
		out = append(out, m)
	}
	return out
}

// sanitize is how Kubernetes service discovery names label meta labels.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// TestRelabelingGivesTheGateItsLabels scrapes two real shortener
// processes (one playing stable, one canary) with a real Prometheus whose
// relabel_configs are the PodMonitor's (after the operator's own), the
// targets carrying the meta labels Kubernetes discovery gives the pods of
// each overlay. It checks the resulting job, track, namespace and hash
// labels, that gate serve's default selectors pick exactly the right
// process, that the dashboards' labels exist, and that Flagger's
// MetricTemplate queries each return one number.
func TestRelabelingGivesTheGateItsLabels(t *testing.T) {
	testenv.RequireTool(t, "prometheus")
	shBin := testenv.BuildBinary(t, "./app/cmd/shortener", "")
	db := filepath.Join(t.TempDir(), "shortener.db")
	procs := map[string][2]string{} // role -> public, admin
	for _, role := range []string{"stable", "canary"} {
		addr, admin := testenv.FreeAddr(t), testenv.FreeAddr(t)
		testenv.Start(t, []string{"OTEL_SDK_DISABLED=true"}, shBin, "--addr", addr, "--admin-addr", admin, "--db", db, "--log-level", "warn", "--rate-limit", "0")
		testenv.WaitHTTP(t, "http://"+admin+"/readyz", 30*time.Second)
		procs[role] = [2]string{addr, admin}
	}

	var scrape []map[string]any
	type expect struct {
		ns, role, hash string
	}
	var expects []expect
	for _, ov := range Overlays {
		b := build(t, ov)
		pm := get[*monitoringv1.PodMonitor](t, b, "PodMonitor", "shortener")
		ep := pm.Spec.PodMetricsEndpoints[0]
		relabel := append(operatorPrefix(ov, pm.Name, *ep.Port), prometheusRelabel(ep.RelabelConfigs)...)
		var groups []map[string]any
		for _, p := range podsAsRun(t, b) {
			lbls := map[string]string{
				"__meta_kubernetes_namespace":          ov, // one namespace per overlay, to tell them apart
				"__meta_kubernetes_pod_name":           p.labels["app.kubernetes.io/name"] + "-" + p.role,
				"__meta_kubernetes_pod_container_name": "shortener",
			}
			for k, v := range p.labels {
				lbls["__meta_kubernetes_pod_label_"+sanitize(k)] = v
			}
			groups = append(groups, map[string]any{"targets": []string{procs[p.role][1]}, "labels": lbls})
			expects = append(expects, expect{ns: ov, role: p.role, hash: p.labels["rollouts-pod-template-hash"]})
		}
		scrape = append(scrape, map[string]any{
			"job_name": ov, "metrics_path": ep.Path, "scrape_interval": "1s",
			"static_configs": groups, "relabel_configs": relabel,
		})
	}
	y, err := sigsyaml.Marshal(scrape)
	if err != nil {
		t.Fatal(err)
	}
	prom := promtest.Start(t, promtest.Config{ScrapeConfigs: string(y), Interval: time.Second})
	prom.WaitTargetsUp(t, len(expects), 30*time.Second)

	// Traffic for the rate() queries: a few requests to each process.
	for _, p := range procs {
		for i := 0; i < 20; i++ {
			httpGet(t, "http://"+p[0]+"/")
		}
	}
	time.Sleep(3 * time.Second) // two scrapes after the traffic

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	vec, err := prom.Client.Vector(ctx, "shortener_build_info", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range expects {
		found := false
		for _, s := range vec {
			m := s.Metric
			if string(m["namespace"]) != e.ns || string(m["instance"]) != procs[e.role][1] {
				continue
			}
			found = true
			if m["job"] != "shortener" || string(m["track"]) != e.role {
				t.Errorf("%s %s pod: job %q track %q, want shortener and %s", e.ns, e.role, m["job"], m["track"], e.role)
			}
			if string(m["rollouts_pod_template_hash"]) != e.hash {
				t.Errorf("%s %s pod: rollouts_pod_template_hash %q, want %q", e.ns, e.role, m["rollouts_pod_template_hash"], e.hash)
			}
		}
		if !found {
			t.Errorf("no series for the %s pod of %s: %v", e.role, e.ns, vec)
		}
	}

	// gate serve's default selectors pick exactly the right process.
	sel := serve.DefaultSelectors()
	for _, tt := range []struct {
		tpl, ns, role string
	}{
		{sel.ArgoCanary, "argo-rollouts", "canary"}, {sel.ArgoBaseline, "argo-rollouts", "stable"},
		{sel.FlaggerCanary, "flagger", "canary"}, {sel.FlaggerBaseline, "flagger", "stable"},
	} {
		s := renderSelector(t, tt.tpl, tt.ns)
		v, err := prom.Client.Vector(ctx, fmt.Sprintf("count by (instance) (http_server_request_duration_seconds_count{%s})", s), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != 1 || string(v[0].Metric["instance"]) != procs[tt.role][1] {
			t.Errorf("selector {%s} picks %v, want only the %s process %s", s, v, tt.role, procs[tt.role][1])
		}
	}
	// The labels the dashboards' variables and the alerts group by.
	for _, l := range []string{"job", "instance", "track"} {
		v, err := prom.Client.Vector(ctx, fmt.Sprintf(`count(http_server_request_duration_seconds_count{%s!=""})`, l), time.Now())
		if err != nil || len(v) != 1 {
			t.Errorf("no series with label %s (%v)", l, err)
		}
	}
	// Flagger's MetricTemplates, rendered for the flagger namespace, each
	// return exactly one number.
	fb, c := flaggerCanary(t)
	for _, m := range c.Spec.Analysis.Metrics {
		mt := get[*flaggerv1.MetricTemplate](t, fb, "MetricTemplate", m.TemplateRef.Name)
		q := renderFlaggerQuery(t, mt.Spec.Query, flaggerv1.MetricTemplateModel{Name: c.Name, Namespace: "flagger", Target: c.Spec.TargetRef.Name, Interval: m.Interval})
		v, err := prom.Client.Query(ctx, q, time.Now())
		if err != nil {
			t.Errorf("%s: %v", mt.Name, err)
			continue
		}
		if vec, ok := v.(model.Vector); !ok || len(vec) != 1 {
			t.Errorf("%s returns %v, want one number (Flagger fails a check without one)", mt.Name, v)
		}
	}
}

func renderSelector(t *testing.T, tpl, ns string) string {
	t.Helper()
	tp, err := template.New("s").Parse(tpl)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	err = tp.Execute(&b, struct{ Namespace, Name, CanaryHash, StableHash string }{ns, "shortener", canaryHash, stableHash})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
