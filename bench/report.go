package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Report is everything one run measured; it is written as results.json and
// rendered as the markdown table of results.md.
type Report struct {
	Started time.Time `json:"started"`
	Elapsed string    `json:"elapsed"`
	Machine Machine   `json:"machine"`
	// Commit is the commit measured (short hash, "+dirty" with
	// uncommitted changes in the working tree).
	Commit string `json:"commit"`
	// LoadStart and LoadEnd are the 1-minute load averages when the run
	// began and ended: other work on the machine.
	LoadStart string                   `json:"load_start"`
	LoadEnd   string                   `json:"load_end"`
	Setup     []string                 `json:"setup"`
	Figures   []Figure                 `json:"figures"`
	Rounds    []RoundResult            `json:"rounds"`
	Latency   map[string]latencyResult `json:"latency"`
	Creates   createResult             `json:"creates"`
	// PGCreates is the durable creation run on PostgreSQL;
	// PGCreateRounds compare creations with pgbench running the store's
	// INSERT at the same concurrency on the same server, back to back.
	PGCreates      createResult    `json:"creates_postgres"`
	PGCreateRounds []pgCreateRound `json:"creates_postgres_vs_pgbench"`
	// Transfer is shortener export and import of the small and the large
	// database (bench/transfer.go).
	Transfer *TransferResult `json:"transfer,omitempty"`
	Notes    []string        `json:"notes,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs      int    `json:"nproc"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
	Kernel    string `json:"kernel"`
	Wrk       string `json:"wrk"`
}

// RoundResult holds one round of closed-loop throughput runs, by target.
type RoundResult map[string]wrkResult

// Figure is one row of the table. Ratio is against the same-run baseline
// (0 when a ratio makes no sense); Met is nil when there is no target.
type Figure struct {
	Key    string  `json:"key"`
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Text   string  `json:"text"`
	Ratio  float64 `json:"ratio_to_baseline,omitempty"`
	Target string  `json:"target,omitempty"`
	Met    *bool   `json:"met,omitempty"`
}

// Markdown renders the machine, the setup and the table.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s of commit %s on %d × %s, %s, %s (took %s); load average %s at the start, %s at the end.\n\n",
		r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Commit, r.Machine.CPUs, r.Machine.CPUModel, r.Machine.GoVersion, r.Machine.Kernel, r.Elapsed,
		r.LoadStart, r.LoadEnd)
	b.WriteString("| figure | value | ratio to baseline | target | met? |\n|---|---:|---:|---|:---:|\n")
	for _, f := range r.Figures {
		ratio := ""
		if f.Ratio != 0 {
			ratio = fmt.Sprintf("%.2f", f.Ratio)
		}
		met := ""
		if f.Met != nil {
			met = map[bool]string{true: "yes", false: "**no**"}[*f.Met]
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", f.Name, f.Text, ratio, f.Target, met)
	}
	b.WriteString("\nSetup:\n")
	for _, s := range r.Setup {
		fmt.Fprintf(&b, "- %s\n", s)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, s := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	}
	return b.String()
}

// write saves results.json and results.md in dir.
func (r *Report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write results: encode: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(r.Markdown()), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

func boolp(b bool) *bool { return &b }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func mib(bytes int64) string { return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20)) }

// historyFigures are the figures of a history row, in its columns.
var historyFigures = []string{"full_rps", "telemetry_cost", "p99", "p999", "scale", "scale_hot", "rss_large",
	"cpu_full", "cpu_telemetry_cost", "cpu_scale", "cpu_scale_hot"}

// historyHeader is the header of the history table in bench/README.md.
const historyHeader = "| run (UTC) | commit | load avg | full / baseline | telemetry cost | p99 | p99.9 | 1M / 10k | 1M stored / 10k | RSS 1M | CPU: full / baseline | CPU: telemetry cost | CPU: 1M / 10k | CPU: 1M stored / 10k |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"

// HistoryRow renders the run as one row of the history table: each
// figure with a mark when it misses its target, "–" when not measured.
func (r *Report) HistoryRow() string {
	byKey := map[string]Figure{}
	for _, f := range r.Figures {
		byKey[f.Key] = f
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| %s | %s | %s–%s |", r.Started.UTC().Format("2006-01-02 15:04"), r.Commit, r.LoadStart, r.LoadEnd)
	for _, k := range historyFigures {
		f, ok := byKey[k]
		if !ok {
			b.WriteString(" – |")
			continue
		}
		// Throughput and CPU per request count as ratios to the baseline;
		// the rest as measured.
		if f.Unit == "req/s" || (f.Unit == "s" && strings.HasPrefix(k, "cpu_")) {
			fmt.Fprintf(&b, " %.2f", f.Ratio)
		} else {
			b.WriteString(" " + f.Text)
		}
		if f.Met != nil && !*f.Met {
			b.WriteString(" ✗")
		}
		b.WriteString(" |")
	}
	b.WriteString("\n")
	return b.String()
}

// History markers in bench/README.md: rows go just before the end marker.
const (
	historyBegin = "<!-- history:begin -->"
	historyEnd   = "<!-- history:end -->"
)

// RecordHistory adds the run's row to the history table in the file at
// path (bench/README.md), between its markers.
func (r *Report) RecordHistory(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("record history: %w", err)
	}
	text := string(b)
	begin, end := strings.Index(text, historyBegin), strings.Index(text, historyEnd)
	if begin < 0 || end < begin {
		return fmt.Errorf("record history: %s has no %s ... %s section", path, historyBegin, historyEnd)
	}
	table := text[begin+len(historyBegin) : end]
	if !strings.Contains(table, "| run (UTC) |") {
		table = "\n" + historyHeader
	}
	table += r.HistoryRow()
	return os.WriteFile(path, []byte(text[:begin+len(historyBegin)]+table+text[end:]), 0o644)
}
