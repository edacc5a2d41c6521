package server_test

import (
	"fmt"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	goqr "github.com/piglig/go-qr"

	"github.com/obsshort/shortener/app/server"
	"github.com/obsshort/shortener/internal/testenv"
	"github.com/obsshort/shortener/telemetry"
)

const (
	secretTarget   = "https://secret.example/the/target?token=abc"
	secretPassword = "hunter2-correct"
)

func unlockForm(pw string) string { return url.Values{"password": {pw}}.Encode() }

var formType = []string{"Content-Type", "application/x-www-form-urlencoded"}

func TestProtectedLinkAnswers(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	ts := newTestServer(t, func(d *server.Deps) {
		d.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	created := ts.create(t, `{"url":"`+secretTarget+`","alias":"locked","password":"`+secretPassword+`"}`)
	if created["url"] != secretTarget || created["protected"] != true {
		t.Fatalf("the creator sees %v", created)
	}

	// Following it: the password page, 200, no Location, no target.
	resp, body := ts.do(t, "GET", "/locked", "")
	if resp.StatusCode != 200 || resp.Header.Get("Location") != "" || strings.Contains(body, "secret.example") ||
		!strings.Contains(body, `name="password"`) || !strings.Contains(body, `method="post"`) || !strings.Contains(body, `action="/locked"`) {
		t.Fatalf("GET protected: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	checkSecurityHeaders(t, "password page", resp.Header)
	if resp.Header.Get("Cache-Control") != "no-store" || strings.Contains(body, "<script") || strings.Contains(body, "style=") {
		t.Fatalf("password page: cache %q, or inline script/style", resp.Header.Get("Cache-Control"))
	}
	for _, tt := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"wrong password", unlockForm("guess-1234"), 403, "wrong password"},
		{"empty password", unlockForm(""), 400, "enter the link&#39;s password"},
		{"no field", "", 400, "enter the link"},
		{"malformed form", "%zz", 400, "could not be read"},
		{"huge form", "password=" + strings.Repeat("a", server.MaxBodyBytes+10), 413, "could not be read"},
	} {
		resp, b := ts.do(t, "POST", "/locked", tt.body, formType...)
		if resp.StatusCode != tt.status || !strings.Contains(b, tt.want) || resp.Header.Get("Location") != "" || strings.Contains(b, "secret.example") {
			t.Errorf("%s: %d %q, want %d saying %q without the target", tt.name, resp.StatusCode, resp.Header.Get("Location"), tt.status, tt.want)
		}
	}
	resp, _ = ts.do(t, "POST", "/locked", unlockForm(secretPassword), formType...)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != secretTarget || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("right password: %d %q %q", resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Cache-Control"))
	}
	for _, path := range []string{"/nothere", "/gone"} {
		if path == "/gone" {
			ts.create(t, `{"url":"https://g.example/","alias":"gone","password":"pw-12345"}`)
			if r, _ := ts.do(t, "DELETE", "/api/v1/links/gone", "", bearer...); r.StatusCode != 204 {
				t.Fatal(r.StatusCode)
			}
		}
		want := map[string]int{"/nothere": 404, "/gone": 410}[path]
		if resp, _ := ts.do(t, "POST", path, unlockForm("pw-12345"), formType...); resp.StatusCode != want {
			t.Errorf("POST %s: %d, want %d", path, resp.StatusCode, want)
		}
	}

	// The metadata and QR code do not reveal the target; the owner's key does.
	resp, body = ts.do(t, "GET", "/api/v1/links/locked", "")
	if resp.StatusCode != 200 || strings.Contains(body, "secret.example") || !strings.Contains(body, `"protected":true`) {
		t.Fatalf("public metadata: %d %s", resp.StatusCode, body)
	}
	if _, body = ts.do(t, "GET", "/api/v1/links/locked", "", bearer...); !strings.Contains(body, "secret.example") {
		t.Fatalf("metadata with the admin key lacks the target: %s", body)
	}
	resp, body = ts.do(t, "GET", "/locked/qr", "")
	img, err := png.Decode(strings.NewReader(body))
	if resp.StatusCode != 200 || err != nil {
		t.Fatalf("qr: %d %v", resp.StatusCode, err)
	}
	if text, err := goqr.Decode(img); err != nil || text != ts.URL+"/locked" {
		t.Fatalf("qr reads %q (%v), want the short URL only", text, err)
	}
	resp, body = ts.do(t, "GET", "/locked+", "")
	if resp.StatusCode != 200 || strings.Contains(body, "secret.example") || !strings.Contains(body, `id="protected"`) {
		t.Fatalf("preview of a protected link: %d\n%s", resp.StatusCode, body)
	}

	// The password is in no log line and no metric.
	if strings.Contains(logs.String(), secretPassword) || strings.Contains(logs.String(), "guess-1234") {
		t.Fatalf("a password reached the logs:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "/{code}") {
		t.Fatalf("the access log is empty, so this check proves nothing:\n%s", logs.String())
	}
	rec := httptest.NewRecorder()
	telemetry.MetricsHandler(ts.deps.Registry).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	metrics := rec.Body.String()
	if strings.Contains(metrics, secretPassword) || !metricLine(metrics, `http_route="/{code}"`, `http_request_method="POST"`, `http_response_status_code="403"`) {
		t.Fatalf("metrics hold the password, or lack the 403 series")
	}
	if !strings.Contains(metrics, `shortener_redirects_total{result="protected"} 1`) {
		t.Fatalf("the password page shown once is not counted as result=protected")
	}
}

// With 307 or 308 configured, the browser would post the form (password
// included) to the target: the unlock answers 303 instead.
func TestUnlockNeverReplaysThePassword(t *testing.T) {
	for _, status := range []int{301, 302, 307, 308} {
		ts := newTestServer(t, func(d *server.Deps) { d.RedirectStatus = status })
		ts.create(t, `{"url":"https://t.example/","alias":"lk0","password":"pw-12345"}`)
		want := status
		if status >= 307 {
			want = http.StatusSeeOther
		}
		resp, _ := ts.do(t, "POST", "/lk0", unlockForm("pw-12345"), formType...)
		if resp.StatusCode != want || resp.Header.Get("Location") != "https://t.example/" {
			t.Errorf("redirect status %d: unlock answers %d %q, want %d", status, resp.StatusCode, resp.Header.Get("Location"), want)
		}
		ts.create(t, `{"url":"https://o.example/","alias":"open"}`)
		if resp, _ := ts.do(t, "GET", "/open", ""); resp.StatusCode != status {
			t.Errorf("plain redirect %d, want %d", resp.StatusCode, status)
		}
	}
}

// Guesses are limited per client (an IPv6 /64 is one client) and per link.
func TestPasswordGuessLimits(t *testing.T) {
	// Requests come through a trusted proxy that names the client, so one
	// test can be many clients.
	trusted, _ := server.ParseTrustedProxies("127.0.0.1,::1")
	ts2 := newTestServer(t, func(d *server.Deps) { d.Guesses = server.NewGuessLimiter(trusted) })
	ts2.create(t, `{"url":"https://t.example/","alias":"lk1","password":"pw-12345"}`)
	ts2.create(t, `{"url":"https://t.example/","alias":"lk2","password":"pw-12345"}`)
	guess := func(client, code, pw string) *http.Response {
		resp, _ := ts2.do(t, "POST", "/"+code, unlockForm(pw), "Content-Type", "application/x-www-form-urlencoded", "X-Forwarded-For", client)
		return resp
	}
	// One IPv6 client hopping addresses inside its /64: 10 guesses, then 429.
	for i := range 10 {
		if r := guess(fmt.Sprintf("2001:db8:1:2::%x", i+1), "lk1", "wrong-pass"); r.StatusCode != 403 {
			t.Fatalf("guess %d: %d, want 403", i, r.StatusCode)
		}
	}
	r := guess("2001:db8:1:2:ffff::1", "lk1", "pw-12345")
	if r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("11th guess from the same /64: %d (Retry-After %q), want 429", r.StatusCode, r.Header.Get("Retry-After"))
	}
	// Another /64 is another client; the right password works for it.
	if r := guess("2001:db8:1:3::1", "lk1", "pw-12345"); r.StatusCode != 302 {
		t.Fatalf("a client of another /64: %d, want 302", r.StatusCode)
	}
	// Per link: many IPv4 clients, 20 guesses at lk2 together.
	for i := range 20 {
		if r := guess("198.51.100."+strconv.Itoa(i+1), "lk2", "wrong-pass"); r.StatusCode != 403 {
			t.Fatalf("guess %d at lk2: %d", i, r.StatusCode)
		}
	}
	r = guess("198.51.100.200", "lk2", "pw-12345")
	if r.StatusCode != 429 {
		t.Fatalf("21st guess at one link from fresh clients: %d, want 429", r.StatusCode)
	}
	// The other link is not held up by lk2's limit.
	if r := guess("203.0.113.9", "lk1", "pw-12345"); r.StatusCode != 302 {
		t.Fatalf("another link, another client: %d, want 302", r.StatusCode)
	}
}

// metricLine reports whether an exposition line holds every part.
func metricLine(exposition string, parts ...string) bool {
	for _, line := range strings.Split(exposition, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}
