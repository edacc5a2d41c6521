package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/obsshort/shortener/internal/testenv"
)

// TestBrowserShortensAndFollows drives a real headless Chromium: open the
// page, paste a URL, submit, read the short link from the page, follow it and
// land on the target.
func TestBrowserShortensAndFollows(t *testing.T) {
	// The target the short link must lead to, on its own server.
	target := newTargetServer(t)
	ts := newTestServer(t, nil)
	ctx := newBrowser(t)
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		browserStep(t, ctx, what, actions...)
	}
	read := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		return browserRead(t, ctx, what, a)
	}

	step("open page and shorten",
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("url")),
		chromedp.SendKeys(chromedp.ID("url"), target+"/landing?from=browser"),
		chromedp.Submit(chromedp.ID("url")),
		chromedp.WaitVisible(chromedp.ID("short-url")),
	)
	shortURL := read("short link", chromedp.Text(chromedp.ID("short-url")))
	shownTarget := read("target", chromedp.Text(chromedp.ID("target-url")))
	history := read("history", chromedp.Text(chromedp.ID("history")))
	// The QR image loads after the page; give it a moment.
	var qrWidth int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(function(i){return i.complete ? i.naturalWidth : 0})(document.querySelector("img.qr"))`))
		if err != nil {
			t.Fatalf("qr width: %v", err)
		}
		if qrWidth = w; qrWidth > 0 {
			break
		}
	}
	if !strings.HasPrefix(shortURL, ts.URL+"/") {
		t.Fatalf("short link %q is not under %s", shortURL, ts.URL)
	}
	if shownTarget != target+"/landing?from=browser" {
		t.Fatalf("page shows target %q", shownTarget)
	}
	if !strings.Contains(history, shortURL) {
		t.Fatalf("history list %q lacks the new link", history)
	}
	if qrWidth == 0 {
		t.Fatalf("QR code image did not load")
	}

	step("follow the short link",
		chromedp.Navigate(shortURL),
		chromedp.WaitVisible(chromedp.ID("landed")),
	)
	landed := read("location", chromedp.Location())
	body := read("landing text", chromedp.Text(chromedp.ID("landed")))
	if landed != target+"/landing?from=browser" || body != "you arrived" {
		t.Fatalf("followed to %q (%q), want the target", landed, body)
	}

	// An invalid URL shows its error next to the field, without losing input.
	step("submit invalid url",
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("url")),
		chromedp.SendKeys(chromedp.ID("url"), "javascript:alert(1)"),
		chromedp.Submit(chromedp.ID("url")),
		chromedp.WaitVisible(chromedp.ID("url-error")),
	)
	errText := read("error text", chromedp.Text(chromedp.ID("url-error")))
	kept := read("kept input", chromedp.Value(chromedp.ID("url")))
	if !strings.Contains(errText, "only http and https") || kept != "javascript:alert(1)" {
		t.Fatalf("error %q, kept input %q", errText, kept)
	}
}

// newBrowser starts a headless Chromium for the test (60 s at most) and
// returns its context.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	chromium := testenv.RequireTool(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(390, 844), // a phone-sized viewport
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// browserStep runs actions, failing the test with what on error.
func browserStep(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// browserRead runs a, failing the test with what on error.
func browserRead[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func newTargetServer(t *testing.T) string {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<!doctype html><title>target</title><p id="landed">you arrived</p>`))
	})}
	addr := testenv.FreeAddr(t)
	ln, err := listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + addr
}
