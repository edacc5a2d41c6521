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
	Started time.Time                `json:"started"`
	Elapsed string                   `json:"elapsed"`
	Machine Machine                  `json:"machine"`
	Setup   []string                 `json:"setup"`
	Figures []Figure                 `json:"figures"`
	Rounds  []RoundResult            `json:"rounds"`
	Latency map[string]latencyResult `json:"latency"`
	Creates createResult             `json:"creates"`
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
	fmt.Fprintf(&b, "Run %s on %d × %s, %s, %s (took %s).\n\n",
		r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Machine.CPUs, r.Machine.CPUModel, r.Machine.GoVersion, r.Machine.Kernel, r.Elapsed)
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
