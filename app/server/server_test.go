package server_test

import (
	"context"
	"encoding/json"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	goqr "github.com/piglig/go-qr"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/mock"
	"github.com/obsshort/shortener/app/server"
	"github.com/obsshort/shortener/telemetry"
)

const adminKey = "test-admin-key-0123456789"

type testServer struct {
	*httptest.Server
	admin  *httptest.Server
	deps   server.Deps
	client *http.Client
	clock  *mock.Clock // the service's clock, which the handlers follow
	db     testStore
}

// newTestServer runs the public and admin handlers on a real SQLite file.
func newTestServer(t *testing.T, mod func(*server.Deps)) *testServer {
	t.Helper()
	ctx := context.Background()
	db := openTestStore(t)
	key, err := db.Secret(ctx, "cookie_key", 32)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := server.ParseAdminKeys(strings.NewReader(adminKey))
	if err != nil {
		t.Fatal(err)
	}
	reg := telemetry.NewRegistry()
	metrics := telemetry.NewMetrics(reg, telemetry.Results{LinkCreated: app.CreateResults(), Redirect: app.RedirectResults()})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	clock := mock.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	svc := &app.Service{
		Store:    db,
		Cache:    expirable.NewLRU[string, app.Target](100, nil, time.Minute),
		Visits:   app.NewVisitCounter(db, logger, nil),
		Observer: metrics,
		Now:      clock.Now,
		// Cheap Argon2id parameters keep password tests fast; app's tests
		// check the production defaults.
		Passwords: app.NewPasswordHasher(app.PasswordParams{MemoryKiB: 64, Time: 1, Threads: 1}),
	}
	storeHealth := app.NewStoreHealth(db, db, app.StoreHealthOptions{Now: clock.Now, OnWriteStatus: metrics.SetStoreWritable})
	storeHealth.ProbeWrite(ctx)
	ts := &testServer{clock: clock, db: db}
	ts.Server = httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	svc.SelfHosts = []string{ts.Listener.Addr().String()}
	ts.deps = server.Deps{
		Service: svc, Logger: logger, Metrics: metrics, Registry: reg,
		Health:  &server.Health{Store: storeHealth},
		BaseURL: base, RedirectStatus: http.StatusFound, AdminKeys: keys, CookieKey: key,
	}
	if mod != nil {
		mod(&ts.deps)
	}
	ts.Config.Handler = server.NewPublic(ts.deps)
	ts.Start()
	t.Cleanup(ts.Close)
	ts.admin = httptest.NewServer(server.NewAdmin(ts.deps))
	t.Cleanup(ts.admin.Close)
	ts.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return ts
}

func (ts *testServer) do(t *testing.T, method, path, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func (ts *testServer) create(t *testing.T, body string) map[string]any {
	t.Helper()
	resp, b := ts.do(t, "POST", "/api/v1/links", body, "Content-Type", "application/json")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create %s: %d %s", body, resp.StatusCode, b)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(b), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCreateLinkAPI(t *testing.T) {
	ts := newTestServer(t, nil)
	big := `{"url":"https://example.com/` + strings.Repeat("a", 20<<10) + `"}`
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantInBody string
	}{
		{"random code", `{"url":"https://example.com/x"}`, 201, `"url":"https://example.com/x"`},
		{"alias", `{"url":"https://example.com/y","alias":"my-alias"}`, 201, `"code":"my-alias"`},
		{"alias taken", `{"url":"https://example.com/z","alias":"my-alias"}`, 409, `already taken`},
		{"expiry", `{"url":"https://example.com/e","expires_at":"2099-01-02T03:04:05Z"}`, 201, `"expires_at":"2099-01-02T03:04:05Z"`},
		{"expiry not rfc3339", `{"url":"https://example.com/e","expires_at":"tomorrow"}`, 422, `RFC 3339`},
		{"malformed json", `{"url":`, 400, `malformed JSON`},
		{"not an object", `["https://example.com"]`, 422, `JSON object`},
		{"empty body", ``, 400, `body is empty`},
		{"two objects", `{"url":"https://a.example"}{"url":"https://b.example"}`, 400, `exactly one JSON object`},
		{"unknown field", `{"url":"https://example.com","extra":1}`, 422, `allowed fields are url, alias, expires_at and password`},
		{"wrong type", `{"url":42}`, 422, `field "url" must be a string`},
		{"missing url", `{"alias":"abc"}`, 422, `"url" is required`},
		{"bad scheme", `{"url":"javascript:alert(1)"}`, 422, `only http and https`},
		{"bad alias", `{"url":"https://example.com","alias":"no spaces"}`, 422, `only letters`},
		{"reserved alias", `{"url":"https://example.com","alias":"api"}`, 422, `reserved`},
		{"self link", `{"url":"` + ts.URL + `/abc"}`, 422, `points at this shortener`},
		{"too large", big, 413, `larger than`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := ts.do(t, "POST", "/api/v1/links", tt.body, "Content-Type", "application/json")
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			var e struct{ Error string }
			_ = json.Unmarshal([]byte(body), &e)
			if !strings.Contains(body, tt.wantInBody) && !strings.Contains(e.Error, tt.wantInBody) {
				t.Fatalf("body %s does not contain %s", body, tt.wantInBody)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("content type %q", ct)
			}
			if tt.wantStatus >= 400 {
				if e.Error == "" {
					t.Fatalf("error body not {\"error\": ...}: %s", body)
				}
			}
		})
	}
}

func TestCreateResponseShape(t *testing.T) {
	ts := newTestServer(t, nil)
	m := ts.create(t, `{"url":"https://example.com/shape"}`)
	for _, k := range []string{"code", "short_url", "url", "created_at", "expires_at"} {
		if _, ok := m[k]; !ok {
			t.Errorf("response lacks %q: %v", k, m)
		}
	}
	code := m["code"].(string)
	if m["short_url"] != ts.URL+"/"+code {
		t.Errorf("short_url %v, want %s/%s", m["short_url"], ts.URL, code)
	}
	if _, err := time.Parse(time.RFC3339, m["created_at"].(string)); err != nil {
		t.Errorf("created_at not RFC 3339: %v", m["created_at"])
	}
}

func TestRedirectAndMetadata(t *testing.T) {
	for _, status := range []int{301, 302, 307, 308} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			ts := newTestServer(t, func(d *server.Deps) { d.RedirectStatus = status })
			code := ts.create(t, `{"url":"https://example.com/target?q=1"}`)["code"].(string)
			for range 3 {
				resp, _ := ts.do(t, "GET", "/"+code, "")
				if resp.StatusCode != status || resp.Header.Get("Location") != "https://example.com/target?q=1" {
					t.Fatalf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
				}
			}
			resp, body := ts.do(t, "GET", "/api/v1/links/"+code, "")
			if resp.StatusCode != 200 {
				t.Fatalf("metadata: %d %s", resp.StatusCode, body)
			}
			var m struct {
				Code   string
				URL    string
				Visits int64
				State  string
			}
			_ = json.Unmarshal([]byte(body), &m)
			if m.Code != code || m.Visits != 3 || m.State != "live" {
				t.Fatalf("metadata %+v, want 3 visits, live", m)
			}
		})
	}
}

func TestRedirectErrorsAreHTMLPages(t *testing.T) {
	ts := newTestServer(t, nil)
	soon := ts.clock.Now().Add(time.Hour).Format(time.RFC3339)
	code := ts.create(t, `{"url":"https://example.com/soon","expires_at":"`+soon+`"}`)["code"].(string)
	if resp, _ := ts.do(t, "GET", "/"+code, ""); resp.StatusCode != http.StatusFound {
		t.Fatalf("link before its expiry: %d, want 302", resp.StatusCode)
	}
	ts.clock.Advance(time.Hour)
	tests := []struct {
		path   string
		status int
		text   string
	}{
		{"/unknown1", 404, "Link not found"},
		{"/" + code, 410, "has expired"},
		{"/a/b/c/d", 404, "nothing at this address"},
	}
	for _, tt := range tests {
		resp, body := ts.do(t, "GET", tt.path, "")
		if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, tt.text) {
			t.Errorf("GET %s: %d %s %q", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: no CSP on an HTML answer", tt.path)
		}
	}
	// The metadata and the QR code read the same clock as the redirect.
	resp, body := ts.do(t, "GET", "/api/v1/links/"+code, "")
	var m struct{ State string }
	if err := json.Unmarshal([]byte(body), &m); err != nil || resp.StatusCode != 200 || m.State != "expired" {
		t.Fatalf("metadata after expiry: %d %s, want state expired", resp.StatusCode, body)
	}
	if resp, _ := ts.do(t, "GET", "/"+code+"/qr", ""); resp.StatusCode != http.StatusGone {
		t.Fatalf("QR code after expiry: %d, want 410", resp.StatusCode)
	}
}

func TestDeleteNeedsAdminKey(t *testing.T) {
	ts := newTestServer(t, nil)
	code := ts.create(t, `{"url":"https://example.com/del"}`)["code"].(string)
	tests := []struct {
		name   string
		header []string
		status int
	}{
		{"no key", nil, 401},
		{"not bearer", []string{"Authorization", "Basic " + adminKey}, 401},
		{"wrong key", []string{"Authorization", "Bearer wrong-key-0123456789"}, 403},
		{"right key", []string{"Authorization", "Bearer " + adminKey}, 204},
		{"already deleted", []string{"Authorization", "Bearer " + adminKey}, 404},
	}
	for _, tt := range tests {
		resp, body := ts.do(t, "DELETE", "/api/v1/links/"+code, "", tt.header...)
		if resp.StatusCode != tt.status {
			t.Fatalf("%s: %d %s, want %d", tt.name, resp.StatusCode, body, tt.status)
		}
	}
	resp, _ := ts.do(t, "GET", "/"+code, "")
	if resp.StatusCode != 410 {
		t.Fatalf("deleted link answers %d, want 410", resp.StatusCode)
	}
}

func TestHealthAndDrain(t *testing.T) {
	ts := newTestServer(t, nil)
	for _, base := range []string{ts.URL, ts.admin.URL} {
		for _, p := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get(base + p)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%s%s: %v %v", base, p, err, resp)
			}
			resp.Body.Close()
		}
	}
	ts.deps.Health.Drain()
	resp, _ := http.Get(ts.admin.URL + "/readyz")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), "draining") {
		t.Fatalf("readyz while draining: %d %s", resp.StatusCode, b)
	}
	resp, _ = http.Get(ts.admin.URL + "/healthz")
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz while draining: %d, want 200 (alive)", resp.StatusCode)
	}
}

func TestMetricsOnlyOnAdmin(t *testing.T) {
	ts := newTestServer(t, nil)
	for _, p := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/cmdline"} {
		if resp, _ := ts.do(t, "GET", p, ""); resp.StatusCode != 404 {
			t.Fatalf("public %s answered %d, want 404 (admin listener only)", p, resp.StatusCode)
		}
	}
	r, err := http.Get(ts.admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !strings.Contains(string(b), telemetry.MetricHTTPRequestDuration) {
		t.Fatalf("admin /metrics lacks %s", telemetry.MetricHTTPRequestDuration)
	}
	r, err = http.Get(ts.admin.URL + "/debug/pprof/cmdline")
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("pprof on admin: %v %v", err, r)
	}
	r.Body.Close()
}

func TestQRCode(t *testing.T) {
	ts := newTestServer(t, nil)
	code := ts.create(t, `{"url":"https://example.com/qr"}`)["code"].(string)
	resp, body := ts.do(t, "GET", "/"+code+"/qr", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("qr: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	img, err := png.Decode(strings.NewReader(body))
	if err != nil {
		t.Fatalf("qr answer is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != b.Dy() || b.Dx() < 200 || b.Dx() > 320 {
		t.Fatalf("qr image is %dx%d, want a square of about 256 pixels", b.Dx(), b.Dy())
	}
	text, err := goqr.Decode(img)
	if err != nil {
		t.Fatalf("qr image does not decode: %v", err)
	}
	if want := ts.URL + "/" + code; text != want {
		t.Fatalf("qr code reads %q, want the short URL %q", text, want)
	}
	resp, _ = ts.do(t, "GET", "/nothere/qr", "")
	if resp.StatusCode != 404 {
		t.Fatalf("qr of unknown code: %d", resp.StatusCode)
	}
}

// The page works without JavaScript: a plain form post creates the link,
// redirects (post/redirect/get) and the page then shows it and lists it.
func TestWebFormWithoutJavaScript(t *testing.T) {
	ts := newTestServer(t, nil)
	form := url.Values{"url": {"https://example.com/<b>bold</b>"}, "alias": {"form-link"}}
	resp, body := ts.do(t, "POST", "/", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?created=form-link" {
		t.Fatalf("form post: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	cookie := resp.Header.Get("Set-Cookie")
	if !strings.Contains(cookie, "HttpOnly") {
		t.Fatalf("history cookie %q", cookie)
	}
	cookieVal := strings.SplitN(cookie, ";", 2)[0]
	resp, body = ts.do(t, "GET", "/?created=form-link", "", "Cookie", cookieVal)
	if resp.StatusCode != 200 || !strings.Contains(body, ts.URL+"/form-link") {
		t.Fatalf("result page lacks the short link: %s", body)
	}
	if strings.Contains(body, "<b>bold</b>") || !strings.Contains(body, "&lt;b&gt;") && !strings.Contains(body, "%3Cb%3E") {
		t.Fatalf("target URL not escaped in page")
	}
	if !strings.Contains(body, `id="history"`) {
		t.Fatalf("page does not list this browser's links")
	}
	// Another browser (no cookie) sees no list; a forged cookie is ignored.
	_, body = ts.do(t, "GET", "/", "")
	if strings.Contains(body, `id="history"`) {
		t.Fatalf("list shown to a browser that created nothing")
	}
	_, body = ts.do(t, "GET", "/", "", "Cookie", "links=Zm9ybS1saW5r.forged")
	if strings.Contains(body, `id="history"`) {
		t.Fatalf("forged cookie accepted")
	}
	// Errors are shown next to the field, with the input kept.
	form = url.Values{"url": {"ftp://example.com/"}}
	resp, body = ts.do(t, "POST", "/", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 422 || !strings.Contains(body, `id="url-error"`) || !strings.Contains(body, "only http and https") {
		t.Fatalf("form error: %d %s", resp.StatusCode, body)
	}
	form = url.Values{"url": {"https://example.com/"}, "alias": {"form-link"}}
	resp, body = ts.do(t, "POST", "/", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 409 || !strings.Contains(body, `id="alias-error"`) {
		t.Fatalf("alias conflict: %d %s", resp.StatusCode, body)
	}
}

func TestCrossOriginFormPostRefused(t *testing.T) {
	ts := newTestServer(t, nil)
	form := url.Values{"url": {"https://example.com/csrf"}}
	resp, _ := ts.do(t, "POST", "/", form.Encode(), "Content-Type", "application/x-www-form-urlencoded",
		"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	if resp.StatusCode != 403 {
		t.Fatalf("cross-site form post: %d, want 403", resp.StatusCode)
	}
	resp, _ = ts.do(t, "POST", "/", form.Encode(), "Content-Type", "application/x-www-form-urlencoded",
		"Sec-Fetch-Site", "same-origin", "Origin", ts.URL)
	if resp.StatusCode != 303 {
		t.Fatalf("same-origin form post: %d, want 303", resp.StatusCode)
	}
}

func TestFaultInjection(t *testing.T) {
	ts := newTestServer(t, func(d *server.Deps) { d.Fault = server.Fault{ErrorRate: 1} })
	resp, _ := ts.do(t, "GET", "/anything", "")
	if resp.StatusCode != 500 {
		t.Fatalf("fault rate 1: %d, want 500", resp.StatusCode)
	}
	resp, _ = ts.do(t, "GET", "/readyz", "")
	if resp.StatusCode != 200 {
		t.Fatalf("readyz under fault injection: %d, want 200 (stays in the load balancer)", resp.StatusCode)
	}
	r, _ := http.Get(ts.admin.URL + "/metrics")
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	want := `http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="500",http_route="/{code}"} 1`
	if !strings.Contains(string(b), want) {
		t.Fatalf("injected 500 not counted in request metrics; want line %s", want)
	}
}

func TestRedirectLocationIsASCII(t *testing.T) {
	ts := newTestServer(t, nil)
	code := ts.create(t, `{"url":"https://example.com/caf\u00e9?q=\u00fc#\u00e4"}`)["code"].(string)
	resp, body := ts.do(t, "GET", "/"+code, "")
	if resp.StatusCode != 302 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != "https://example.com/caf%C3%A9?q=%C3%BC#%C3%A4" {
		t.Fatalf("Location %q, want non-ASCII percent-encoded", loc)
	}
	if body != "" {
		t.Fatalf("redirect has a body: %q", body)
	}
}
