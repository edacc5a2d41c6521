package gate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obsshort/shortener/ci/gate"
	"github.com/obsshort/shortener/internal/loadgen"
	"github.com/obsshort/shortener/internal/promtest"
	"github.com/obsshort/shortener/internal/testenv"
)

// stack is one real setup: two shortener processes sharing a SQLite file,
// scraped every second by a real Prometheus that labels them stable and
// canary, as the deploy step's file_sd would.
type stack struct {
	prom              *promtest.Server
	canaryProc        *testenv.Process
	stable, canary    string // public base URLs
	stableAdm, canAdm string
}

func startStack(t *testing.T, canaryArgs ...string) *stack {
	t.Helper()
	return startStackWith(t, "", canaryArgs...)
}

// startStackWith also scrapes the extra scrape configs (YAML list items).
func startStackWith(t *testing.T, extraScrape string, canaryArgs ...string) *stack {
	t.Helper()
	bin := testenv.BuildBinary(t, "./app/cmd/shortener", "")
	db := filepath.Join(t.TempDir(), "shortener.db")
	var last *testenv.Process
	start := func(extra ...string) (string, string) {
		addr, admin := testenv.FreeAddr(t), testenv.FreeAddr(t)
		args := append([]string{"--addr", addr, "--admin-addr", admin, "--db", db, "--log-level", "warn", "--rate-limit", "0"}, extra...)
		last = testenv.Start(t, []string{"OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true"}, bin, args...)
		testenv.WaitHTTP(t, "http://"+admin+"/healthz", 30*time.Second)
		return addr, admin
	}
	// Start stable first: it creates the schema; the canary then opens it.
	s := &stack{}
	var sAddr, cAddr string
	sAddr, s.stableAdm = start()
	cAddr, s.canAdm = start(canaryArgs...)
	s.canaryProc = last
	s.stable, s.canary = "http://"+sAddr, "http://"+cAddr
	s.prom = promtest.Start(t, promtest.Config{Interval: time.Second, ScrapeConfigs: fmt.Sprintf(`- job_name: shortener
  static_configs:
    - targets: ["%s"]
      labels: {track: stable, version: v1}
    - targets: ["%s"]
      labels: {track: canary, version: v2}
%s`, s.stableAdm, s.canAdm, extraScrape)})
	s.prom.WaitTargetsUp(t, 2, 30*time.Second) // the extra targets may start later
	return s
}

// load sends redirects (and a few creates) to both arms at about rps in
// total, share of it to the canary, until the test ends; its cleanup waits
// for the requests in flight before the stack's processes stop.
func load(t *testing.T, s *stack, rps float64, share float64) {
	t.Helper()
	t.Cleanup(loadUntil(t.Context(), t, s, rps, share))
}

// loadUntil sends the load of load until ctx ends; the function it returns
// waits for the requests in flight.
func loadUntil(ctx context.Context, t *testing.T, s *stack, rps float64, share float64) (wait func()) {
	t.Helper()
	client := loadgen.NoRedirects(5*time.Second, 64)
	// A few links to redirect to, created on stable (shared database).
	var codes []string
	for i := 0; i < 5; i++ {
		link, status, err := loadgen.Create(ctx, client, s.stable, fmt.Sprintf("https://example.com/page/%d", i))
		if err != nil || status != http.StatusCreated {
			t.Fatalf("create link: status %d, err %v", status, err)
		}
		codes = append(codes, link.Code)
	}
	var wg sync.WaitGroup
	arm := func(base string, rate float64) {
		if rate <= 0 {
			return
		}
		wg.Go(func() {
			// Every tenth request creates a link, the others follow one.
			_, _ = loadgen.Drive(ctx, loadgen.Pace{RPS: rate}, func(ctx context.Context, r loadgen.Request) {
				if r.Seq%10 == 9 {
					_, _, _ = loadgen.Create(ctx, client, base, fmt.Sprintf("https://example.com/load/%d", r.Seq))
					return
				}
				_, _, _ = loadgen.Follow(ctx, client, base, codes[r.Seq%len(codes)])
			})
		})
	}
	arm(s.stable, rps*(1-share))
	arm(s.canary, rps*share)
	return wg.Wait
}

// runGate runs `gate analyze` in process with the shipped default config
// (ci/canary.yaml) and returns its exit code and outputs.
func runGate(ctx context.Context, t *testing.T, promURL string, extra ...string) (int, string, string) {
	t.Helper()
	cfg := filepath.Join(testenv.ModuleRoot(t), "ci", "canary.yaml")
	args := append([]string{"gate", "analyze", "--config", cfg, "--prometheus", promURL, "--interval", "1s", "--output", "json"}, extra...)
	var stdout, stderr bytes.Buffer
	summary := filepath.Join(t.TempDir(), "summary.md")
	getenv := func(k string) string {
		if k == "GITHUB_STEP_SUMMARY" {
			return summary
		}
		return ""
	}
	code := gate.Run(ctx, args, getenv, &stdout, &stderr)
	t.Logf("gate %v -> exit %d\nstderr:\n%s\nstdout:\n%s", extra, code, stderr.String(), stdout.String())
	return code, stdout.String(), stderr.String()
}

func decodeReport(t *testing.T, stdout string) gate.Report {
	t.Helper()
	var r gate.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("decode JSON report: %v\n%s", err, stdout)
	}
	return r
}

// TestAnalyzeIntegration: the four scenarios of the issue against real
// processes and a real Prometheus, in parallel (each has its own stack).
func TestAnalyzeIntegration(t *testing.T) {
	testenv.RequireTool(t, "prometheus")
	testenv.BuildBinary(t, "./app/cmd/shortener", "") // once, before the parallel subtests

	t.Run("faulty canary fails", func(t *testing.T) {
		t.Parallel()
		s := startStack(t, "--fault-error-rate", "0.3")
		load(t, s, 60, 0.2)
		start := time.Now()
		code, out, _ := runGate(t.Context(), t, s.prom.URL, "--max-duration", "60s")
		r := decodeReport(t, out)
		if code != gate.ExitFail || r.Outcome != gate.Fail {
			t.Fatalf("exit %d outcome %s, want 1 fail: %s", code, r.Outcome, r.Reason)
		}
		if r.Canary.Errors == 0 || !strings.Contains(r.Reason, "regression shown") {
			t.Errorf("reason should name the regression with counts: %+v", r)
		}
		// With 12 canary rps at 30% errors the evidence is overwhelming in
		// seconds; a minute would mean the gate waited for the deadline.
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("took %s to fail a canary answering 30%% 500s", d)
		}
	})

	// Not parallel: it runs alone before the paused parallel cases start.
	// A stall of one process (the host, not the build) is a burst of slow
	// requests; the non-inferiority test deflates the canary's counts by
	// their measured over-dispersion, which after a large burst holds
	// "no worse" back for minutes, so three stacks beside it made this
	// case end inconclusive on a loaded host.
	t.Run("identical canary passes", func(t *testing.T) {
		s := startStack(t)
		load(t, s, 200, 0.5)
		// The shipped config plus a custom check, to run a PromQL template
		// with the selector substituted against the real Prometheus.
		shipped, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "ci", "canary.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		// Passing needs evidence: with no errors at all, about ln(40)/floor
		// canary requests. The shipped floor (0.05%) needs ~10,000; a floor of
		// 0.2% here keeps the test under a minute (the statistics' power is
		// the simulator's business, `gate simulate --table`).
		shippedFloor := "    floor: 0.5              # x slo.error_budget: 0.05% (lets a canary pass when stable has no errors)\n"
		if !strings.Contains(string(shipped), shippedFloor) {
			t.Fatal("ci/canary.yaml has no errors floor line to change")
		}
		// The shipped 10 ms boundary measures the host more than the build
		// when parallel test packages load both cores: one stall of the
		// canary's process alone put its share slower than 10 ms above 1.5 x
		// stable's + 0.5 points for the rest of the run. Identical builds are
		// compared here from 50 ms up; the replay and the simulator cover the
		// shipped boundary.
		shippedMinLE := "    min_le: 0.01            # boundaries below 10 ms are left out (scheduling noise on a busy host)\n"
		if !strings.Contains(string(shipped), shippedMinLE) {
			t.Fatal("ci/canary.yaml has no latency min_le line to change")
		}
		shipped = []byte(strings.Replace(string(shipped), shippedMinLE, "    min_le: 0.05\n", 1))
		// Likewise the latency floor: at the shipped 0.5 points, a few
		// slow requests of the race-built processes at 50 ms kept "no
		// worse" at 23 of 40 after 90 s on a quiet machine (identical
		// builds at 100 req/s each). 2 points, as for errors.
		shippedLatFloor := "    floor: 0.5              # x slo.latency_budget: 0.5 percentage points\n"
		if !strings.Contains(string(shipped), shippedLatFloor) {
			t.Fatal("ci/canary.yaml has no latency floor line to change")
		}
		shipped = []byte(strings.Replace(string(shipped), shippedLatFloor, "    floor: 2\n", 1))
		custom := strings.Replace(strings.Replace(string(shipped), shippedFloor, "    floor: 2\n", 1), "  custom: []\n", `  custom:
    - name: active-requests
      query: sum(http_server_active_requests{ {{.Selector}} })
      direction: higher_is_worse
      threshold: 1000
`, 1)
		if custom == string(shipped) {
			t.Fatal("ci/canary.yaml has no `  custom: []` line to extend")
		}
		cfgPath := filepath.Join(t.TempDir(), "canary.yaml")
		if err := os.WriteFile(cfgPath, []byte(custom), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runGate(t.Context(), t, s.prom.URL, "--max-duration", "90s", "--canary-share", "0.5", "--config", cfgPath)
		r := decodeReport(t, out)
		if code != gate.ExitPass || r.Outcome != gate.Pass {
			t.Fatalf("exit %d outcome %s, want 0 pass: %s", code, r.Outcome, r.Reason)
		}
		// one progress line per poll: about 20 of them, each with the
		// counts, the evidence and what the gate waits for
		if !strings.Contains(r.Reason, "shown no worse") {
			t.Errorf("a pass must say it was shown no worse: %s", r.Reason)
		}
		if n := strings.Count(errOut, "| waiting for "); n < 5 {
			t.Errorf("%d progress lines, want one per poll", n)
		}
		var sawCustom bool
		for _, c := range r.Checks {
			if c.Name == "active-requests" {
				sawCustom = c.Status == "ok"
			}
		}
		if !sawCustom {
			t.Errorf("custom check active-requests not evaluated ok: %+v", r.Checks)
		}
		if r.Canary.Requests < 100 || r.Baseline.Requests < 100 {
			t.Errorf("pass with too little traffic: %+v %+v", r.Canary, r.Baseline)
		}
	})

	t.Run("no canary traffic is inconclusive", func(t *testing.T) {
		t.Parallel()
		s := startStack(t)
		load(t, s, 50, 0) // everything to stable
		code, out, _ := runGate(t.Context(), t, s.prom.URL, "--max-duration", "15s")
		r := decodeReport(t, out)
		if code != gate.ExitInconclusive || r.Outcome != gate.Inconclusive {
			t.Fatalf("exit %d outcome %s, want 2 inconclusive: %s", code, r.Outcome, r.Reason)
		}
		if !strings.Contains(r.Reason, "canary") {
			t.Errorf("reason should say the canary had no data: %s", r.Reason)
		}
	})

	t.Run("prometheus stopped is inconclusive", func(t *testing.T) {
		t.Parallel()
		s := startStack(t)
		load(t, s, 50, 0.2)
		// Stop Prometheus a few polls into the analysis.
		go func() {
			time.Sleep(4 * time.Second)
			s.prom.Process.Kill()
		}()
		code, out, errOut := runGate(t.Context(), t, s.prom.URL, "--max-duration", "60s", "--max-consecutive-errors", "3", "--retries", "1", "--timeout", "2s")
		r := decodeReport(t, out)
		if code != gate.ExitInconclusive || r.Outcome != gate.Inconclusive {
			t.Fatalf("exit %d outcome %s, want 2 inconclusive: %s", code, r.Outcome, r.Reason)
		}
		if !strings.Contains(r.Reason, s.prom.URL) || !strings.Contains(errOut, "prometheus error") {
			t.Errorf("reason should name the Prometheus it could not reach (%s): %s", s.prom.URL, r.Reason)
		}
	})
}
