package server_test

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestPreviewPage(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.create(t, `{"url":"https://example.com/a/<long>/path?q=1","alias":"pvw"}`)
	for range 4 {
		ts.do(t, "GET", "/pvw", "")
	}
	if err := ts.deps.Service.Visits.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	ts.clock.Advance(24 * time.Hour)
	ts.do(t, "GET", "/pvw", "") // today, not flushed yet
	resp, body := ts.do(t, "GET", "/pvw+", "")
	if resp.StatusCode != 200 {
		t.Fatalf("preview: %d", resp.StatusCode)
	}
	checkSecurityHeaders(t, "preview", resp.Header)
	for _, want := range []string{
		`<strong id="host">example.com</strong>`,
		`href="https://example.com/a/%3Clong%3E/path?q=1"`, // the stored (normalised) target
		`<span id="target-url">https://example.com/a/%3Clong%3E/path?q=1</span>`,
		`<dd id="visits">5</dd>`,
		`aria-label="5 visits in the last 30 days, at most 4 a day"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("preview lacks %s", want)
		}
	}
	bars := regexp.MustCompile(`<rect class="bar" x="(\d+)" y="(\d+)" width="8" height="(\d+)"><title>([^<]*)</title>`).FindAllStringSubmatch(body, -1)
	if len(bars) != 30 {
		t.Fatalf("%d bars, want 30", len(bars))
	}
	yesterday, today := bars[28], bars[29]
	if yesterday[3] != "78" || !strings.HasSuffix(yesterday[4], ": 4 visits") || today[3] != "19" || !strings.HasSuffix(today[4], ": 1 visit") || bars[0][3] != "0" {
		t.Fatalf("bars: yesterday %v, today %v, first %v", yesterday[1:], today[1:], bars[0][1:])
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "style=") {
		t.Fatal("the preview has inline script or style, which the CSP forbids")
	}

	ts.create(t, `{"url":"https://x.example/","alias":"pvgone"}`)
	ts.create(t, `{"url":"https://x.example/","alias":"pvoff"}`)
	ts.do(t, "DELETE", "/api/v1/links/pvgone", "", bearer...)
	ts.do(t, "PATCH", "/api/v1/links/pvoff", `{"disabled":true}`, bearer...)
	for path, want := range map[string]int{"/nothere+": 404, "/pvgone+": 410, "/pvoff+": 410} {
		resp, body := ts.do(t, "GET", path, "")
		if resp.StatusCode != want || strings.Contains(body, "x.example") {
			t.Errorf("%s: %d, want %d without the target", path, resp.StatusCode, want)
		}
	}
	// The preview does not count as a visit.
	if _, meta := ts.do(t, "GET", "/api/v1/links/pvw", ""); !strings.Contains(meta, `"visits":5`) {
		t.Fatalf("visits after previews: %s", meta)
	}
}
