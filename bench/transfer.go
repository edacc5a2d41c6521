package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// transferRun is one `shortener export` or `shortener import` process: how
// long it took, its peak resident set (getrusage's ru_maxrss, exact for a
// child that has exited) and, for an import, its report's counts.
type transferRun struct {
	Took                      time.Duration
	CPU                       time.Duration // user + system, of the process alone
	PeakRSS                   int64         // bytes
	Bytes                     int64         // written by an export
	Created, Skipped, Refused int64         // an import's report
}

// TransferResult holds the export and import of the small and the large
// database, the small one being the reference the large one's memory is
// compared with: bounded memory means the 1M-row peak is about the 10k-row
// peak, whatever absolute size the runtime starts at on this machine.
type TransferResult struct {
	SmallRows, LargeRows int
	Export, Import       map[string]transferRun // keys "small", "large"; Import also "again" (the large file a second time)
	ExportCSV            transferRun            // the large database as CSV
}

// importReport matches the last line `shortener import` prints.
var importReport = regexp.MustCompile(`(\d+) created, (\d+) skipped \(already present\), (\d+) refused`)

// runTransferCommand runs bin with args, stdout into out (or discarded when
// out is ""), and measures it.
func runTransferCommand(ctx context.Context, bin, out string, args ...string) (transferRun, []byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout bytes.Buffer
	var file *os.File
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return transferRun{}, nil, fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		file = f
		cmd.Stdout = f
	} else {
		cmd.Stdout = &stdout
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return transferRun{}, nil, fmt.Errorf("bench: %s %s: %w", filepath.Base(bin), args[0], err)
	}
	peak := watchPeakRSS(cmd.Process.Pid)
	err := cmd.Wait()
	took := time.Since(start)
	if err != nil {
		return transferRun{}, nil, fmt.Errorf("bench: %s %s: %w: %s", filepath.Base(bin), args[0], err, bytes.TrimSpace(stderr.Bytes()))
	}
	r := transferRun{Took: took, PeakRSS: peak()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if file != nil {
		st, err := file.Stat()
		if err != nil {
			return transferRun{}, nil, fmt.Errorf("bench: %w", err)
		}
		r.Bytes = st.Size()
	}
	return r, stdout.Bytes(), nil
}

// watchPeakRSS samples the VmHWM of pid every 10 ms until the returned
// function is called after the process ended, which returns the last
// sample: the peak up to at most 10 ms before the end. (The rusage of
// wait4 cannot be used: Go starts a child with vfork semantics, and Linux
// carries the parent's own high-water mark into the child's ru_maxrss at
// exec, so every command "peaked" at the harness's size, 530 MB in a full
// run.)
func watchPeakRSS(pid int) func() int64 {
	var peak atomic.Int64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if rss, err := peakRSS(pid); err == nil && rss > peak.Load() {
				peak.Store(rss)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		<-stopped
		return peak.Load()
	}
}

// importFile runs `shortener import` of file into db and reads its report.
func importFile(ctx context.Context, bin, db, file string) (transferRun, error) {
	r, out, err := runTransferCommand(ctx, bin, "", "import", "--db", db, file)
	if err != nil {
		return r, err
	}
	m := importReport.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("bench: import %s: no report line in %q", file, tail(out, 500))
	}
	for i, dst := range []*int64{&r.Created, &r.Skipped, &r.Refused} {
		if *dst, err = strconv.ParseInt(string(m[i+1]), 10, 64); err != nil {
			return r, fmt.Errorf("bench: import report %q: %w", m[0], err)
		}
	}
	return r, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// measureTransfer exports the small and the large database through the
// shortener's own commands, imports each file into a new database, and
// imports the large file once more, which must change nothing. Every
// import must account for every row: all created the first time, all
// skipped the second.
func measureTransfer(ctx context.Context, bin, dir, smallDB, largeDB string, smallRows, largeRows int) (*TransferResult, error) {
	res := &TransferResult{SmallRows: smallRows, LargeRows: largeRows, Export: map[string]transferRun{}, Import: map[string]transferRun{}}
	for _, c := range []struct {
		name, db string
		rows     int
	}{{"small", smallDB, smallRows}, {"large", largeDB, largeRows}} {
		file := filepath.Join(dir, "export-"+c.name+".jsonl")
		ex, _, err := runTransferCommand(ctx, bin, file, "export", "--db", c.db, "--format", "jsonl")
		if err != nil {
			return nil, err
		}
		res.Export[c.name] = ex
		target := filepath.Join(dir, "import-"+c.name+".db")
		im, err := importFile(ctx, bin, target, file)
		if err != nil {
			return nil, err
		}
		if im.Created != int64(c.rows) || im.Skipped != 0 || im.Refused != 0 {
			return nil, fmt.Errorf("bench: import of %d exported links: %d created, %d skipped, %d refused; want all created", c.rows, im.Created, im.Skipped, im.Refused)
		}
		res.Import[c.name] = im
		if c.name != "large" {
			continue
		}
		again, err := importFile(ctx, bin, target, file)
		if err != nil {
			return nil, err
		}
		if again.Created != 0 || again.Skipped != int64(c.rows) || again.Refused != 0 {
			return nil, fmt.Errorf("bench: second import of %d links: %d created, %d skipped, %d refused; want all skipped", c.rows, again.Created, again.Skipped, again.Refused)
		}
		res.Import["again"] = again
		if res.ExportCSV, _, err = runTransferCommand(ctx, bin, filepath.Join(dir, "export-large.csv"), "export", "--db", c.db, "--format", "csv"); err != nil {
			return nil, err
		}
		for _, f := range []string{file, filepath.Join(dir, "export-large.csv")} {
			_ = os.Remove(f) // hundreds of MB; the run's temp dir goes too
		}
	}
	return res, nil
}

// transferFigures are the table rows of a TransferResult.
func transferFigures(t *TransferResult) []Figure {
	if t == nil {
		return nil
	}
	large := strconv.Itoa(t.LargeRows)
	if t.LargeRows%1_000_000 == 0 {
		large = strconv.Itoa(t.LargeRows/1_000_000) + "M"
	}
	// CPU time says what the command costs when other work shares the
	// cores and stretches the wall time.
	rowsPerSec := func(r transferRun, rows int) string {
		return fmt.Sprintf("%s (%.0f rows/s), CPU %s (%.0f rows per CPU-second)", r.Took.Round(100*time.Millisecond), float64(rows)/r.Took.Seconds(),
			r.CPU.Round(100*time.Millisecond), float64(rows)/r.CPU.Seconds())
	}
	ratio := func(num, den int64) float64 {
		if den == 0 {
			return 0
		}
		return float64(num) / float64(den)
	}
	const bounded = 1.5 // peak of the large run within 1.5 × the small run's
	ex, im := t.Export["large"], t.Import["large"]
	exRatio, imRatio := ratio(ex.PeakRSS, t.Export["small"].PeakRSS), ratio(im.PeakRSS, t.Import["small"].PeakRSS)
	again := t.Import["again"]
	return []Figure{
		{Key: "export_large_time", Name: "shortener export, " + large + " links, JSON lines", Value: ex.Took.Seconds(), Unit: "s", Text: rowsPerSec(ex, t.LargeRows) + ", " + mib(ex.Bytes)},
		{Key: "export_large_rss", Name: "export peak RSS, " + large + " links (ratio: to the export of " + strconv.Itoa(t.SmallRows) + ")", Value: float64(ex.PeakRSS), Unit: "bytes", Text: mb(ex.PeakRSS), Ratio: exRatio, Target: "≤ 1.5 × the small export's", Met: boolp(exRatio <= bounded)},
		{Key: "export_large_csv_rss", Name: "export peak RSS, " + large + " links, CSV", Value: float64(t.ExportCSV.PeakRSS), Unit: "bytes", Text: mb(t.ExportCSV.PeakRSS) + ", " + rowsPerSec(t.ExportCSV, t.LargeRows)},
		{Key: "import_large_time", Name: "shortener import, " + large + " links into a new database", Value: im.Took.Seconds(), Unit: "s", Text: rowsPerSec(im, t.LargeRows) + fmt.Sprintf(", %d created", im.Created)},
		{Key: "import_large_rss", Name: "import peak RSS, " + large + " links (ratio: to the import of " + strconv.Itoa(t.SmallRows) + ")", Value: float64(im.PeakRSS), Unit: "bytes", Text: mb(im.PeakRSS), Ratio: imRatio, Target: "≤ 1.5 × the small import's", Met: boolp(imRatio <= bounded)},
		{Key: "import_again", Name: "the same import again (idempotent)", Value: float64(again.Skipped), Unit: "rows", Text: fmt.Sprintf("%d skipped, %d created in %s, peak RSS %s", again.Skipped, again.Created, rowsPerSec(again, t.LargeRows), mb(again.PeakRSS)), Target: "all skipped", Met: boolp(again.Created == 0 && again.Skipped == int64(t.LargeRows))},
	}
}
