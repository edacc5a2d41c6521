package preview

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/chromedp/chromedp"
)

// Seen is what a browser shows of one panel of a preview page.
type Seen struct {
	Title string `json:"title"`
	Type  string `json:"type"`
	State string `json:"state"`
	// Drawn says the panel's chart has visible marks of its kind: a
	// non-empty path, a stat value, a table row, a bar row, a heatmap cell,
	// a state band.
	Drawn bool `json:"drawn"`
	// Shown is the text of a "No data" or error box, if the panel has one.
	Shown string `json:"shown"`
}

// OK reports whether the panel shows data and no error.
func (s Seen) OK() bool { return s.State == StateOK && s.Drawn && s.Shown == "" }

// inspectJS lists the panels with what they draw. It looks at the page as
// laid out, not at the data behind it: a chart of zero size or without
// marks counts as not drawn.
const inspectJS = `Array.from(document.querySelectorAll('section.panel')).map(function (p) {
  var marks = {timeseries: 'svg path', stat: '.stat-value', table: 'tbody tr', bargauge: '.barrow', heatmap: 'rect.cell', 'state-timeline': 'rect.state'};
  var box = p.getBoundingClientRect();
  var els = Array.from(p.querySelectorAll('.viz ' + (marks[p.dataset.type] || 'svg path')));
  var visible = els.some(function (e) {
    var b = e.getBoundingClientRect(), tag = e.tagName.toLowerCase();
    if (tag === 'path') { return b.width > 0 && (e.getAttribute('d') || '') !== ''; }
    if (e.classList.contains('stat-value')) { return b.width > 0 && e.textContent.trim() !== ''; }
    return b.width > 0 && b.height > 0;
  });
  var box2 = p.querySelector('.error, .nodata');
  return {title: p.dataset.title, type: p.dataset.type, state: p.dataset.state,
    drawn: box.width > 20 && box.height > 20 && visible, shown: box2 ? box2.textContent : ''};
})`

// Browser opens preview pages in a headless Chromium.
type Browser struct {
	ctx    context.Context
	cancel func()
}

// NewBrowser starts Chromium (its path; "" lets chromedp look for it) with
// a desktop-sized window. profileDir holds its profile.
func NewBrowser(ctx context.Context, chromium, profileDir string) (*Browser, error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(profileDir),
		chromedp.WindowSize(1600, 1000),
	)
	if chromium != "" {
		opts = append(opts, chromedp.ExecPath(chromium))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancel := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		cancel()
		cancelAlloc()
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	return &Browser{ctx: bctx, cancel: func() { cancel(); cancelAlloc() }}, nil
}

// Close stops the browser.
func (b *Browser) Close() { b.cancel() }

// Inspect opens an HTML file and returns what each panel shows; with png
// set it also saves a screenshot of the whole page there.
func (b *Browser) Inspect(ctx context.Context, htmlFile, png string) ([]Seen, error) {
	abs, err := filepath.Abs(htmlFile)
	if err != nil {
		return nil, err
	}
	tctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	u := url.URL{Scheme: "file", Path: abs}
	if err := chromedp.Do(tctx, chromedp.Navigate(u.String()), chromedp.WaitVisible(chromedp.ID("summary"))); err != nil {
		return nil, fmt.Errorf("open %s: %w", htmlFile, err)
	}
	seen, err := chromedp.Run(tctx, chromedp.Evaluate[[]Seen](inspectJS))
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", htmlFile, err)
	}
	if png != "" {
		shot, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
		if err != nil {
			return seen, fmt.Errorf("screenshot of %s: %w", htmlFile, err)
		}
		if err := os.WriteFile(png, shot, 0o644); err != nil {
			return seen, err
		}
	}
	return seen, nil
}
