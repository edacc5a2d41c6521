package release

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeGate writes a shell script standing in for the gate binary.
func fakeGate(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gate")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAnalyzeVerdicts: the gate's exit code is the verdict, and only a
// pass lets the release go on.
func TestAnalyzeVerdicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		script, verdict, reason string
	}{
		{`echo '{"reason":"no worse within 1%"}'; exit 0`, VerdictPass, "no worse within 1%"},
		{`echo '{"reason":"5xx ratio up"}'; exit 1`, VerdictFail, "5xx ratio up"},
		{`echo '{}'; exit 2`, VerdictInconclusive, ""},
		{`echo 'cannot reach prometheus'; exit 3`, VerdictError, "cannot reach prometheus"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		p := &Pipeline{Out: &stderr, Err: &stderr}
		opt := Options{Version: "v2", GateBinary: fakeGate(t, tt.script), GateWarmup: time.Second, GateMaxDuration: time.Second}
		g := p.analyze(context.Background(), opt, 10)
		if g.Verdict != tt.verdict {
			t.Errorf("%s: verdict %s, want %s", tt.script, g.Verdict, tt.verdict)
		}
		if !strings.Contains(g.Summary, tt.reason) {
			t.Errorf("%s: summary %q lacks %q", tt.script, g.Summary, tt.reason)
		}
	}
}

// TestAnalyzeKillsAHungGate: a gate that never exits is killed once its
// warmup, window and grace have passed, and counts as an error (which rolls
// back), instead of holding the release forever.
func TestAnalyzeKillsAHungGate(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	p := &Pipeline{Out: &stderr, Err: &stderr, gateGrace: 300 * time.Millisecond}
	opt := Options{Version: "v2", GateBinary: fakeGate(t, "exec sleep 600"), GateWarmup: 100 * time.Millisecond, GateMaxDuration: 100 * time.Millisecond}
	t0 := time.Now()
	g := p.analyze(context.Background(), opt, 10)
	took := time.Since(t0)
	if g.Verdict != VerdictError || !strings.Contains(g.Summary, "no verdict within") {
		t.Errorf("hung gate: verdict %s (%s), want error: no verdict", g.Verdict, g.Summary)
	}
	if took < 500*time.Millisecond || took > 3*time.Second {
		t.Errorf("hung gate killed after %s, want after warmup+window+grace (500ms)", took)
	}
	if gateGrace > 5*time.Minute || preflightTimeout > 5*time.Minute {
		t.Errorf("grace %s, preflight timeout %s: a hung gate would hold the release too long", gateGrace, preflightTimeout)
	}
}

// TestPreflightSaysWhy: a blocked preflight's reasons reach the stage's
// error, and the gate is asked about the service's alerts outside the
// canary track and about the stable's budget.
func TestPreflightSaysWhy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	args := filepath.Join(dir, "args")
	gate := fakeGate(t, `printf '%s\n' "$@" > `+args+`
echo 'preflight: BLOCKED (exit 2): do not deploy'
echo '  blocked: 1 SLO alert(s) firing: ALERTS{alertname="AvailabilityFastBurn",track="stable"}'
echo '  ok: something fine'
exit 2`)
	var out bytes.Buffer
	p := &Pipeline{Out: &out, Err: &out}
	_, err := p.preflight(context.Background(), Options{GateBinary: gate})
	if err == nil || !strings.Contains(err.Error(), `exit 2: preflight: BLOCKED (exit 2): do not deploy: 1 SLO alert(s) firing: ALERTS{alertname="AvailabilityFastBurn",track="stable"}`) ||
		strings.Contains(err.Error(), "something fine") {
		t.Errorf("error %v: want the blocked reason, not the notes", err)
	}
	b, rerr := os.ReadFile(args)
	if rerr != nil {
		t.Fatal(rerr)
	}
	for _, want := range []string{"--selector\n" + PreflightSelector + "\n", "--budget-query\n" + stableBudgetQuery + "\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("gate preflight args lack %q:\n%s", want, b)
		}
	}
}
