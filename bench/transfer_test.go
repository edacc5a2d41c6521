package bench

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/testenv"
)

// The export/import step with the real commands on small databases: every
// row comes back created, the second import skips them all, and each run's
// peak memory is measured.
func TestMeasureTransfer(t *testing.T) {
	bin := testenv.BuildBinary(t, "github.com/obsshort/shortener/app/cmd/shortener", "")
	dir := t.TempDir()
	ctx := context.Background()
	small, large := filepath.Join(dir, "small.db"), filepath.Join(dir, "large.db")
	for db, n := range map[string]int{small: 300, large: 3000} {
		if _, err := fillDB(ctx, db, n); err != nil {
			t.Fatal(err)
		}
	}
	res, err := measureTransfer(ctx, bin, dir, small, large, 300, 3000)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Import["large"]; got.Created != 3000 || got.PeakRSS <= 0 || got.Took <= 0 || got.CPU <= 0 {
		t.Errorf("large import = %+v; want 3000 created, a peak RSS, a duration and CPU time", got)
	}
	if got := res.Import["again"]; got.Skipped != 3000 || got.Created != 0 {
		t.Errorf("second import = %+v; want 3000 skipped", got)
	}
	for name, ex := range map[string]transferRun{"jsonl": res.Export["large"], "csv": res.ExportCSV} {
		// Each link is at least its code and URL: 20 bytes is well below.
		if ex.Bytes < 3000*20 || ex.PeakRSS <= 0 {
			t.Errorf("%s export = %+v; want 3000 rows written and a peak RSS", name, ex)
		}
	}
	figs := transferFigures(res)
	if len(figs) != 6 {
		t.Fatalf("%d figures, want 6", len(figs))
	}
	for _, f := range figs {
		if f.Value <= 0 || f.Text == "" {
			t.Errorf("figure %s = %+v; want a measured value", f.Key, f)
		}
	}
}

// The memory target fails when the large run's peak grows with the rows.
func TestTransferFiguresTarget(t *testing.T) {
	run := func(rss int64) transferRun { return transferRun{Took: time.Second, PeakRSS: rss, Bytes: 1} }
	res := &TransferResult{SmallRows: 10, LargeRows: 1_000_000,
		Export: map[string]transferRun{"small": run(20e6), "large": run(25e6)},
		Import: map[string]transferRun{"small": run(20e6), "large": run(90e6), "again": {Took: time.Second, Skipped: 1_000_000}},
	}
	met := map[string]bool{}
	for _, f := range transferFigures(res) {
		if f.Met != nil {
			met[f.Key] = *f.Met
		}
	}
	want := map[string]bool{"export_large_rss": true, "import_large_rss": false, "import_again": true}
	for k, v := range want {
		if got, ok := met[k]; !ok || got != v {
			t.Errorf("%s met = %v (present %v), want %v", k, got, ok, v)
		}
	}
}

// TestTransferPeakIsTheChilds: a small command run by a large process is
// measured at its own size, not the parent's (wait4's ru_maxrss carries the
// parent's high-water mark into a child started with vfork).
func TestTransferPeakIsTheChilds(t *testing.T) {
	ballast := make([]byte, 256<<20)
	for i := range ballast {
		ballast[i] = 1 // resident, so this process's peak is at least 256 MiB
	}
	r, _, err := runTransferCommand(context.Background(), "/bin/sleep", "", "0.3")
	if err != nil {
		t.Fatal(err)
	}
	if r.PeakRSS <= 0 || r.PeakRSS > 64<<20 {
		t.Errorf("peak RSS of sleep = %d bytes, want its own few MB (this process holds %d MiB)", r.PeakRSS, len(ballast)>>20)
	}
}
