package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeRunner is a Runner the test steers: each analysis waits until the
// test says how it ends (or until its context ends).
type fakeRunner struct {
	mu   sync.Mutex
	ends map[string]chan fakeEnd // by canary selector
	runs []Spec
}

type fakeEnd struct {
	res   Result
	err   error
	panic bool
}

func newFakeRunner() *fakeRunner { return &fakeRunner{ends: map[string]chan fakeEnd{}} }

func (f *fakeRunner) ch(canary string) chan fakeEnd {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.ends[canary]
	if !ok {
		c = make(chan fakeEnd, 1)
		f.ends[canary] = c
	}
	return c
}

func (f *fakeRunner) Run(ctx context.Context, spec Spec, progress io.Writer) (Result, error) {
	f.mu.Lock()
	f.runs = append(f.runs, spec)
	f.mu.Unlock()
	fmt.Fprintf(progress, "poll: canary {%s}\n", spec.Canary)
	select {
	case e := <-f.ch(spec.Canary):
		if e.panic {
			panic("runner bug")
		}
		return e.res, e.err
	case <-ctx.Done():
		return Result{Outcome: Inconclusive, Reason: "interrupted"}, nil
	}
}

func (f *fakeRunner) started() []Spec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Spec(nil), f.runs...)
}

// fakeClock is moved by the test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t      *testing.T
	dir    string
	runner *fakeRunner
	clock  *fakeClock
	store  *Store
	srv    *httptest.Server
	reg    *prometheus.Registry
}

func newHarness(t *testing.T, dir string, runner *fakeRunner, clock *fakeClock, maxRunning int) *harness {
	t.Helper()
	store, err := OpenStore(StoreOptions{Dir: dir, Runner: runner, Now: clock.Now, ForgetAfter: 5 * time.Minute, MaxRunning: maxRunning})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, err := NewServer(Deps{Store: store, Selectors: DefaultSelectors(), Registry: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	hs := &harness{t: t, dir: dir, runner: runner, clock: clock, store: store, srv: srv, reg: reg}
	t.Cleanup(hs.stop)
	return hs
}

// stop is a graceful stop of gate serve: running analyses become lost.
func (h *harness) stop() {
	h.srv.Close()
	h.store.Close()
}

func startHarness(t *testing.T) *harness {
	t.Helper()
	return newHarness(t, t.TempDir(), newFakeRunner(), &fakeClock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}, 8)
}

// recorded reads a request body recorded in testdata in the exact shape
// the controller sends (deploy/kubernetes's tests check the shapes against
// the controllers' own types and templates).
func recorded(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (h *harness) post(path, body string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (h *harness) argo(body string) (int, argoAnswer) {
	h.t.Helper()
	code, text := h.post("/argo/v1/analysis", body)
	var a argoAnswer
	if err := json.Unmarshal([]byte(text), &a); err != nil {
		h.t.Fatalf("argo answer %q is not JSON: %v", text, err)
	}
	return code, a
}

// end makes the fake analysis of canary end and waits until it is recorded.
func (h *harness) end(canary string, e fakeEnd) {
	h.t.Helper()
	h.runner.ch(canary) <- e
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, a := range h.store.List() {
			if a.Spec.Canary == canary && a.Phase != PhaseRunning {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.t.Fatalf("analysis of {%s} still running after 10s: %+v", canary, h.store.List())
}

// waitRuns waits until the runner was started n times (it starts in its
// own goroutine, after the answer).
func (h *harness) waitRuns(n int) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if len(h.runner.started()) == n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.t.Fatalf("runner started %d times, want %d", len(h.runner.started()), n)
}

func (h *harness) waitFinished() {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if h.store.Counts()[PhaseRunning] == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.t.Fatalf("analysis still running after 10s: %+v", h.store.List())
}

const argoCanary = `namespace="shop", rollouts_pod_template_hash="6f8d7c9b5"`

func TestArgoWebAnswersEveryPhaseWith200(t *testing.T) {
	tests := []struct {
		name       string
		end        *fakeEnd // nil: still running
		wantPhase  Phase
		wantReason string
	}{
		{"running", nil, PhaseRunning, "analysis running"},
		{"pass", &fakeEnd{res: Result{Outcome: Pass, Reason: "pass: no regression"}}, PhasePass, "pass: no regression"},
		{"fail", &fakeEnd{res: Result{Outcome: Fail, Reason: "fail: canary 5xx ratio shown above baseline"}}, PhaseFail, "canary 5xx"},
		{"inconclusive (prometheus down)", &fakeEnd{res: Result{Outcome: Inconclusive, Reason: "inconclusive: could not query Prometheus"}}, PhaseInconclusive, "could not query Prometheus"},
		{"refused query", &fakeEnd{err: errors.New("query refused: bad selector")}, PhaseError, "bad selector"},
		{"runner panics", &fakeEnd{panic: true}, PhaseError, "internal error"},
		{"unknown outcome", &fakeEnd{res: Result{Outcome: "maybe"}}, PhaseError, "unknown outcome"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startHarness(t)
			body := recorded(t, "argo-web.json")
			code, a := h.argo(body)
			if code != 200 || a.Phase != PhaseRunning || a.Analysis == "" {
				t.Fatalf("first measurement: %d %+v, want 200 running with an analysis id", code, a)
			}
			if tt.end != nil {
				h.end(argoCanary, *tt.end)
			}
			code, a = h.argo(body)
			if code != 200 || a.Phase != tt.wantPhase || !strings.Contains(a.Reason, tt.wantReason) {
				t.Errorf("got %d %+v, want 200 phase %s with reason containing %q", code, a, tt.wantPhase, tt.wantReason)
			}
			// One analysis per canary, however often Argo measures.
			h.waitRuns(1)
			if runs := h.runner.started(); len(runs) != 1 || runs[0].Canary != argoCanary ||
				runs[0].Baseline != `namespace="shop", rollouts_pod_template_hash="5c9b8f7d4"` {
				t.Errorf("runs %+v, want one with the Rollout's hashes", runs)
			}
		})
	}
}

func TestArgoBadRequestsAreNeverAVerdict(t *testing.T) {
	good := map[string]string{"namespace": "shop", "rollout": "shortener", "canaryHash": "6f8d7c9b5", "stableHash": "5c9b8f7d4"}
	with := func(k, v string) string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct{ name, body, want string }{
		{"not json", `namespace=shop`, "not the expected JSON"},
		{"empty", ``, "empty body"},
		{"unknown field (template typo)", `{"namespace":"shop","rollout":"shortener","canaryHash":"a1","stableHash":"b2","canary-hash":"x"}`, "unknown field"},
		{"argument not resolved", with("canaryHash", "{{args.canary-hash}}"), "canaryHash"},
		{"promql in a name", with("namespace", `shop"} or up{x="`), "namespace"},
		{"missing rollout", with("rollout", ""), "rollout"},
		{"same replica set", with("stableHash", "6f8d7c9b5"), "same ReplicaSet"},
		{"two objects", with("rollout", "a") + with("rollout", "b"), "more than one"},
		{"too big", `{"namespace":"` + strings.Repeat("a", maxBody) + `"}`, "larger than"},
	}
	h := startHarness(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, a := h.argo(tt.body)
			if code != 200 || a.Phase != PhaseInvalid || !strings.Contains(a.Reason, tt.want) {
				t.Errorf("got %d %+v, want 200 invalid naming %q", code, a, tt.want)
			}
		})
	}
	if runs := h.runner.started(); len(runs) != 0 {
		t.Errorf("bad requests started analyses: %+v", runs)
	}
	resp, err := http.Get(h.srv.URL + "/argo/v1/analysis")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
}

// The answer of every Flagger webhook type for an analysis in each phase,
// written from Flagger's contract (docs.flagger.app, usage/webhooks):
// <= 202 goes on; pre-rollout/rollout halt on a non-2xx; confirm-* hold;
// rollback is inverted; post-rollout and event are informational.
func TestFlaggerHooksInEveryPhase(t *testing.T) {
	hooks := []string{"pre-rollout", "rollout", "confirm-traffic-increase", "confirm-promotion", "rollback", "event", "post-rollout"}
	want := map[Phase][]int{
		//                  pre  roll conf-ti conf-p rollback event post
		PhaseRunning:      {200, 200, 200, 412, 412, 200, 200},
		PhasePass:         {200, 200, 200, 200, 412, 200, 200},
		PhaseFail:         {412, 412, 412, 412, 200, 200, 200},
		PhaseInconclusive: {412, 200, 412, 412, 412, 200, 200},
		PhaseLost:         {412, 200, 412, 412, 412, 200, 200},
		PhaseError:        {412, 412, 412, 412, 412, 200, 200},
	}
	const canary = `namespace="shop", job="shortener", track="canary"`
	for phase, codes := range want {
		t.Run(string(phase), func(t *testing.T) {
			dir := t.TempDir()
			h := newHarness(t, dir, newFakeRunner(), &fakeClock{t: time.Now()}, 8)
			body := recorded(t, "flagger-webhook.json")
			if code, text := h.post("/flagger/v1/pre-rollout", body); code != 200 {
				t.Fatalf("pre-rollout starting the analysis: %d %s", code, text)
			}
			switch phase {
			case PhasePass, PhaseFail, PhaseInconclusive:
				h.end(canary, fakeEnd{res: Result{Outcome: Outcome(phase), Reason: string(phase) + ": as the test said"}})
			case PhaseError:
				h.end(canary, fakeEnd{err: errors.New("bad query")})
			case PhaseLost:
				h.stop()
				h = newHarness(t, dir, newFakeRunner(), &fakeClock{t: time.Now()}, 8)
			}
			for i, hook := range hooks {
				b := body
				if hook == "event" {
					b = recorded(t, "flagger-event.json")
				}
				code, text := h.post("/flagger/v1/"+hook, b)
				if code != codes[i] {
					t.Errorf("%s in phase %s: %d %q, want %d", hook, phase, code, text, codes[i])
				}
				if code == 412 && !strings.Contains(text, string(phase)) && phase != PhaseRunning {
					t.Errorf("%s: 412 body %q does not say the phase %s", hook, text, phase)
				}
			}
		})
	}
}

func TestFlaggerBadRequestsGet400(t *testing.T) {
	h := startHarness(t)
	for _, body := range []string{``, `{`, `{"name":"shortener","namespace":"shop","phase":"Progressing"}`, `{"name":"Bad Name","namespace":"shop","checksum":"abc"}`} {
		code, text := h.post("/flagger/v1/rollout", body)
		if code != 400 || !strings.HasPrefix(text, "gate: ") {
			t.Errorf("body %q: %d %q, want 400 with a reason", body, code, text)
		}
	}
	// A newer Flagger may add fields: they are ignored, not refused.
	if code, text := h.post("/flagger/v1/rollout", `{"name":"shortener","namespace":"shop","phase":"Progressing","checksum":"7b9f6c5d8","future":1}`); code != 200 {
		t.Errorf("unknown field: %d %q, want 200", code, text)
	}
	if code, _ := h.post("/flagger/v1/confirm-rollout", recorded(t, "flagger-webhook.json")); code != 404 {
		t.Errorf("unserved hook type: %d, want 404", code)
	}
}

func TestFlaggerRollbackWithoutAnalysisDoesNotStartOne(t *testing.T) {
	h := startHarness(t)
	if code, _ := h.post("/flagger/v1/rollback", recorded(t, "flagger-webhook.json")); code != 412 {
		t.Errorf("rollback with no analysis: %d, want 412 (no rollback)", code)
	}
	if runs := h.runner.started(); len(runs) != 0 {
		t.Errorf("rollback hook started %+v", runs)
	}
}

func TestPostRolloutStopsARunningAnalysis(t *testing.T) {
	h := startHarness(t)
	body := recorded(t, "flagger-webhook.json")
	h.post("/flagger/v1/rollout", body)
	if code, _ := h.post("/flagger/v1/post-rollout", body); code != 200 {
		t.Fatalf("post-rollout: %d", code)
	}
	h.waitFinished()
	if n := len(h.store.List()); n != 0 {
		t.Errorf("%d analyses left after post-rollout, want 0", n)
	}
}

// A restart never turns a running analysis into a pass: after a graceful
// stop or a crash (the process gone without Close) it is reported lost,
// even if the new runner would pass everything.
func TestRestartReportsRunningAnalysesLost(t *testing.T) {
	for _, crash := range []bool{false, true} {
		name := map[bool]string{false: "graceful stop", true: "crash"}[crash]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			clock := &fakeClock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
			first := newHarness(t, dir, newFakeRunner(), clock, 8)
			body := recorded(t, "argo-web.json")
			if _, a := first.argo(body); a.Phase != PhaseRunning {
				t.Fatalf("first: %+v", a)
			}
			// A finished pass survives the restart as it was.
			passBody := strings.Replace(body, "6f8d7c9b5", "1a2b3c4d5", 1)
			first.argo(passBody)
			first.end(`namespace="shop", rollouts_pod_template_hash="1a2b3c4d5"`, fakeEnd{res: Result{Outcome: Pass, Reason: "pass: shown no worse"}})
			first.argo(body) // keeps the first running
			if !crash {
				first.stop()
			} else {
				first.srv.Close() // the files stay as the crash left them
			}
			passAll := RunnerFunc(func(context.Context, Spec, io.Writer) (Result, error) {
				return Result{Outcome: Pass, Reason: "pass"}, nil
			})
			store, err := OpenStore(StoreOptions{Dir: dir, Runner: passAll, Now: clock.Now, ForgetAfter: time.Minute, MaxRunning: 8})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			reg := prometheus.NewRegistry()
			hd, err := NewServer(Deps{Store: store, Selectors: DefaultSelectors(), Registry: reg, Gatherer: reg})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(hd)
			defer srv.Close()
			second := &harness{t: t, srv: srv, store: store}
			for i := 0; i < 3; i++ {
				_, a := second.argo(body)
				if a.Phase != PhaseLost || !strings.Contains(a.Reason, "evidence it gathered is gone") {
					t.Fatalf("after restart, measurement %d: %+v, want lost", i, a)
				}
			}
			if _, a := second.argo(passBody); a.Phase != PhasePass {
				t.Errorf("finished pass after restart: %+v, want pass", a)
			}
			if crash {
				first.store.Close() // now let the first store's goroutine end
			}
		})
	}
}

func TestUnreadableStateIsSetAsideNotTrusted(t *testing.T) {
	dir := t.TempDir()
	id := Key{Controller: "argo", Namespace: "shop", Name: "shortener", Revision: "6f8d7c9b5..5c9b8f7d4"}.ID()
	if err := os.WriteFile(filepath.Join(dir, id+".json"), []byte(`{"id":"`+id+`","phase":"pa`), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, dir, newFakeRunner(), &fakeClock{t: time.Now()}, 8)
	if _, err := os.Stat(filepath.Join(dir, id+".json.unreadable")); err != nil {
		t.Errorf("torn file not set aside: %v", err)
	}
	if _, a := h.argo(recorded(t, "argo-web.json")); a.Phase != PhaseRunning {
		t.Errorf("after a torn file: %+v, want a fresh running analysis", a)
	}
}

func TestFinishedAnalysesAreForgottenWhenIdle(t *testing.T) {
	h := startHarness(t)
	body := recorded(t, "argo-web.json")
	h.argo(body)
	h.end(argoCanary, fakeEnd{res: Result{Outcome: Inconclusive, Reason: "inconclusive: too little traffic"}})
	h.clock.Add(4 * time.Minute)
	if _, a := h.argo(body); a.Phase != PhaseInconclusive {
		t.Fatalf("within forget-after: %+v", a)
	}
	h.clock.Add(4 * time.Minute) // 4 min since the last request
	if n := h.store.Sweep(); n != 0 {
		t.Fatalf("swept %d analyses asked about 4 min ago, want 0", n)
	}
	h.clock.Add(2 * time.Minute)
	if n := h.store.Sweep(); n != 1 {
		t.Fatalf("swept %d, want 1", n)
	}
	if _, a := h.argo(body); a.Phase != PhaseRunning {
		t.Errorf("after being forgotten: %+v, want a fresh running analysis", a)
	}
	h.waitRuns(2)
}

func TestDeleteForgetsAndStops(t *testing.T) {
	h := startHarness(t)
	_, a := h.argo(recorded(t, "argo-web.json"))
	req, _ := http.NewRequest(http.MethodDelete, h.srv.URL+"/api/v1/analyses/"+a.Analysis, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	h.waitFinished()
	if _, err := os.Stat(filepath.Join(h.dir, a.Analysis+".json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file still there: %v", err)
	}
	resp, err = http.Get(h.srv.URL + "/api/v1/analyses/" + a.Analysis)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("get after delete: %d, want 404", resp.StatusCode)
	}
}

func TestTooManyAnalysesIsAnOutageNotAVerdict(t *testing.T) {
	h := newHarness(t, t.TempDir(), newFakeRunner(), &fakeClock{t: time.Now()}, 1)
	body := recorded(t, "argo-web.json")
	h.argo(body)
	code, a := h.argo(strings.Replace(body, "6f8d7c9b5", "0a0b0c0d0", 1))
	if code != http.StatusServiceUnavailable || !strings.Contains(a.Reason, "max-analyses") {
		t.Errorf("second analysis over the limit: %d %+v, want 503 naming --max-analyses", code, a)
	}
	if code, _ := h.post("/flagger/v1/rollout", recorded(t, "flagger-webhook.json")); code != http.StatusServiceUnavailable {
		t.Errorf("flagger over the limit: %d, want 503", code)
	}
}

func TestStatusAndMetrics(t *testing.T) {
	h := startHarness(t)
	_, a := h.argo(recorded(t, "argo-web.json"))
	h.end(argoCanary, fakeEnd{res: Result{Outcome: Fail, Reason: "fail: shown worse", Report: json.RawMessage(`{"outcome":"fail"}`)}})
	resp, err := http.Get(h.srv.URL + "/api/v1/analyses/" + a.Analysis)
	if err != nil {
		t.Fatal(err)
	}
	var got Analysis
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || got.Phase != PhaseFail || string(got.Report) != `{"outcome":"fail"}` || len(got.Progress) != 1 || got.Finished == nil {
		t.Errorf("status: %+v (%v), want the fail with its report, progress and end time", got, err)
	}
	h.argo(`{}`)
	if n, err := testutil.GatherAndCount(h.reg, MetricAnalysesFinished); err != nil || n != len(Phases)-1 {
		t.Errorf("%s: %d series (%v), want one per end phase", MetricAnalysesFinished, n, err)
	}
	body := h.get("/metrics")
	for _, want := range []string{
		`gate_serve_requests_total{code="200",controller="argo",hook="web"} 2`,
		`gate_serve_analyses{phase="fail"} 1`,
		`gate_serve_analyses{phase="running"} 0`,
		`gate_serve_analyses_finished_total{phase="lost"} 0`,
		`gate_serve_analyses_finished_total{phase="fail"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if got := h.get("/healthz"); got != "ok\n" {
		t.Errorf("/healthz %q", got)
	}
}

func (h *harness) get(path string) string {
	h.t.Helper()
	resp, err := http.Get(h.srv.URL + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		h.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}

func TestSelectorTemplatesAreChecked(t *testing.T) {
	for _, tt := range []struct {
		name string
		mod  func(*Selectors)
		want string
	}{
		{"empty", func(s *Selectors) { s.ArgoCanary = " " }, "--argo-canary: empty"},
		{"unknown field", func(s *Selectors) { s.FlaggerCanary = `x="{{.Pod}}"` }, "--flagger-canary"},
		{"braces", func(s *Selectors) { s.ArgoBaseline = `{job="x"}` }, "without braces"},
		{"bad template", func(s *Selectors) { s.FlaggerBaseline = `x="{{.Name"` }, "--flagger-baseline"},
	} {
		s := DefaultSelectors()
		tt.mod(&s)
		if err := s.parse(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error naming %q", tt.name, err, tt.want)
		}
	}
}
