package serve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/loadgen"
	"github.com/obsshort/shortener/internal/promtest"
	"github.com/obsshort/shortener/internal/testenv"
)

// TestGateServeWithTheRealEngine runs the real `gate serve` binary (the
// gate's engine behind it) against a real Prometheus scraping real
// shortener processes under load, and drives it with the requests Argo's
// Web provider and Flagger send:
//   - a canary failing 30% of its requests is judged fail (Argo: phase
//     fail; Flagger: rollout and confirm-promotion answer 412, rollback 200);
//   - gate serve killed (SIGKILL) and restarted while an analysis of a
//     healthy canary runs: that analysis is reported lost, the finished
//     fail stays fail;
//   - Prometheus down: a new analysis ends inconclusive, naming Prometheus.
func TestGateServeWithTheRealEngine(t *testing.T) {
	testenv.RequireTool(t, "prometheus")
	shBin := testenv.BuildBinary(t, "./app/cmd/shortener", "")
	gateBin := testenv.BuildBinary(t, "./ci/cmd/gate", "")
	db := filepath.Join(t.TempDir(), "shortener.db")
	start := func(extra ...string) (string, string) {
		addr, admin := testenv.FreeAddr(t), testenv.FreeAddr(t)
		args := append([]string{"--addr", addr, "--admin-addr", admin, "--db", db, "--log-level", "warn", "--rate-limit", "0"}, extra...)
		testenv.Start(t, []string{"OTEL_SDK_DISABLED=true"}, shBin, args...)
		testenv.WaitHTTP(t, "http://"+admin+"/readyz", 30*time.Second)
		return addr, admin
	}
	stable, stableAdm := start()
	canary, canaryAdm := start("--fault-error-rate", "0.3")
	// The stable process is scraped a second time as a "twin" canary
	// (another ReplicaSet hash): identical to its baseline, so healthy.
	prom := promtest.Start(t, promtest.Config{Interval: time.Second, ScrapeConfigs: fmt.Sprintf(`- job_name: shortener
  static_configs:
    - targets: ["%s"]
      labels: {namespace: shop, track: stable, rollouts_pod_template_hash: 5c9b8f7d4}
    - targets: ["%s"]
      labels: {namespace: shop, track: canary, rollouts_pod_template_hash: 6f8d7c9b5}
    - targets: ["%s"]
      labels: {namespace: shop, track: twin, rollouts_pod_template_hash: 1a2b3c4d5}
`, stableAdm, canaryAdm, stableAdm)})
	prom.WaitTargetsUp(t, 3, 30*time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range []struct {
		url string
		rps float64
	}{{"http://" + stable, 40}, {"http://" + canary, 15}} {
		g, err := loadgen.New(loadgen.Config{BaseURL: l.url, RPS: l.rps, CreateShare: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); g.Run(ctx) }()
	}
	defer wg.Wait()
	defer cancel()

	cfg := filepath.Join(t.TempDir(), "canary.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`prometheus:
  url: %s
  timeout: 2s
  retries: 0
  max_consecutive_errors: 3
analysis:
  interval: 1s
  max_duration: 5m
  min_requests: 50
`, prom.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	addr := testenv.FreeAddr(t)
	startGate := func() *testenv.Process {
		p := testenv.Start(t, nil, gateBin, "serve", "--config", cfg, "--state-dir", state, "--addr", addr)
		testenv.WaitHTTP(t, "http://"+addr+"/healthz", 30*time.Second)
		return p
	}
	gateProc := startGate()
	base := "http://" + addr

	argoBody := func(canaryHash string) string {
		return fmt.Sprintf(`{"namespace":"shop","rollout":"shortener","canaryHash":"%s","stableHash":"5c9b8f7d4"}`, canaryHash)
	}
	flaggerBody := `{"name":"shortener","namespace":"shop","phase":"Progressing","checksum":"7b9f6c5d8","metadata":{}}`

	// Argo: the failing canary, measured every second like a fast interval.
	phase, reason := pollArgo(t, base, argoBody("6f8d7c9b5"), 90*time.Second)
	if phase != "fail" {
		t.Fatalf("failing canary: phase %s (%s), want fail", phase, reason)
	}
	// The healthy twin runs meanwhile (max_duration 5m: it is still
	// running when gate serve is killed).
	if phase, _ := argo(t, base, argoBody("1a2b3c4d5")); phase != "running" {
		t.Fatalf("twin: %s, want running", phase)
	}
	// Flagger: same failing canary by track.
	code, text := pollFlagger(t, base, "rollout", flaggerBody, 90*time.Second)
	if code != http.StatusPreconditionFailed || !strings.Contains(text, "fail") {
		t.Errorf("flagger rollout hook: %d %q, want 412 fail", code, text)
	}
	if code, _ := post(t, base+"/flagger/v1/confirm-promotion", flaggerBody); code != http.StatusPreconditionFailed {
		t.Errorf("confirm-promotion after a fail: %d, want 412", code)
	}
	if code, _ := post(t, base+"/flagger/v1/rollback", flaggerBody); code != http.StatusOK {
		t.Errorf("rollback after a fail: %d, want 200 (roll back)", code)
	}
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, `gate_serve_analyses_finished_total{phase="fail"} 2`) {
		t.Errorf("/metrics does not count the two fails:\n%s", grepLines(body, "gate_serve_analyses"))
	}

	// Restart: SIGKILL while the twin's analysis runs.
	if err := gateProc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	gateProc.Wait(10 * time.Second)
	startGate()
	if phase, reason := argo(t, base, argoBody("1a2b3c4d5")); phase != "lost" || !strings.Contains(reason, "restarted") {
		t.Errorf("twin after a restart: %s (%s), want lost", phase, reason)
	}
	if phase, _ := argo(t, base, argoBody("6f8d7c9b5")); phase != "fail" {
		t.Errorf("the failing canary after a restart: %s, want fail (kept)", phase)
	}

	// Prometheus down: a new analysis cannot see anything.
	if err := prom.Process.Stop(context.Background(), 10*time.Second); err != nil {
		t.Logf("stop prometheus: %v", err)
	}
	phase, reason = pollArgo(t, base, argoBody("0a0b0c0d0"), 60*time.Second)
	if phase != "inconclusive" || !strings.Contains(reason, "Prometheus") {
		t.Errorf("with Prometheus down: %s (%s), want inconclusive naming Prometheus", phase, reason)
	}
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func argo(t *testing.T, base, body string) (phase, reason string) {
	t.Helper()
	code, text := post(t, base+"/argo/v1/analysis", body)
	var a struct{ Phase, Reason string }
	if err := json.Unmarshal([]byte(text), &a); err != nil || code != 200 {
		t.Fatalf("argo answer %d %q (%v)", code, text, err)
	}
	return a.Phase, a.Reason
}

// pollArgo measures every second until the phase is final or the time is up.
func pollArgo(t *testing.T, base, body string, within time.Duration) (phase, reason string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		phase, reason = argo(t, base, body)
		if phase != "running" || time.Now().After(deadline) {
			return phase, reason
		}
		time.Sleep(time.Second)
	}
}

func pollFlagger(t *testing.T, base, hook, body string, within time.Duration) (int, string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, text := post(t, base+"/flagger/v1/"+hook, body)
		if code != 200 || time.Now().After(deadline) {
			return code, text
		}
		time.Sleep(time.Second)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
