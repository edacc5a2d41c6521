package gate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/obsshort/shortener/internal/promclient"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
)

// Report is the end result, as printed (text or JSON), appended to the
// GitHub step summary and pushed to a Pushgateway.
type Report struct {
	Outcome        Outcome       `json:"outcome"`
	ExitCode       int           `json:"exit_code"`
	DryRun         bool          `json:"dry_run"`
	Reason         string        `json:"reason"`
	ElapsedSeconds float64       `json:"elapsed_seconds"`
	Alpha          float64       `json:"alpha"`
	AlphaPerCheck  float64       `json:"alpha_per_check"`
	Prometheus     string        `json:"prometheus"`
	CanarySel      string        `json:"canary_selector"`
	BaselineSel    string        `json:"baseline_selector"`
	ExpectedShare  float64       `json:"expected_canary_share,omitempty"`
	ObservedShare  float64       `json:"observed_canary_share"`
	Canary         Arm           `json:"canary"`
	Baseline       Arm           `json:"baseline"`
	Checks         []CheckResult `json:"checks"`
	Routes         []RouteResult `json:"routes,omitempty"`
	// History is one point per poll, for the HTML report's charts.
	History []HistoryPoint `json:"history,omitempty"`
}

// HistoryPoint is what one poll saw and concluded.
type HistoryPoint struct {
	ElapsedSeconds float64            `json:"t"`
	CanaryErrors   float64            `json:"canary_error_ratio"`
	BaselineErrors float64            `json:"baseline_error_ratio"`
	Evidence       map[string]float64 `json:"evidence"`      // Bayes factor for a regression, by check
	PassEvidence   map[string]float64 `json:"pass_evidence"` // evidence of no worse, by check
}

func historyPoint(v Verdict) HistoryPoint {
	h := HistoryPoint{ElapsedSeconds: v.Elapsed.Seconds(), CanaryErrors: ratio(v.Canary.Errors, v.Canary.Requests), BaselineErrors: ratio(v.Baseline.Errors, v.Baseline.Requests),
		Evidence: map[string]float64{}, PassEvidence: map[string]float64{}}
	for _, c := range v.Checks {
		if c.Kind == "sequential" || c.Kind == "guardrail" {
			h.Evidence[c.Name] = c.Evidence
			if c.PassThreshold > 0 {
				h.PassEvidence[c.Name] = c.PassEvidence
			}
		}
	}
	return h
}

func newReport(cfg Config, v Verdict, alphaCheck float64, dryRun bool) Report {
	code := v.Outcome.ExitCode()
	return Report{
		Outcome: v.Outcome, ExitCode: code, DryRun: dryRun, Reason: v.Reason,
		ElapsedSeconds: v.Elapsed.Seconds(), Alpha: cfg.Analysis.Alpha, AlphaPerCheck: alphaCheck,
		Prometheus: promclient.RedactURL(cfg.Prometheus.URL), CanarySel: normalizeSelector(cfg.Selectors.Canary), BaselineSel: normalizeSelector(cfg.Selectors.Baseline),
		ExpectedShare: cfg.Analysis.CanaryShare, ObservedShare: v.Share,
		Canary: v.Canary, Baseline: v.Baseline, Checks: v.Checks, Routes: v.Routes,
	}
}

func (r Report) headline() string {
	s := fmt.Sprintf("canary gate: %s (exit %d)", strings.ToUpper(string(r.Outcome)), r.ExitCode)
	if r.DryRun {
		s += " [dry run: exits 0]"
	}
	return s
}

func (r Report) write(w io.Writer, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintln(w, r.headline())
	fmt.Fprintf(w, "reason: %s\n", r.Reason)
	fmt.Fprintf(w, "analysed %s on %s: canary {%s} vs baseline {%s}, alpha %g (%.4g per check)\n\n",
		time.Duration(r.ElapsedSeconds*float64(time.Second)).Round(time.Second), r.Prometheus, r.CanarySel, r.BaselineSel, r.Alpha, r.AlphaPerCheck)
	if len(r.Checks) == 0 {
		fmt.Fprintln(w, "no poll of Prometheus succeeded: the counts are unknown (not zero)")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ARM\tREQUESTS\t5XX\tSLOW\tDATA")
	for _, a := range []struct {
		name string
		a    Arm
	}{{"canary", r.Canary}, {"baseline", r.Baseline}} {
		data := "ok"
		if a.a.Missing {
			data = "no series"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", a.name, a.a.Requests, a.a.Errors, a.a.Slow, data)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tREGRESSION (BF)\tFAILS AT\tNO WORSE\tPASSES AT\tDETAIL")
	for _, c := range r.Checks {
		ev, th, pe, pt := "-", "-", "-", "-"
		if c.Kind == "sequential" || c.Kind == "guardrail" {
			if c.Status != "waiting" && c.Status != "off" {
				ev = fmtBF(c.Evidence)
			}
			th = fmtBF(c.Threshold)
			if c.PassThreshold > 0 {
				pe, pt = fmtBF(c.PassEvidence), fmtBF(c.PassThreshold)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Status, ev, th, pe, pt, c.Detail)
	}
	return tw.Flush()
}

// appendSummary appends a markdown summary to the file GitHub Actions
// shows on the run page ($GITHUB_STEP_SUMMARY).
func (r Report) appendSummary(path string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	var b strings.Builder
	icon := map[Outcome]string{Pass: "✅", Fail: "❌", Inconclusive: "⚠️"}[r.Outcome]
	fmt.Fprintf(&b, "### %s %s\n\n%s\n\n", icon, r.headline(), r.Reason)
	fmt.Fprintf(&b, "| arm | requests | 5xx | slow |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| canary `%s` | %d | %d | %d |\n", r.CanarySel, r.Canary.Requests, r.Canary.Errors, r.Canary.Slow)
	fmt.Fprintf(&b, "| baseline `%s` | %d | %d | %d |\n\n", r.BaselineSel, r.Baseline.Requests, r.Baseline.Errors, r.Baseline.Slow)
	fmt.Fprintf(&b, "| check | status | evidence (BF) | fails at | detail |\n|---|---|---:|---:|---|\n")
	for _, c := range r.Checks {
		ev, th := "", ""
		if (c.Kind == "sequential" || c.Kind == "guardrail") && c.Status != "waiting" {
			ev, th = fmtBF(c.Evidence), fmtBF(c.Threshold)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", c.Name, c.Status, ev, th, strings.ReplaceAll(c.Detail, "|", "\\|"))
	}
	b.WriteString("\n")
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pushTimeout bounds the push of the decision: a dead Pushgateway delays
// the exit by at most this much, and never changes the verdict.
const pushTimeout = 3 * time.Second

// push sends the decision, evidence and counts to a Pushgateway so Grafana
// can show every gate run.
func (r Report) push(ctx context.Context, pg Pushgateway) error {
	ctx, cancel := context.WithTimeout(ctx, pushTimeout)
	defer cancel()
	reg := prometheus.NewRegistry()
	decision := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "canary_gate_decision", Help: "1 for the outcome of the last gate run, 0 for the others."}, []string{"outcome"})
	for _, o := range []Outcome{Pass, Fail, Inconclusive} {
		val := 0.0
		if o == r.Outcome {
			val = 1
		}
		decision.WithLabelValues(string(o)).Set(val)
	}
	exit := prometheus.NewGauge(prometheus.GaugeOpts{Name: "canary_gate_exit_code", Help: "Exit code of the last gate run (0 pass, 1 fail, 2 inconclusive)."})
	exit.Set(float64(r.ExitCode))
	dur := prometheus.NewGauge(prometheus.GaugeOpts{Name: "canary_gate_analysis_duration_seconds", Help: "How long the last analysis ran."})
	dur.Set(r.ElapsedSeconds)
	evidence := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "canary_gate_evidence_bayes_factor", Help: "Bayes factor for a regression per check at the end of the last run."}, []string{"check"})
	threshold := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "canary_gate_evidence_threshold", Help: "Bayes factor at which a check fails (1/alpha per check)."}, []string{"check"})
	for _, c := range r.Checks {
		if c.Kind == "sequential" || c.Kind == "guardrail" {
			evidence.WithLabelValues(c.Name).Set(c.Evidence)
			threshold.WithLabelValues(c.Name).Set(c.Threshold)
		}
	}
	counts := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "canary_gate_requests", Help: "Requests counted per arm and kind during the last analysis."}, []string{"arm", "kind"})
	for _, a := range []struct {
		name string
		a    Arm
	}{{"canary", r.Canary}, {"baseline", r.Baseline}} {
		counts.WithLabelValues(a.name, "total").Set(float64(a.a.Requests))
		counts.WithLabelValues(a.name, "5xx").Set(float64(a.a.Errors))
		counts.WithLabelValues(a.name, "slow").Set(float64(a.a.Slow))
	}
	last := prometheus.NewGauge(prometheus.GaugeOpts{Name: "canary_gate_last_run_timestamp_seconds", Help: "When the last gate run ended."})
	last.SetToCurrentTime()
	reg.MustRegister(decision, exit, dur, evidence, threshold, counts, last)
	job := pg.Job
	if job == "" {
		job = "canary_gate"
	}
	// The client's own timeout also covers a body that never ends.
	hc := &http.Client{Timeout: pushTimeout}
	return push.New(pg.URL, job).Client(hc).Gatherer(reg).PushContext(ctx)
}
