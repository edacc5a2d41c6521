package kubernetes

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/argoproj/argo-rollouts/metricproviders/webmetric"
	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	templateutil "github.com/argoproj/argo-rollouts/utils/template"
	"github.com/prometheus/client_golang/prometheus"
	log "github.com/sirupsen/logrus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/obsshort/shortener/ci/gate/serve"
	"github.com/obsshort/shortener/internal/testenv"
)

func argoBuilt(t *testing.T) (*built, *rolloutsv1alpha1.Rollout) {
	t.Helper()
	b := build(t, "argo-rollouts")
	return b, get[*rolloutsv1alpha1.Rollout](t, b, "Rollout", "shortener")
}

// TestRolloutTakesTheDeploymentsPods: the Rollout's workloadRef names the
// base Deployment, its selector matches that pod template, and the
// Deployment itself runs no pods.
func TestRolloutTakesTheDeploymentsPods(t *testing.T) {
	b, ro := argoBuilt(t)
	ref := ro.Spec.WorkloadRef
	if ref == nil || ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" {
		t.Fatalf("workloadRef %+v, want the apps/v1 Deployment", ref)
	}
	d := get[*appsv1.Deployment](t, b, "Deployment", ref.Name)
	sel, err := metaSelector(ro.Spec.Selector)
	if err != nil || !sel.Matches(labelSet(d.Spec.Template.Labels)) {
		t.Errorf("Rollout selector %v does not match the Deployment's pods %v (%v)", ro.Spec.Selector, d.Spec.Template.Labels, err)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 0 {
		t.Errorf("Deployment %s runs %v replicas beside the Rollout, want 0", d.Name, d.Spec.Replicas)
	}
	if ro.Spec.Template.Spec.Containers != nil {
		t.Error("the Rollout has its own pod template beside workloadRef (a second copy)")
	}
}

// stepAnalyses returns the analysis steps of the Rollout.
func stepAnalyses(ro *rolloutsv1alpha1.Rollout) []*rolloutsv1alpha1.RolloutAnalysis {
	var out []*rolloutsv1alpha1.RolloutAnalysis
	for _, s := range ro.Spec.Strategy.Canary.Steps {
		if s.Analysis != nil {
			out = append(out, s.Analysis)
		}
	}
	return out
}

// TestAnalysisArgumentsAreSupplied: every argument of the templates a
// step uses, and of the Job template one can switch to, is supplied by the
// step, and the hashes come from Argo's ReplicaSets (Latest = canary).
func TestAnalysisArgumentsAreSupplied(t *testing.T) {
	b, ro := argoBuilt(t)
	steps := stepAnalyses(ro)
	if len(steps) == 0 {
		t.Fatal("the Rollout has no analysis step")
	}
	templates := map[string]*rolloutsv1alpha1.AnalysisTemplate{}
	for _, at := range all[*rolloutsv1alpha1.AnalysisTemplate](b, "AnalysisTemplate") {
		templates[at.Name] = at
	}
	for _, step := range steps {
		given := map[string]rolloutsv1alpha1.AnalysisRunArgument{}
		for _, a := range step.Args {
			if a.Value == "" && a.ValueFrom == nil {
				t.Errorf("step argument %s has no value", a.Name)
			}
			given[a.Name] = a
		}
		for name, want := range map[string]rolloutsv1alpha1.ValueFromPodTemplateHash{"canary-hash": rolloutsv1alpha1.Latest, "stable-hash": rolloutsv1alpha1.Stable} {
			a := given[name]
			if a.ValueFrom == nil || a.ValueFrom.PodTemplateHashValue == nil || *a.ValueFrom.PodTemplateHashValue != want {
				t.Errorf("argument %s: %+v, want podTemplateHashValue %s", name, a, want)
			}
		}
		var names []string
		for _, ref := range step.Templates {
			names = append(names, ref.TemplateName)
		}
		names = append(names, "shortener-gate-job") // the documented switch
		for _, n := range names {
			at, ok := templates[n]
			if !ok {
				t.Errorf("template %s not in the overlay", n)
				continue
			}
			for _, arg := range at.Spec.Args {
				if _, ok := given[arg.Name]; !ok && arg.Value == nil && arg.ValueFrom == nil {
					t.Errorf("template %s needs argument %s, which the step does not supply", n, arg.Name)
				}
			}
		}
	}
}

// TestArgoMetricRules: Argo's own ValidateMetric rules (the few the
// validation package enforces, checked here without importing it) hold
// for every metric, the Web metric can tell pass from fail, the Job does
// not retry, and the Web metric's count and interval cover the gate's
// analysis with little to spare.
func TestArgoMetricRules(t *testing.T) {
	b, _ := argoBuilt(t)
	cfg := gateConfig(t, b)
	gateEnd := cfg.Analysis.Warmup.D() + cfg.Analysis.MaxDuration.D() + cfg.Analysis.Interval.D()
	for _, at := range all[*rolloutsv1alpha1.AnalysisTemplate](b, "AnalysisTemplate") {
		for _, m := range at.Spec.Metrics {
			count := 0
			if m.Count != nil {
				count = m.Count.IntValue()
			}
			failureLimit, inconclusiveLimit, successLimit := limit(m.FailureLimit), limit(m.InconclusiveLimit), limit(m.ConsecutiveSuccessLimit)
			if count > 0 {
				if count < inconclusiveLimit {
					t.Errorf("%s/%s: count %d < inconclusiveLimit %d", at.Name, m.Name, count, inconclusiveLimit)
				}
				if count < failureLimit+successLimit {
					t.Errorf("%s/%s: count %d < failureLimit + consecutiveSuccessLimit", at.Name, m.Name, count)
				}
			}
			if count > 1 && m.Interval == "" {
				t.Errorf("%s/%s: count > 1 needs an interval", at.Name, m.Name)
			}
			if failureLimit < 0 && successLimit <= 0 {
				t.Errorf("%s/%s: failureLimit and consecutiveSuccessLimit both disabled", at.Name, m.Name)
			}
			if m.Provider.Job != nil {
				if bl := m.Provider.Job.Spec.BackoffLimit; bl == nil || *bl != 0 {
					t.Errorf("%s/%s: backoffLimit %v, want 0 (a retried gate is a second look)", at.Name, m.Name, bl)
				}
				if d := m.Provider.Job.Spec.ActiveDeadlineSeconds; d == nil || time.Duration(*d)*time.Second < gateEnd {
					t.Errorf("%s/%s: activeDeadlineSeconds %v cuts the gate's %s short", at.Name, m.Name, d, gateEnd)
				}
			}
			if m.Provider.Web != nil {
				if m.SuccessCondition == "" || m.FailureCondition == "" {
					t.Errorf("%s/%s: a Web metric needs both conditions (with neither matching it is Inconclusive)", at.Name, m.Name)
				}
				if successLimit != 1 || failureLimit != 0 {
					t.Errorf("%s/%s: want consecutiveSuccessLimit 1 and failureLimit 0 (stop at the first decisive answer)", at.Name, m.Name)
				}
				interval, err := time.ParseDuration(string(m.Interval))
				if err != nil {
					t.Fatalf("%s/%s: interval %q: %v", at.Name, m.Name, m.Interval, err)
				}
				last := time.Duration(count-1) * interval
				if last < gateEnd {
					t.Errorf("%s/%s: the last measurement at %s comes before the gate decides (%s)", at.Name, m.Name, last, gateEnd)
				}
				if last > gateEnd+3*interval {
					t.Errorf("%s/%s: an inconclusive verdict waits until %s, more than 3 intervals after the gate's end %s", at.Name, m.Name, last, gateEnd)
				}
				if inconclusiveLimit < count {
					t.Errorf("%s/%s: inconclusiveLimit %d < count %d: a running analysis would end the metric early", at.Name, m.Name, inconclusiveLimit, count)
				}
			}
		}
	}
}

// limit reads an optional Argo limit (default 0).
func limit(v *intstr.IntOrString) int {
	if v == nil {
		return 0
	}
	return v.IntValue()
}

func labelSet(m map[string]string) labels.Set { return labels.Set(m) }

func itoa(i int32) string { return strconv.Itoa(int(i)) }

// gateURL checks that a URL reaches gate serve's Service from another
// namespace and returns its path.
func gateURL(t *testing.T, b *built, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("url %q: %v", raw, err)
	}
	svc := get[*corev1.Service](t, b, "Service", "gate")
	want := "gate." + svc.Namespace + ".svc:"
	if !strings.HasPrefix(u.Host, want) || !strings.HasSuffix(u.Host, ":"+itoa(svc.Spec.Ports[0].Port)) {
		t.Errorf("url %s: host %s, want %s%d (the gate Service, called from the controller's namespace)", raw, u.Host, want, svc.Spec.Ports[0].Port)
	}
	return u.Path
}

// steered is a gate serve runner whose analyses end when the test says.
type steered struct {
	mu  sync.Mutex
	end map[string]chan serve.Result
}

func (s *steered) ch(canary string) chan serve.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.end == nil {
		s.end = map[string]chan serve.Result{}
	}
	if _, ok := s.end[canary]; !ok {
		s.end[canary] = make(chan serve.Result, 1)
	}
	return s.end[canary]
}

func (s *steered) Run(ctx context.Context, spec serve.Spec, _ io.Writer) (serve.Result, error) {
	select {
	case r := <-s.ch(spec.Canary):
		return r, nil
	case <-ctx.Done():
		return serve.Result{Outcome: serve.Inconclusive}, nil
	}
}

// gateServe starts gate serve in-process with a steered runner, its state
// in dir.
func gateServe(t *testing.T, dir string) (*httptest.Server, *steered, *serve.Store) {
	t.Helper()
	r := &steered{}
	store, err := serve.OpenStore(serve.StoreOptions{Dir: dir, Runner: r, ForgetAfter: time.Hour, MaxRunning: 4})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, err := serve.NewServer(serve.Deps{Store: store, Selectors: serve.DefaultSelectors(), Registry: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); store.Close() })
	return srv, r, store
}

func waitPhase(t *testing.T, store *serve.Store, want serve.Phase) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, a := range store.List() {
			if a.Phase == want {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no analysis reached %s: %+v", want, store.List())
}

// TestWebMetricAgainstGateServe runs Argo's own Web metric provider
// (metricproviders/webmetric, with its JSONPath parser and condition
// evaluation) with the overlay's metric, its arguments resolved by Argo's
// template code, against gate serve, for each verdict: pass is
// Successful, fail Failed, and running, inconclusive and lost are
// Inconclusive measurements; gate serve down is an Error.
func TestWebMetricAgainstGateServe(t *testing.T) {
	b, ro := argoBuilt(t)
	at := get[*rolloutsv1alpha1.AnalysisTemplate](t, b, "AnalysisTemplate", stepAnalyses(ro)[0].Templates[0].TemplateName)
	metric := at.Spec.Metrics[0]
	if metric.Provider.Web == nil {
		t.Fatal("the step's template is not a Web metric")
	}
	path := gateURL(t, b, metric.Provider.Web.URL)
	resolved := resolveArgs(t, metric, map[string]string{
		"namespace": "shortener", "rollout": ro.Name, "canary-hash": canaryHash, "stable-hash": stableHash,
	})

	// The recorded request gate serve's tests replay is this body.
	var sent, recorded map[string]any
	if err := json.Unmarshal(resolved.Provider.Web.JSONBody, &sent); err != nil {
		t.Fatal(err)
	}
	rec, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "ci/gate/serve/testdata/argo-web.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(rec, &recorded); err != nil {
		t.Fatal(err)
	}
	recorded["namespace"] = "shortener" // the recording uses namespace shop
	if !jsonEqual(sent, recorded) {
		t.Errorf("the template sends %v; gate serve's tests replay %v", sent, recorded)
	}

	measure := func(srvURL string) rolloutsv1alpha1.Measurement {
		m := resolved
		web := *m.Provider.Web
		web.URL = srvURL + path
		m.Provider.Web = &web
		client, err := webmetric.NewWebMetricHttpClient(m)
		if err != nil {
			t.Fatal(err)
		}
		parser, err := webmetric.NewWebMetricJsonParser(m)
		if err != nil {
			t.Fatal(err)
		}
		logger := log.New()
		logger.SetOutput(io.Discard)
		p := webmetric.NewWebMetricProvider(*log.NewEntry(logger), client, parser)
		return p.Run(&rolloutsv1alpha1.AnalysisRun{}, m)
	}
	canarySel := `namespace="shortener", rollouts_pod_template_hash="` + canaryHash + `"`
	for _, tt := range []struct {
		name    string
		outcome serve.Outcome
		want    rolloutsv1alpha1.AnalysisPhase
	}{
		{"pass", serve.Pass, rolloutsv1alpha1.AnalysisPhaseSuccessful},
		{"fail", serve.Fail, rolloutsv1alpha1.AnalysisPhaseFailed},
		{"inconclusive", serve.Inconclusive, rolloutsv1alpha1.AnalysisPhaseInconclusive},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, r, store := gateServe(t, t.TempDir())
			if got := measure(srv.URL); got.Phase != rolloutsv1alpha1.AnalysisPhaseInconclusive || !strings.Contains(got.Value, `"running"`) {
				t.Fatalf("first measurement %s %q, want Inconclusive while running", got.Phase, got.Value)
			}
			r.ch(canarySel) <- serve.Result{Outcome: tt.outcome, Reason: string(tt.outcome) + ": decided"}
			waitPhase(t, store, serve.Phase(tt.outcome))
			if got := measure(srv.URL); got.Phase != tt.want {
				t.Errorf("measurement %s %q, want %s", got.Phase, got.Value, tt.want)
			}
		})
	}
	t.Run("lost", func(t *testing.T) {
		dir := t.TempDir()
		srv, _, store := gateServe(t, dir)
		measure(srv.URL)
		srv.Close()
		store.Close() // gate serve stopped mid-analysis
		again, _, _ := gateServe(t, dir)
		if got := measure(again.URL); got.Phase != rolloutsv1alpha1.AnalysisPhaseInconclusive || !strings.Contains(got.Value, `"lost"`) {
			t.Errorf("after a restart: %s %q, want an Inconclusive lost", got.Phase, got.Value)
		}
	})
	t.Run("gate serve down", func(t *testing.T) {
		srv, _, _ := gateServe(t, t.TempDir())
		srv.Close()
		if got := measure(srv.URL); got.Phase != rolloutsv1alpha1.AnalysisPhaseError {
			t.Errorf("measurement %s %q, want Error", got.Phase, got.Message)
		}
	})
}

// resolveArgs fills {{args.*}} in the metric as Argo's analysis controller
// does (utils/template.ResolveQuotedArgs over the metric's JSON).
func resolveArgs(t *testing.T, m rolloutsv1alpha1.Metric, values map[string]string) rolloutsv1alpha1.Metric {
	t.Helper()
	var args []rolloutsv1alpha1.Argument
	for k, v := range values {
		args = append(args, rolloutsv1alpha1.Argument{Name: k, Value: &v})
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := templateutil.ResolveQuotedArgs(string(b), args)
	if err != nil {
		t.Fatalf("resolve arguments: %v", err)
	}
	var out rolloutsv1alpha1.Metric
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
