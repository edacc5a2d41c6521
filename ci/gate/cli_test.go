package gate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obsshort/shortener/ci/gate"
	"github.com/obsshort/shortener/ci/release"
	"github.com/obsshort/shortener/internal/promtest"
	"github.com/obsshort/shortener/internal/testenv"
)

func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := gate.Run(ctx, append([]string{"gate"}, args...), getenv, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestUsageErrorsExit3(t *testing.T) {
	t.Parallel()
	badYAML := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(badYAML, []byte("analysis:\n  max_duraton: 1m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no command", nil, "usage: gate"},
		{"unknown command", []string{"deploy"}, `unknown command "deploy"`},
		{"unknown flag", []string{"analyze", "--alfa", "0.1"}, "-alfa"}, // named, in the flag package's words
		{"unknown config field", []string{"analyze", "--config", badYAML}, "analysis.max_duraton: unknown field"},
		{"missing config file", []string{"analyze", "--config", "/nonexistent.yaml"}, "read config"},
		{"bad output", []string{"analyze", "--output", "xml"}, "output: must be text or json"},
		{"bad alpha", []string{"analyze", "--alpha", "2"}, "analysis.alpha"},
		{"bad header", []string{"analyze", "--header", "novalue"}, "--header"},
		{"bad prometheus url", []string{"analyze", "--prometheus", "localhost:9090"}, "prometheus.url"},
		{"missing token file", []string{"analyze", "--bearer-token-file", "/nonexistent"}, "prometheus.bearer_token_file"},
		{"basic auth without password", []string{"analyze", "--basic-auth-user", "u"}, "GATE_PROMETHEUS_PASSWORD"},
		{"stray argument", []string{"analyze", "now"}, `unexpected argument "now"`},
		{"simulate bad rate", []string{"simulate", "--canary-error-rate", "2"}, "--canary-error-rate"},
		{"simulate bad share", []string{"simulate", "--canary-share", "0"}, "--canary-share"},
		{"preflight bad regex", []string{"preflight", "--alert-name-regex", "("}, "preflight.alert_name_regex"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := run(t, nil, c.args...)
			if code != gate.ExitUsage || !strings.Contains(stderr, c.stderr) {
				t.Errorf("exit %d, stderr %q; want 3 and %q", code, stderr, c.stderr)
			}
		})
	}
}

func TestSimulateCommand(t *testing.T) {
	t.Parallel()
	code, out, _ := run(t, nil, "simulate", "--runs", "20", "--max-duration", "30s", "--canary-error-rate", "0.3", "--baseline-error-rate", "0.001", "--deadline", "15s")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	// Read the numbers, not the layout: a 30% canary is failed in every
	// run, and within the 15 s deadline.
	for label, want := range map[string]float64{"fail": 100, "failed within 15s:": 100} {
		got, ok := percentAfter(out, label)
		if !ok || got != want {
			t.Errorf("%s: %v%% (found %v), want %v%%:\n%s", label, got, ok, want, out)
		}
	}
	if !strings.Contains(out, "time to fail") {
		t.Errorf("output lacks the time to fail:\n%s", out)
	}
	code, _, stderr := run(t, nil, "simulate", "--canary-share", "1")
	if code != gate.ExitUsage || !strings.Contains(stderr, "--canary-share") {
		t.Errorf("a share of 1: exit %d %q, want 3 naming the flag", code, stderr)
	}
}

// gate plan from given traffic: busy traffic is enough at a small share;
// a trickle is not, and the plan says so with exit 2.
func TestPlanCommand(t *testing.T) {
	t.Parallel()
	code, out, _ := run(t, nil, "plan", "--rps", "1000", "--error-ratio", "0.0025", "--runs", "40", "--max-duration", "20m", "--output", "json")
	if code != gate.ExitPass {
		t.Fatalf("plan for 1000 req/s: exit %d\n%s", code, out)
	}
	var pl gate.PlanResult
	if err := json.Unmarshal([]byte(out), &pl); err != nil {
		t.Fatal(err)
	}
	if !pl.Feasible || pl.Share != 0.1 || pl.DurationSec <= 0 || pl.DurationSec > 20*60 {
		t.Errorf("1000 req/s: want a plan at the first share (10%%) within 20 minutes, got %+v", pl)
	}
	code, out, _ = run(t, nil, "plan", "--rps", "0.5", "--error-ratio", "0.0025", "--runs", "20", "--max-duration", "2m", "--shares", "0.1,0.5")
	if code != gate.ExitInconclusive || !strings.Contains(out, "cannot give 90% power within 2m0s") {
		t.Errorf("0.5 req/s: exit %d, want 2 and a plain no:\n%s", code, out)
	}
}

// percentAfter finds the line that starts with label and returns the first
// percentage on it.
func percentAfter(out, label string) (float64, bool) {
	re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(label) + `\s+([0-9.]+)%`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

// fakeProm answers /api/v1/query like Prometheus: every query gets the
// same result (or what answer says), and it records the headers. With
// authorize set, a request it refuses gets 401.
type fakeProm struct {
	mu        sync.Mutex
	headers   []http.Header
	queries   []string
	result    string                    // JSON of data.result
	answer    func(query string) string // overrides result when set
	authorize func(http.Header) bool
}

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	q := r.Form.Get("query")
	f.mu.Lock()
	f.headers = append(f.headers, r.Header.Clone())
	f.queries = append(f.queries, q)
	res := f.result
	if f.answer != nil {
		res = f.answer(q)
	}
	authorize := f.authorize
	f.mu.Unlock()
	if authorize != nil && !authorize(r.Header) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":%s}}`, res)
}

func (f *fakeProm) lastHeader() http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.headers) == 0 {
		return http.Header{}
	}
	return f.headers[len(f.headers)-1]
}

// Auth as real deployments need it: the secret comes from a file or the
// environment, reaches Prometheus in the header, and never the output. The
// fake refuses requests without it, so the exit code tells whether the
// preflight got through (0: clear) or was blocked for want of access (2).
func TestPrometheusAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokenFile := write("token", "s3cret-from-file\n")
	passFile := write("pass", "pa55")
	apiKeyFile := write("api-key", "k3y-from-file\n")
	basic := func(user, pass string) func(http.Header) bool {
		return func(h http.Header) bool {
			u, p, ok := (&http.Request{Header: h}).BasicAuth()
			return ok && u == user && p == pass
		}
	}
	cases := []struct {
		name   string
		env    map[string]string
		args   []string
		check  func(http.Header) bool
		secret string
	}{
		{"bearer from file", nil, []string{"--bearer-token-file", tokenFile}, func(h http.Header) bool { return h.Get("Authorization") == "Bearer s3cret-from-file" }, "s3cret-from-file"},
		{"bearer from env", map[string]string{gate.EnvToken: "s3cret-env"}, nil, func(h http.Header) bool { return h.Get("Authorization") == "Bearer s3cret-env" }, "s3cret-env"},
		{"bearer file wins over env", map[string]string{gate.EnvToken: "s3cret-env"}, []string{"--bearer-token-file", tokenFile}, func(h http.Header) bool { return h.Get("Authorization") == "Bearer s3cret-from-file" }, "s3cret-env"},
		{"basic auth password from file", nil, []string{"--basic-auth-user", "gate", "--basic-auth-password-file", passFile}, basic("gate", "pa55"), "pa55"},
		{"basic auth password from env", map[string]string{gate.EnvPassword: "envpa55"}, []string{"--basic-auth-user", "gate"}, basic("gate", "envpa55"), "envpa55"},
		{"extra headers", nil, []string{"--header", "X-Scope-OrgID: team-a", "--header", "X-Other:1"}, func(h http.Header) bool {
			return h.Get("X-Scope-OrgID") == "team-a" && h.Get("X-Other") == "1"
		}, ""},
		{"header from file", nil, []string{"--header-file", "X-Api-Key=" + apiKeyFile}, func(h http.Header) bool { return h.Get("X-Api-Key") == "k3y-from-file" }, "k3y-from-file"},
		{"header from env", map[string]string{"PROM_API_KEY": "k3y-from-env"}, []string{"--header-env", "X-Api-Key=PROM_API_KEY"}, func(h http.Header) bool { return h.Get("X-Api-Key") == "k3y-from-env" }, "k3y-from-env"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fp := &fakeProm{result: `[]`, authorize: c.check}
			srv := httptest.NewServer(fp)
			defer srv.Close()
			args := append([]string{"preflight", "--prometheus", srv.URL, "--retries", "0"}, c.args...)
			code, out, errOut := run(t, c.env, args...)
			if code != gate.ExitPass || !strings.Contains(out, "clear to deploy") {
				t.Errorf("exit %d, want 0 (clear to deploy); Prometheus got headers %v\n%s%s", code, fp.lastHeader(), out, errOut)
			}
			if c.secret != "" && (strings.Contains(out, c.secret) || strings.Contains(errOut, c.secret)) {
				t.Errorf("secret leaked into the output")
			}
		})
	}
	// and without the credentials the same fake blocks the deploy
	fp := &fakeProm{result: `[]`, authorize: basic("gate", "pa55")}
	srv := httptest.NewServer(fp)
	defer srv.Close()
	code, out, _ := run(t, nil, "preflight", "--prometheus", srv.URL, "--retries", "0")
	if code != gate.ExitInconclusive || !strings.Contains(out, "401") {
		t.Errorf("no credentials: exit %d, want 2 blocked by a 401:\n%s", code, out)
	}
}

// A CA file makes an https Prometheus with a private CA reachable; without
// it the TLS error blocks the deploy (fail safe) and names the URL.
func TestPrometheusCAFile(t *testing.T) {
	t.Parallel()
	fp := &fakeProm{result: `[]`}
	srv := httptest.NewTLSServer(fp)
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, nil, "preflight", "--prometheus", srv.URL, "--ca-file", ca, "--retries", "0")
	if code != 0 || !strings.Contains(out, "clear to deploy") {
		t.Errorf("with CA: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = run(t, nil, "preflight", "--prometheus", srv.URL, "--retries", "0")
	if code != gate.ExitInconclusive || !strings.Contains(out, "cannot query Prometheus at "+srv.URL) || !strings.Contains(out, "certificate") {
		t.Errorf("without CA: exit %d, want 2 blocked naming the URL and the certificate problem:\n%s", code, out)
	}
}

// --dry-run reports the real decision but exits 0; the step summary gets
// a markdown section.
func TestDryRunAndStepSummary(t *testing.T) {
	t.Parallel()
	summary := filepath.Join(t.TempDir(), "summary.md")
	code, out, _ := run(t, map[string]string{"GITHUB_STEP_SUMMARY": summary},
		"analyze", "--prometheus", "http://127.0.0.1:1", "--dry-run", "--interval", "100ms", "--max-duration", "1s", "--retries", "0", "--max-consecutive-errors", "2")
	if code != 0 {
		t.Errorf("dry run exit %d, want 0", code)
	}
	if !strings.Contains(out, "INCONCLUSIVE (exit 2) [dry run: exits 0]") {
		t.Errorf("dry run must still report the decision:\n%s", out)
	}
	md, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "### ⚠️ canary gate: INCONCLUSIVE") || !strings.Contains(string(md), "http://127.0.0.1:1") {
		t.Errorf("step summary:\n%s", md)
	}
}

// An empty answer for the canary is "no series", never zero, and with the
// fake answering empty for everything the run is inconclusive.
func TestEmptyResultIsNoData(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(&fakeProm{result: `[]`})
	defer srv.Close()
	code, out, _ := run(t, nil, "analyze", "--prometheus", srv.URL, "--interval", "100ms", "--max-duration", "300ms")
	if code != gate.ExitInconclusive || !strings.Contains(out, `no series for canary (selector {track="canary"})`) {
		t.Errorf("exit %d, want 2 saying no series for canary:\n%s", code, out)
	}
}

// The decision, evidence and counts land in a real Pushgateway.
func TestPushgateway(t *testing.T) {
	t.Parallel()
	bin := testenv.RequireTool(t, "prometheus-pushgateway")
	addr := testenv.FreeAddr(t)
	testenv.Start(t, nil, bin, "--web.listen-address="+addr)
	testenv.WaitHTTP(t, "http://"+addr+"/-/ready", 30*time.Second)
	srv := httptest.NewServer(&fakeProm{result: `[]`})
	defer srv.Close()
	code, _, errOut := run(t, nil, "analyze", "--prometheus", srv.URL, "--interval", "100ms", "--max-duration", "300ms", "--pushgateway", "http://"+addr)
	if code != gate.ExitInconclusive {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`canary_gate_decision{instance="",job="canary_gate",outcome="inconclusive"} 1`,
		`canary_gate_exit_code{instance="",job="canary_gate"} 2`,
		// 1/α per check: 0.05 split over the 7 statistical checks
		`canary_gate_evidence_threshold{check="errors",instance="",job="canary_gate"} 140`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("pushgateway lacks %s", want)
		}
	}
}

// Preflight against a real Prometheus: a firing SLO alert blocks, and so
// does a spent error budget; a healthy state is clear.
func TestPreflightIntegration(t *testing.T) {
	t.Parallel()
	rules := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(rules, []byte(`groups:
  - name: test
    rules:
      - alert: ShortenerErrorBudgetBurnRateFast
        expr: vector(1)
        labels: {severity: page, service: shortener}
        annotations: {summary: test alert}
      # What a rolled-back canary leaves behind, and the same alert for a
      # stable track and for a target without a track (other job names, so
      # each case sees only its own).
      - alert: AvailabilityFastBurn
        expr: vector(1)
        labels: {severity: page, job: shortener, track: canary}
      - alert: AvailabilityFastBurn
        expr: vector(1)
        labels: {severity: page, job: shortener-stable, track: stable}
      - alert: TargetDown
        expr: vector(1)
        labels: {severity: page, job: shortener-untracked}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := promtest.Start(t, promtest.Config{ScrapeConfigs: "[]", RuleFiles: []string{rules}, Interval: time.Second})
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, err := prom.Query(context.Background(), `ALERTS{alertstate="firing"}`)
		if err == nil && strings.Contains(string(data), "ShortenerErrorBudgetBurnRateFast") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alert never fired: %s %v", data, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cases := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"firing SLO alert blocks", []string{"--selector", `service="shortener"`, "--budget-query", "vector(0.2)"}, 2, "1 SLO alert(s) firing"},
		{"alert of another service does not", []string{"--selector", `service="other"`, "--budget-query", "vector(0.2)"}, 0, "20.0% of the 30-day error budget spent"},
		{"spent budget blocks", []string{"--selector", `service="other"`, "--budget-query", "vector(1.3)"}, 2, "deploy freeze: 130% of the 30-day error budget is spent"},
		{"default budget query over no traffic is said so", []string{"--selector", `service="other"`}, 0, "returned no data"},
		{"bad PromQL is a configuration error", []string{"--budget-query", "sum(("}, 3, ""},
		// The release pipeline's selector: a canary's leftover alert does
		// not block the next release; stable's and untracked ones do.
		{"pipeline: canary leftover does not block", []string{"--selector", release.PreflightSelector, "--budget-query", "vector(0.2)"}, 0, "no SLO alert firing"},
		{"pipeline: stable alert blocks", []string{"--selector", strings.Replace(release.PreflightSelector, `job="shortener"`, `job="shortener-stable"`, 1), "--budget-query", "vector(0.2)"}, 2, "1 SLO alert(s) firing"},
		{"pipeline: untracked alert blocks", []string{"--selector", strings.Replace(release.PreflightSelector, `job="shortener"`, `job="shortener-untracked"`, 1), "--budget-query", "vector(0.2)"}, 2, "1 SLO alert(s) firing"},
	}
	for _, c := range cases {
		args := append([]string{"preflight", "--prometheus", prom.URL}, c.args...)
		code, out, errOut := run(t, nil, args...)
		if code != c.code || !strings.Contains(out, c.out) {
			t.Errorf("%s: exit %d, want %d with %q:\n%s%s", c.name, code, c.code, c.out, out, errOut)
		}
	}
}
