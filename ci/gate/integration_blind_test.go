package gate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/obsshort/shortener/ci/gate"
	"github.com/obsshort/shortener/internal/testenv"
)

// TestBlindSpotsIntegration: the failures the gate used to miss, each
// against a real Prometheus scraping real shortener processes (and a real
// HAProxy for the errors only the load balancer sees).
func TestBlindSpotsIntegration(t *testing.T) {
	testenv.RequireTool(t, "prometheus")
	testenv.BuildBinary(t, "./app/cmd/shortener", "")

	t.Run("a canary killed mid-analysis fails within 30s", func(t *testing.T) {
		t.Parallel()
		s := startStack(t)
		ctx := t.Context()
		load(t, s, 60, 0.2)
		killed := make(chan time.Time, 1)
		go func() {
			time.Sleep(8 * time.Second)
			if err := s.canaryProc.Signal(syscall.SIGKILL); err != nil {
				t.Errorf("kill the canary: %v", err)
			}
			killed <- time.Now()
		}()
		code, out, _ := runGate(ctx, t, s.prom.URL, "--max-duration", "2m")
		r := decodeReport(t, out)
		if code != gate.ExitFail || !strings.Contains(r.Reason, "canary vanished") {
			t.Fatalf("exit %d (%s), want 1 with the canary vanished: %s", code, r.Outcome, r.Reason)
		}
		select {
		case at := <-killed:
			if d := time.Since(at); d > 30*time.Second {
				t.Errorf("failed %s after the kill, want within 30s", d.Round(time.Second))
			}
		default:
			t.Fatal("the gate decided before the canary was killed")
		}
	})

	t.Run("backtest replays recorded data: the faulty window fails", func(t *testing.T) {
		t.Parallel()
		s := startStack(t, "--fault-error-rate", "0.3")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		wait := loadUntil(ctx, t, s, 60, 0.2)
		time.Sleep(25 * time.Second) // record some history
		cancel()
		wait()
		var stdout, stderr strings.Builder
		code := gate.Run(context.Background(), []string{"gate", "backtest", "--config", filepath.Join(testenv.ModuleRoot(t), "ci", "canary.yaml"),
			"--prometheus", s.prom.URL, "--from", "22s", "--max-duration", "10s", "--interval", "1s", "--output", "json"},
			func(string) string { return "" }, &stdout, &stderr)
		t.Logf("backtest exit %d\n%s\n%s", code, stdout.String(), stderr.String())
		var ws []gate.BacktestWindow
		if err := json.Unmarshal([]byte(stdout.String()), &ws); err != nil || code != 0 {
			t.Fatalf("exit %d, output not JSON: %v", code, err)
		}
		if len(ws) != 2 {
			t.Fatalf("%d windows of 10s in 22s, want 2", len(ws))
		}
		for _, w := range ws {
			if w.Outcome != gate.Fail || !strings.Contains(w.Reason, "5xx ratio") {
				t.Errorf("window %s: %s (%s), want a fail on the 5xx ratio", w.Start, w.Outcome, w.Reason)
			}
		}
	})

	t.Run("a latency-only regression under the SLO threshold fails", func(t *testing.T) {
		t.Parallel()
		// every canary request 40 ms slower: all well under the 100 ms SLO
		s := startStack(t, "--fault-latency", "40ms")
		ctx := t.Context()
		load(t, s, 60, 0.2)
		code, out, _ := runGate(ctx, t, s.prom.URL, "--max-duration", "60s")
		r := decodeReport(t, out)
		if code != gate.ExitFail || !strings.Contains(r.Reason, "latency distribution is shifted up") {
			t.Fatalf("exit %d (%s), want 1 for the latency distribution: %s", code, r.Outcome, r.Reason)
		}
		if r.Canary.Errors != 0 || r.Canary.Slow > r.Canary.Requests/10 {
			t.Errorf("the canary should have no 5xx and few requests over 100 ms: %+v", r.Canary)
		}
	})

	t.Run("errors only the load balancer sees fail the canary", func(t *testing.T) {
		t.Parallel()
		testenv.RequireTool(t, "haproxy")
		// HAProxy sends the canary's share to a port nobody listens on: every
		// attempt is refused and redispatched to stable, so users and the
		// canary's own /metrics see nothing wrong.
		proxy, metrics, dead := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
		s := startStackWith(t, fmt.Sprintf("- job_name: haproxy\n  static_configs:\n    - targets: [%q]\n", metrics))
		cfg := fmt.Sprintf(`global
    maxconn 512
defaults
    mode http
    timeout connect 500ms
    timeout client 10s
    timeout server 10s
    retries 3
    option redispatch 1
    retry-on all-retryable-errors
frontend public
    bind %s
    default_backend shortener
backend shortener
    balance roundrobin
    server stable %s weight 80
    server canary %s weight 20
frontend metrics
    bind %s
    http-request use-service prometheus-exporter if { path /metrics }
`, proxy, strings.TrimPrefix(s.stable, "http://"), dead, metrics)
		path := filepath.Join(t.TempDir(), "haproxy.cfg")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		testenv.Start(t, nil, "haproxy", "-f", path, "-db")
		testenv.WaitHTTP(t, "http://"+metrics+"/metrics", 20*time.Second)
		s.prom.WaitTargetsUp(t, 3, 30*time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// users go through HAProxy; the canary process gets a trickle
		// directly, so its own metrics exist and look healthy
		wait := loadUntil(ctx, t, &stack{stable: "http://" + proxy, canary: s.canary}, 60, 0.1)
		defer wait()
		defer cancel()
		code, out, _ := runGate(ctx, t, s.prom.URL, "--max-duration", "60s")
		r := decodeReport(t, out)
		if code != gate.ExitFail || !strings.Contains(r.Reason, "load-balancer:") {
			t.Fatalf("exit %d (%s), want 1 from the load-balancer check: %s", code, r.Outcome, r.Reason)
		}
		if r.Canary.Errors != 0 || r.Canary.LB == nil || r.Canary.LB.Failures == 0 {
			t.Errorf("want no 5xx in the canary's own metrics and failures at the load balancer: app %+v, lb %+v", r.Canary.Errors, r.Canary.LB)
		}
	})
}
