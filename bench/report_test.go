package bench

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCPUFigures: the CPU-per-redirect rows are ratios of CPU time per
// request (the baseline's over the server's, so that higher is better as
// with throughput), medians of the rounds', each with its target.
func TestCPUFigures(t *testing.T) {
	round := func(base, full, off, big, hot float64) RoundResult {
		r := func(cpuPerReq float64) wrkResult {
			return wrkResult{RPS: 1000, Requests: 10_000, ServerCPU: cpuPerReq * 10_000}
		}
		return RoundResult{"baseline": r(base), "shortener-full-10k": r(full), "shortener-off-10k": r(off),
			"shortener-full-1M": r(big), "shortener-full-1M-hot": r(hot)}
	}
	rep := &Report{Rounds: []RoundResult{
		round(10e-6, 12e-6, 11e-6, 12.5e-6, 12e-6),
		round(10e-6, 13e-6, 12e-6, 16e-6, 13e-6),
		round(10e-6, 20e-6, 18e-6, 20e-6, 20e-6),
	}}
	cfg := DefaultConfig()
	cfg.Parts = []string{PartRedirects}
	byKey := map[string]Figure{}
	for _, f := range figures(cfg, rep, map[string]int64{}) {
		byKey[f.Key] = f
	}
	tests := []struct {
		key  string
		want float64
		met  bool
	}{
		{"cpu_full", 10.0 / 13, false},            // rounds 0.83, 0.77, 0.5
		{"cpu_telemetry_cost", 1 - 11.0/12, true}, // off/full 0.917, 0.923, 0.9
		{"cpu_scale", 12.0 / 12.5, true},          // 0.96, 0.81, 1
		{"cpu_scale_hot", 1, true},
	}
	for _, tt := range tests {
		f, ok := byKey[tt.key]
		if !ok {
			t.Fatalf("no figure %s", tt.key)
		}
		got := f.Value
		if f.Unit == "s" {
			got = f.Ratio // CPU per request: the ratio to the baseline's
		}
		if d := got - tt.want; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s = %v, want %v", tt.key, got, tt.want)
		}
		if f.Met == nil || *f.Met != tt.met {
			t.Errorf("%s met %v, want %v", tt.key, f.Met, tt.met)
		}
	}
	if _, ok := byKey["p99"]; ok {
		t.Error("latency figures in a run without the latency part")
	}
}

// TestRecordHistory: a run's row goes at the end of the history table,
// which the first run creates; the rest of the file is left alone.
func TestRecordHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	doc := "# Bench\n\n## History\n\n" + historyBegin + "\n" + historyEnd + "\n\nAfter.\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := &Report{Started: time.Date(2026, 11, 29, 14, 0, 0, 0, time.UTC), Commit: "abc1234", LoadStart: "1.5", LoadEnd: "2.0",
		Figures: []Figure{
			{Key: "full_rps", Unit: "req/s", Ratio: 0.83, Met: boolp(true)},
			{Key: "telemetry_cost", Unit: "ratio", Text: "12.0 %", Met: boolp(false)},
			{Key: "p99", Unit: "s", Text: "1.50 ms", Ratio: 1.1, Met: boolp(true)},
			{Key: "cpu_full", Unit: "s", Text: "12.0 µs", Ratio: 0.9, Met: boolp(true)},
		}}
	for range 2 {
		if err := rep.RecordHistory(path); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	got := string(b)
	row := "| 2026-11-29 14:00 | abc1234 | 1.5–2.0 | 0.83 | 12.0 % ✗ | 1.50 ms | – | – | – | – | 0.90 | – | – | – |\n"
	if strings.Count(got, row) != 2 || strings.Count(got, "| run (UTC) |") != 1 {
		t.Errorf("history table:\n%s\nwant two rows %q under one header", got, row)
	}
	if !strings.HasPrefix(got, "# Bench\n\n## History\n\n") || !strings.HasSuffix(got, historyEnd+"\n\nAfter.\n") {
		t.Errorf("text around the table changed:\n%s", got)
	}
}

// TestProcessCPU: the CPU time read from /proc grows by what the kernel's
// own account of this process (getrusage) says it spent: a loop that burns
// 200 ms of CPU, however long that takes on a busy machine.
func TestProcessCPU(t *testing.T) {
	rusage := func() time.Duration {
		t.Helper()
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	before, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	r0 := rusage()
	x := 0
	for deadline := time.Now().Add(time.Minute); rusage()-r0 < 200*time.Millisecond; x++ {
		if time.Now().After(deadline) {
			t.Fatal("a busy loop got under 200 ms of CPU in a minute")
		}
	}
	spent := rusage() - r0
	after, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// /proc counts in clock ticks (10 ms): allow a few of them.
	if d := after - before; d < spent-50*time.Millisecond || d > spent+50*time.Millisecond {
		t.Errorf("a busy loop of %s CPU (getrusage, %d turns) counted as %s in /proc", spent, x, d)
	}
}
