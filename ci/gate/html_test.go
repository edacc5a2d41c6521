package gate

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/obsshort/shortener/internal/testenv"
)

// TestHTMLReportRendersInChromium writes the report of a real engine run
// (a canary with a latency regression, simulated polls) and opens it in
// headless Chromium: the verdict sentence is there, and every chart has
// drawn lines with real extent on the page.
func TestHTMLReportRendersInChromium(t *testing.T) {
	chromium := testenv.RequireTool(t, "chromium")
	cfg := DefaultConfig()
	e := NewEngine(cfg)
	canary := traffic{req: 20, err: 0.0025, slow: 0.4}
	stable := traffic{req: 180, err: 0.0025, slow: 0.1}
	var v Verdict
	var history []HistoryPoint
	for i := 1; i <= 300 && v.Outcome != Fail; i++ {
		v = e.Evaluate(Observation{Elapsed: time.Duration(i) * time.Second, Canary: canary.armAt(i), Baseline: stable.armAt(i)})
		history = append(history, historyPoint(v))
	}
	if v.Outcome != Fail {
		t.Fatalf("want a failed analysis to report, got %s", v.Outcome)
	}
	rep := newReport(cfg, v, e.AlphaPerCheck(), false)
	rep.History = history
	path := filepath.Join(t.TempDir(), "report.html")
	if err := rep.writeHTMLFile(path); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte("<script")) || bytes.Contains(raw, []byte(" src=")) || bytes.Contains(raw, []byte(" href=")) {
		t.Error("the report must be self-contained: no scripts, nothing fetched")
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+path), chromedp.WaitVisible(chromedp.ID("verdict"))); err != nil {
		t.Fatalf("open the report: %v", err)
	}
	verdict, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("verdict")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(verdict, "FAIL: the latency check") {
		t.Errorf("verdict sentence %q", verdict)
	}
	for _, id := range []string{"chart-errors", "chart-evidence", "chart-latency"} {
		// every polyline of the chart: how many, and the smallest extent
		// of any of them on the page (a line that did not render has none)
		js := `(function(){var ls=document.querySelectorAll("#` + id + ` polyline.series");var m=1e9;for(var i=0;i<ls.length;i++){var r=ls[i].getBoundingClientRect();m=Math.min(m,Math.max(r.width,r.height));}return [ls.length, ls.length?m:0];})()`
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](js))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if got[0] < 2 || got[1] < 10 {
			t.Errorf("%s: %v lines, smallest extent %vpx; want at least two drawn lines", id, got[0], got[1])
		}
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#routes tr").length`))
	if err != nil || rows < 3 {
		t.Errorf("route table: %d rows (%v), want a header and both routes", rows, err)
	}
}
