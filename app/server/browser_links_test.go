package server_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// TestBrowserPasswordPreviewAndChart drives a real headless Chromium with
// JavaScript off: a password-protected link asks for its password in a
// plain form (a wrong one is refused on the page, the right one leads to
// the target); the preview page shows where a link goes, its visits chart
// is drawn (30 bars, the busiest day the tallest) and its button leads on.
// No page breaks the Content-Security-Policy (the browser would log it).
func TestBrowserPasswordPreviewAndChart(t *testing.T) {
	target := newTargetServer(t)
	ts := newTestServer(t, nil)
	ts.create(t, `{"url":"`+target+`/secret","alias":"locked","password":"open-sesame"}`)
	ts.create(t, `{"url":"`+target+`/open","alias":"plain"}`)
	for range 3 {
		ts.do(t, "GET", "/plain", "")
	}
	ctx := newBrowser(t)

	// Collect what the browser logs (CSP violations are logged as errors).
	var (
		mu       sync.Mutex
		messages []string
	)
	logCtx, stopLog := context.WithCancel(ctx)
	defer stopLog()
	console := chromedp.Console(logCtx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range console {
			if err != nil {
				return
			}
			mu.Lock()
			messages = append(messages, string(m.Type)+": "+m.Text)
			mu.Unlock()
		}
	}()
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("turn JavaScript off: %v", err)
	}

	browserStep(t, ctx, "open the protected link",
		chromedp.Navigate(ts.URL+"/locked"),
		chromedp.WaitVisible(chromedp.ID("password")),
	)
	if loc := browserRead(t, ctx, "location", chromedp.Location()); loc != ts.URL+"/locked" {
		t.Fatalf("the protected link went to %s", loc)
	}
	if html := browserRead(t, ctx, "page", chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(html, "/secret") {
		t.Fatal("the password page shows the target")
	}
	browserStep(t, ctx, "submit a wrong password",
		chromedp.SendKeys(chromedp.ID("password"), "not-it"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("password-error")),
	)
	if msg := browserRead(t, ctx, "error", chromedp.Text(chromedp.ID("password-error"))); !strings.Contains(msg, "wrong password") {
		t.Fatalf("after a wrong password the page says %q", msg)
	}
	browserStep(t, ctx, "submit the right password",
		chromedp.SendKeys(chromedp.ID("password"), "open-sesame"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("landed")),
	)
	if loc := browserRead(t, ctx, "location", chromedp.Location()); loc != target+"/secret" {
		t.Fatalf("the right password led to %s", loc)
	}

	browserStep(t, ctx, "open the preview page",
		chromedp.Navigate(ts.URL+"/plain+"),
		chromedp.WaitVisible(chromedp.ID("visits-chart")),
	)
	if got := browserRead(t, ctx, "target", chromedp.Text(chromedp.ID("target-url"))); got != target+"/open" {
		t.Fatalf("preview shows %q", got)
	}
	if got := browserRead(t, ctx, "visits", chromedp.Text(chromedp.ID("visits"))); got != "3" {
		t.Fatalf("preview counts %q visits", got)
	}
	bars := browserRead(t, ctx, "bars", chromedp.Nodes(chromedp.CSSAll("#visits-chart rect.bar")))
	if len(bars) != 30 {
		t.Fatalf("%d bars drawn, want 30", len(bars))
	}
	// Today's bar (the last) is drawn full height: the chart is laid out,
	// not just present in the markup.
	box := browserRead(t, ctx, "last bar", chromedp.Dimensions(chromedp.CSS("#visits-chart rect.bar:last-of-type")))
	if h, _ := strconv.Atoi(attr(bars[29].Attributes, "height")); h != 78 || box.Height < 40 {
		t.Fatalf("today's bar: height attribute %q, drawn %d px high", attr(bars[29].Attributes, "height"), box.Height)
	}
	browserStep(t, ctx, "continue from the preview",
		chromedp.Click(chromedp.ID("continue")),
		chromedp.WaitVisible(chromedp.ID("landed")),
	)
	if loc := browserRead(t, ctx, "location", chromedp.Location()); loc != target+"/open" {
		t.Fatalf("continue led to %s", loc)
	}
	// The home page, with scripts on again, for its copy button.
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false}); err != nil {
		t.Fatal(err)
	}
	browserStep(t, ctx, "open the preview of the protected link",
		chromedp.Navigate(ts.URL+"/locked+"),
		chromedp.WaitVisible(chromedp.ID("protected")),
	)
	if html := browserRead(t, ctx, "page", chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(html, "/secret") {
		t.Fatal("the preview of a protected link shows the target")
	}
	stopLog()
	<-done
	mu.Lock()
	defer mu.Unlock()
	for _, m := range messages {
		if strings.Contains(m, "Content Security Policy") || strings.Contains(m, "Content-Security-Policy") {
			t.Errorf("the browser logged a CSP violation: %s", m)
		}
	}
	t.Logf("%d console messages: %q", len(messages), messages)
}

// attr returns the value of name in a node's flat attribute list.
func attr(attrs []string, name string) string {
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i] == name {
			return attrs[i+1]
		}
	}
	return ""
}
