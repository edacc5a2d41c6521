package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/mock"
	"github.com/obsshort/shortener/app/server"
)

const secAdminKey = "security-test-key-0123456789"

// secServer runs the public handler on a real SQLite file; mod adjusts the
// dependencies (limiter, keys, store) before the handler is built.
func secServer(t *testing.T, mod func(*server.Deps)) *httptest.Server {
	t.Helper()
	ctx := context.Background()
	_ = ctx
	db := openTestStore(t)
	keys, err := server.ParseAdminKeys(strings.NewReader(secAdminKey))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	self := ts.Listener.Addr().String()
	d := server.Deps{
		Service:        &app.Service{Store: db, SelfHosts: []string{self}},
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		Health:         &server.Health{Store: app.NewStoreHealth(db, db, app.StoreHealthOptions{})},
		BaseURL:        "http://" + self,
		RedirectStatus: http.StatusFound,
		AdminKeys:      keys,
		CookieKey:      []byte("0123456789abcdef0123456789abcdef"),
	}
	if mod != nil {
		mod(&d)
	}
	ts.Config.Handler = server.NewPublic(d)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

func secDo(t *testing.T, method, target, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestRateLimitAnswers429WithRetryAfter: past the burst, creation answers 429
// with a whole number of seconds in Retry-After, on the API and the form.
func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	clock := mock.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	ts := secServer(t, func(d *server.Deps) {
		d.Limiter = server.NewRateLimiter(0.5, 2, nil)
		d.Now = clock.Now
	})
	for i := range 2 {
		resp, body := secDo(t, "POST", ts.URL+"/api/v1/links", `{"url":"https://example.com/`+strconv.Itoa(i)+`"}`)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create %d within the burst: %d %s", i, resp.StatusCode, body)
		}
	}
	for _, req := range []struct{ path, ctype, body string }{
		{"/api/v1/links", "application/json", `{"url":"https://example.com/over"}`},
		{"/", "application/x-www-form-urlencoded", url.Values{"url": {"https://example.com/form"}}.Encode()},
	} {
		resp, body := secDo(t, "POST", ts.URL+req.path, req.body, "Content-Type", req.ctype)
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("POST %s over the limit: %d %s, want 429", req.path, resp.StatusCode, body)
		}
		// The clock stands still: the next token is exactly 2 s away at 0.5/s.
		if got := resp.Header.Get("Retry-After"); got != "2" {
			t.Fatalf("POST %s: Retry-After %q, want 2 seconds at 0.5/s", req.path, got)
		}
	}
	clock.Advance(1900 * time.Millisecond)
	resp, _ := secDo(t, "POST", ts.URL+"/api/v1/links", `{"url":"https://example.com/early"}`)
	if got := resp.Header.Get("Retry-After"); resp.StatusCode != http.StatusTooManyRequests || got != "1" {
		t.Fatalf("0.1 s before the next token: %d Retry-After %q, want 429 and 1 (rounded up)", resp.StatusCode, got)
	}
	clock.Advance(100 * time.Millisecond)
	if resp, body := secDo(t, "POST", ts.URL+"/api/v1/links", `{"url":"https://example.com/later"}`); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create once the next token is due: %d %s, want 201", resp.StatusCode, body)
	}
	// Redirects are not limited.
	for range 5 {
		if resp, _ := secDo(t, "GET", ts.URL+"/nosuchcode", ""); resp.StatusCode == http.StatusTooManyRequests {
			t.Fatal("a redirect was rate limited")
		}
	}
}

// TestClientAddrTrustsOnlyConfiguredProxies: X-Forwarded-For picks the
// client only when the TCP peer is a trusted proxy.
func TestClientAddrTrustsOnlyConfiguredProxies(t *testing.T) {
	trusted, err := server.ParseTrustedProxies("10.0.0.0/8, 192.168.1.1")
	if err != nil {
		t.Fatal(err)
	}
	lim := server.NewRateLimiter(1, 1, trusted)
	tests := []struct {
		name, peer, xff, want string
	}{
		{"untrusted peer, header ignored", "203.0.113.9:5000", "198.51.100.1", "203.0.113.9"},
		{"untrusted peer claiming a trusted hop", "203.0.113.9:5000", "10.0.0.1", "203.0.113.9"},
		{"trusted peer, single hop", "10.1.2.3:5000", "198.51.100.1", "198.51.100.1"},
		{"trusted peer, spoofed left entry ignored", "10.1.2.3:5000", "1.1.1.1, 198.51.100.1", "198.51.100.1"},
		{"trusted chain skipped", "192.168.1.1:5000", "198.51.100.1, 10.9.9.9", "198.51.100.1"},
		{"trusted peer, garbage header", "10.1.2.3:5000", "not-an-ip", "10.1.2.3"},
		{"trusted peer, no header", "10.1.2.3:5000", "", "10.1.2.3"},
		{"IPv4-mapped IPv6 peer", "[::ffff:203.0.113.9]:5000", "198.51.100.1", "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/v1/links", nil)
			r.RemoteAddr = tt.peer
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := lim.ClientAddr(r); got != netip.MustParseAddr(tt.want) {
				t.Fatalf("ClientAddr = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestForwardedForOverHTTP: through a real listener (peer 127.0.0.1), a
// client cannot escape its bucket by inventing X-Forwarded-For, while a
// trusted proxy's clients each get their own bucket.
func TestForwardedForOverHTTP(t *testing.T) {
	create := func(ts *httptest.Server, xff string) int {
		resp, _ := secDo(t, "POST", ts.URL+"/api/v1/links", `{"url":"https://example.com/x"}`, "X-Forwarded-For", xff)
		return resp.StatusCode
	}
	clock := mock.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) // stands still: no token comes back
	untrusted := secServer(t, func(d *server.Deps) { d.Limiter = server.NewRateLimiter(0.1, 1, nil); d.Now = clock.Now })
	if got := create(untrusted, "198.51.100.1"); got != http.StatusCreated {
		t.Fatalf("first create: %d", got)
	}
	if got := create(untrusted, "198.51.100.2"); got != http.StatusTooManyRequests {
		t.Fatalf("spoofed X-Forwarded-For from an untrusted peer: %d, want 429", got)
	}
	proxies, _ := server.ParseTrustedProxies("127.0.0.1")
	behindProxy := secServer(t, func(d *server.Deps) { d.Limiter = server.NewRateLimiter(0.1, 1, proxies); d.Now = clock.Now })
	for _, client := range []string{"198.51.100.1", "198.51.100.2"} {
		if got := create(behindProxy, client); got != http.StatusCreated {
			t.Fatalf("client %s behind a trusted proxy: %d, want 201", client, got)
		}
	}
	if got := create(behindProxy, "198.51.100.1"); got != http.StatusTooManyRequests {
		t.Fatalf("client 198.51.100.1 again: %d, want 429", got)
	}
}

// TestAdminKeys: 401 without a key, 403 with a wrong one or when none are
// configured, 204 with a right one, whether configured in clear or hashed.
func TestAdminKeys(t *testing.T) {
	hashed := "hashed-admin-key-0123456789"
	sum := sha256.Sum256([]byte(hashed))
	keys, err := server.ParseAdminKeys(strings.NewReader("# ops team\n" + secAdminKey + "\nsha256:" + hex.EncodeToString(sum[:]) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if keys.Len() != 2 {
		t.Fatalf("parsed %d keys, want 2", keys.Len())
	}
	if s := fmt.Sprintf("%+v", keys); strings.Contains(s, secAdminKey) {
		t.Fatalf("the key is kept in clear: %s", s)
	}
	ts := secServer(t, func(d *server.Deps) { d.AdminKeys = keys })
	noKeys := secServer(t, func(d *server.Deps) { d.AdminKeys = nil })
	newCode := func(ts *httptest.Server) string {
		resp, body := secDo(t, "POST", ts.URL+"/api/v1/links", `{"url":"https://example.com/"}`)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d %s", resp.StatusCode, body)
		}
		_, rest, _ := strings.Cut(body, `"code":"`)
		code, _, _ := strings.Cut(rest, `"`)
		return code
	}
	tests := []struct {
		name   string
		ts     *httptest.Server
		auth   string
		status int
	}{
		{"no header", ts, "", 401},
		{"empty bearer", ts, "Bearer ", 401},
		{"basic auth", ts, "Basic " + secAdminKey, 401},
		{"wrong key", ts, "Bearer wrong-key-0123456789abc", 403},
		{"right key with one byte off", ts, "Bearer " + secAdminKey[:len(secAdminKey)-1] + "X", 403},
		{"prefix of the right key", ts, "Bearer " + secAdminKey[:16], 403},
		{"right key", ts, "Bearer " + secAdminKey, 204},
		{"hashed key", ts, "Bearer " + hashed, 204},
		{"no keys configured", noKeys, "Bearer " + secAdminKey, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := newCode(tt.ts)
			var header []string
			if tt.auth != "" {
				header = []string{"Authorization", tt.auth}
			}
			resp, body := secDo(t, "DELETE", tt.ts.URL+"/api/v1/links/"+code, "", header...)
			if resp.StatusCode != tt.status {
				t.Fatalf("DELETE with %q: %d %s, want %d", tt.auth, resp.StatusCode, body, tt.status)
			}
			if tt.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			if strings.Contains(body, secAdminKey) {
				t.Fatal("the answer echoes the key")
			}
		})
	}
	if _, err := server.ParseAdminKeys(strings.NewReader("short")); err == nil {
		t.Fatal("a key under 16 characters was accepted")
	}
}

// TestSecurityHeadersOnEveryHTMLAnswer requests every kind of HTML page the
// public listener serves, including errors, and checks the headers.
func TestSecurityHeadersOnEveryHTMLAnswer(t *testing.T) {
	ts := secServer(t, nil)
	resp, body := secDo(t, "POST", ts.URL+"/api/v1/links", `{"url":"https://example.com/","alias":"gone-link"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	if resp, _ := secDo(t, "DELETE", ts.URL+"/api/v1/links/gone-link", "", "Authorization", "Bearer "+secAdminKey); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	form := "application/x-www-form-urlencoded"
	requests := []struct{ method, path, ctype, body string }{
		{"GET", "/", "", ""},
		{"GET", "/?created=nosuch", "", ""},
		{"POST", "/", form, "url=javascript%3Aalert(1)"},
		{"POST", "/", form, "url=https%3A%2F%2Fexample.com%2Fok"},
		{"POST", "/", form, "%zz"},
		{"GET", "/nosuchcode", "", ""},
		{"GET", "/gone-link", "", ""},
		{"GET", "/gone-link/qr", "", ""},
		{"GET", "/a/b/c/d", "", ""},
		{"GET", "/%3Cscript%3E", "", ""},
	}
	html := 0
	for _, req := range requests {
		var header []string
		if req.ctype != "" {
			header = []string{"Content-Type", req.ctype}
		}
		resp, body := secDo(t, req.method, ts.URL+req.path, req.body, header...)
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			if resp.StatusCode != http.StatusSeeOther {
				t.Errorf("%s %s: %d with %q, expected an HTML page", req.method, req.path, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			continue
		}
		html++
		checkSecurityHeaders(t, req.method+" "+req.path, resp.Header)
		if strings.Contains(body, "<script>") {
			t.Errorf("%s %s: page holds <script>", req.method, req.path)
		}
	}
	if html < 8 {
		t.Fatalf("only %d HTML answers checked", html)
	}
}

func checkSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, directive := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, directive) {
			t.Errorf("%s: CSP %q lacks %q", what, csp, directive)
		}
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q", what, got)
	}
	if got := h.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("%s: Referrer-Policy %q", what, got)
	}
}

// TestNoInternalsInAnswers makes the store fail with driver-like errors and
// panic, and checks that no answer shows SQL, file paths or stack traces.
func TestNoInternalsInAnswers(t *testing.T) {
	leak := errors.New(`sqlite: SQL logic error: no such table: links (1) at /var/lib/shortener/links.db: INSERT INTO links (code, url) VALUES (?, ?)`)
	for _, mode := range []string{"error", "panic"} {
		t.Run(mode, func(t *testing.T) {
			fail := func() error {
				if mode == "panic" {
					panic("store exploded: " + leak.Error())
				}
				return fmt.Errorf("wrapped: %w", leak)
			}
			store := &mock.LinkStore{
				CreateLinkFn: func(context.Context, *app.Link) error { return fail() },
				FindLinkFn:   func(context.Context, string) (*app.Link, error) { return nil, fail() },
				DeleteLinkFn: func(context.Context, string, time.Time) error { return fail() },
				AddVisitsFn:  func(context.Context, map[string]int64) error { return fail() },
				ReadyFn:      func(context.Context) error { return nil },
			}
			ts := secServer(t, func(d *server.Deps) { d.Service.Store = store })
			form := "application/x-www-form-urlencoded"
			requests := []struct{ method, path, ctype, body string }{
				{"POST", "/api/v1/links", "application/json", `{"url":"https://example.com/"}`},
				{"POST", "/api/v1/links", "application/json", `{"url":"https://example.com/","alias":"my-alias"}`},
				{"GET", "/api/v1/links/abcdefg", "", ""},
				{"DELETE", "/api/v1/links/abcdefg", "", ""},
				{"GET", "/abcdefg", "", ""},
				{"GET", "/abcdefg/qr", "", ""},
				{"POST", "/", form, "url=https%3A%2F%2Fexample.com%2F"},
			}
			for _, req := range requests {
				header := []string{"Authorization", "Bearer " + secAdminKey}
				if req.ctype != "" {
					header = append(header, "Content-Type", req.ctype)
				}
				resp, body := secDo(t, req.method, ts.URL+req.path, req.body, header...)
				if resp.StatusCode != http.StatusInternalServerError {
					t.Errorf("%s %s: %d, want 500", req.method, req.path, resp.StatusCode)
				}
				for _, secret := range []string{"SQL", "sqlite", "INSERT", "links.db", "/var/lib", "goroutine", ".go:", "panic", "exploded", "wrapped"} {
					if strings.Contains(body, secret) {
						t.Errorf("%s %s: answer shows %q:\n%s", req.method, req.path, secret, body)
					}
				}
				if !strings.Contains(body, "internal error") {
					t.Errorf("%s %s: answer lacks the generic message:\n%s", req.method, req.path, body)
				}
			}
		})
	}
}
