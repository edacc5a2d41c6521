package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

var bearer = []string{"Authorization", "Bearer " + adminKey}

// errText is the error message of a JSON error body (the body itself
// when it is not one), unescaped for comparisons.
func errText(b string) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(b), &e) == nil && e.Error != "" {
		return e.Error
	}
	return b
}

type listBody struct {
	Links []struct {
		Code      string `json:"code"`
		URL       string `json:"url"`
		State     string `json:"state"`
		Protected bool   `json:"protected"`
		Visits    *int64 `json:"visits"`
	} `json:"links"`
	NextCursor *string `json:"next_cursor"`
}

func (ts *testServer) list(t *testing.T, query string) listBody {
	t.Helper()
	resp, b := ts.do(t, "GET", "/api/v1/links"+query, "", bearer...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list %s: %d %s", query, resp.StatusCode, b)
	}
	var lb listBody
	if err := json.Unmarshal([]byte(b), &lb); err != nil {
		t.Fatal(err)
	}
	return lb
}

func TestListLinksAPI(t *testing.T) {
	ts := newTestServer(t, nil)
	for i := range 7 {
		ts.create(t, fmt.Sprintf(`{"url":"https://site%d.example/p","alias":"lst%d"}`, i%2, i))
		ts.clock.Advance(time.Second)
	}
	ts.create(t, `{"url":"https://secret.example/","alias":"lstlock","password":"pw-12345"}`)

	var codes []string
	cursor := ""
	for pages := 0; ; pages++ {
		q := "?limit=3"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		lb := ts.list(t, q)
		if len(lb.Links) > 3 || pages > 3 {
			t.Fatalf("page %d has %d links", pages, len(lb.Links))
		}
		for _, l := range lb.Links {
			codes = append(codes, l.Code)
			if l.Visits == nil || l.State != "live" {
				t.Errorf("listed link %+v lacks its visits or state", l)
			}
		}
		if lb.NextCursor == nil {
			break
		}
		cursor = *lb.NextCursor
	}
	if got := strings.Join(codes, " "); got != "lstlock lst6 lst5 lst4 lst3 lst2 lst1 lst0" {
		t.Fatalf("all pages: %s", got)
	}
	if lb := ts.list(t, "?q=SITE1&state=live"); len(lb.Links) != 3 || lb.Links[0].Code != "lst5" {
		t.Fatalf("search: %+v", lb)
	}
	if lb := ts.list(t, "?state=protected"); len(lb.Links) != 1 || lb.Links[0].URL != "https://secret.example/" || !lb.Links[0].Protected {
		t.Fatalf("protected links, as their owner sees them: %+v", lb)
	}
	from := url.QueryEscape(ts.clock.Now().Add(-4 * time.Second).Format(time.RFC3339))
	if lb := ts.list(t, "?created_from="+from); len(lb.Links) < 3 {
		t.Fatalf("created_from: %+v", lb)
	}
	// Raw JSON shape: an empty page is [] and the last cursor null.
	if _, b := ts.do(t, "GET", "/api/v1/links?q=nomatch", "", bearer...); !strings.Contains(b, `"links":[]`) || !strings.Contains(b, `"next_cursor":null`) {
		t.Fatalf("empty list body %s", b)
	}
	for _, tt := range []struct {
		query  string
		header []string
		status int
		want   string
	}{
		{"", nil, 401, "needs an admin API key"},
		{"", []string{"Authorization", "Bearer wrong-key-0123456789"}, 403, "not valid"},
		{"?limit=0", bearer, 422, "limit 0 is outside 1..500"},
		{"?limit=501", bearer, 422, "outside 1..500"},
		{"?limit=ten", bearer, 422, "not a whole number"},
		{"?state=sleepy", bearer, 422, "is not one of live, expired, deleted, disabled, protected"},
		{"?cursor=%21%21", bearer, 422, "cursor"},
		{"?created_from=yesterday", bearer, 422, "created_from must be an RFC 3339 time"},
	} {
		resp, b := ts.do(t, "GET", "/api/v1/links"+tt.query, "", tt.header...)
		if resp.StatusCode != tt.status || !strings.Contains(errText(b), tt.want) {
			t.Errorf("list %s: %d %s, want %d saying %q", tt.query, resp.StatusCode, b, tt.status, tt.want)
		}
	}
}

func TestUpdateLinkAPI(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.create(t, `{"url":"https://old.example/","alias":"upd"}`)
	ts.create(t, `{"url":"https://gone.example/","alias":"updgone"}`)
	if resp, _ := ts.do(t, "DELETE", "/api/v1/links/updgone", "", bearer...); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	follow := func() (int, string) {
		resp, _ := ts.do(t, "GET", "/upd", "")
		return resp.StatusCode, resp.Header.Get("Location")
	}
	if st, loc := follow(); st != 302 || loc != "https://old.example/" {
		t.Fatalf("before: %d %s", st, loc) // now cached
	}
	patch := func(body string, header ...string) (int, string) {
		resp, b := ts.do(t, "PATCH", "/api/v1/links/upd", body, append(header, "Content-Type", "application/json")...)
		return resp.StatusCode, b
	}
	future := ts.clock.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	if st, b := patch(`{"url":"https://new.example/","expires_at":"`+future+`"}`, bearer...); st != 200 ||
		!strings.Contains(b, `"url":"https://new.example/"`) || !strings.Contains(b, `"expires_at":"`+future+`"`) || !strings.Contains(b, `"state":"live"`) {
		t.Fatalf("patch url and expiry: %d %s", st, b)
	}
	if st, loc := follow(); st != 302 || loc != "https://new.example/" {
		t.Fatalf("after the patch the redirect goes to %d %s: the cache kept the old target", st, loc)
	}
	if st, b := patch(`{"disabled":true}`, bearer...); st != 200 || !strings.Contains(b, `"state":"disabled"`) || !strings.Contains(b, `"disabled_at"`) {
		t.Fatalf("disable: %d %s", st, b)
	}
	if st, _ := follow(); st != 410 {
		t.Fatalf("a disabled link answers %d, want 410", st)
	}
	if st, b := patch(`{"disabled":false,"expires_at":null}`, bearer...); st != 200 || !strings.Contains(b, `"expires_at":null`) || !strings.Contains(b, `"state":"live"`) {
		t.Fatalf("re-enable and clear expiry: %d %s", st, b)
	}
	if st, loc := follow(); st != 302 || loc != "https://new.example/" {
		t.Fatalf("re-enabled: %d %s", st, loc)
	}
	if st, b := patch(`{"password":"pw-12345"}`, bearer...); st != 200 || !strings.Contains(b, `"protected":true`) {
		t.Fatalf("protect: %d %s", st, b)
	}
	if st, loc := follow(); st != 200 || loc != "" {
		t.Fatalf("protected: %d %q, want the password page", st, loc)
	}
	if st, b := patch(`{"password":null}`, bearer...); st != 200 || strings.Contains(b, `"protected"`) {
		t.Fatalf("unprotect: %d %s", st, b)
	}
	past := ts.clock.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	for _, tt := range []struct {
		path, body string
		header     []string
		status     int
		want       string
	}{
		{"/api/v1/links/upd", `{"disabled":true}`, nil, 401, "admin API key"},
		{"/api/v1/links/upd", `{"disabled":true}`, []string{"Authorization", "Bearer wrong-key-0123456789"}, 403, "not valid"},
		{"/api/v1/links/nothere", `{"disabled":true}`, bearer, 404, "no link"},
		{"/api/v1/links/updgone", `{"disabled":false}`, bearer, 410, "deleted"},
		{"/api/v1/links/upd", `{"disabled":`, bearer, 400, "malformed JSON"},
		{"/api/v1/links/upd", `{"url":"https://x.example/` + strings.Repeat("a", 17<<10) + `"}`, bearer, 413, "larger than"},
		{"/api/v1/links/upd", `{}`, bearer, 422, "nothing to change"},
		{"/api/v1/links/upd", `{"url":"javascript:alert(1)"}`, bearer, 422, `scheme "javascript" is not allowed`},
		{"/api/v1/links/upd", `{"alias":"other"}`, bearer, 422, "allowed fields are url, expires_at, disabled and password"},
		{"/api/v1/links/upd", `{"expires_at":"soon"}`, bearer, 422, "RFC 3339"},
		{"/api/v1/links/upd", `{"expires_at":"` + past + `"}`, bearer, 422, "in the past"},
		{"/api/v1/links/upd", `{"disabled":"yes"}`, bearer, 422, `field "disabled" must be a bool`},
		{"/api/v1/links/upd", `{"password":"abc"}`, bearer, 422, "password must be at least 4"},
		{"/api/v1/links/upd", `{"password":12345}`, bearer, 422, `"password" must be a string`},
	} {
		resp, b := ts.do(t, "PATCH", tt.path, tt.body, append(tt.header, "Content-Type", "application/json")...)
		if resp.StatusCode != tt.status || !strings.Contains(errText(b), tt.want) {
			t.Errorf("PATCH %s %.60s: %d %s, want %d saying %q", tt.path, tt.body, resp.StatusCode, b, tt.status, tt.want)
		}
	}
	if st, loc := follow(); st != 302 || loc != "https://new.example/" {
		t.Fatalf("refused patches changed the link: %d %s", st, loc)
	}
}

func TestLinkVisitsAPI(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.create(t, `{"url":"https://x.example/","alias":"vis"}`)
	for range 3 {
		if resp, _ := ts.do(t, "GET", "/vis", ""); resp.StatusCode != 302 {
			t.Fatal(resp.StatusCode)
		}
	}
	resp, b := ts.do(t, "GET", "/api/v1/links/vis/visits?days=7", "")
	var vb struct {
		Code  string `json:"code"`
		Total int64  `json:"total"`
		From  string `json:"from"`
		To    string `json:"to"`
		Days  []struct {
			Date   string `json:"date"`
			Visits int64  `json:"visits"`
		} `json:"days"`
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(b), &vb) != nil {
		t.Fatalf("visits: %d %s", resp.StatusCode, b)
	}
	today := ts.clock.Now().UTC().Format(time.DateOnly)
	if len(vb.Days) != 7 || vb.To != today || vb.Days[6].Date != today || vb.Days[6].Visits != 3 || vb.Total != 3 || vb.Days[0].Visits != 0 {
		t.Fatalf("visits body %s", b)
	}
	resp, b = ts.do(t, "GET", "/api/v1/links/vis/visits?from=2026-01-01&to=2026-01-03", "")
	if resp.StatusCode != 200 || !strings.Contains(b, `"from":"2026-01-01","to":"2026-01-03"`) || strings.Count(b, `"date"`) != 3 {
		t.Fatalf("from/to: %d %s", resp.StatusCode, b)
	}
	for _, tt := range []struct {
		path   string
		status int
		want   string
	}{
		{"/api/v1/links/nothere/visits", 404, "no link"},
		{"/api/v1/links/vis/visits?days=0", 422, "days must be"},
		{"/api/v1/links/vis/visits?days=367", 422, "days must be"},
		{"/api/v1/links/vis/visits?from=01/01/2026", 422, "from must be a date"},
		{"/api/v1/links/vis/visits?from=2026-02-01&to=2026-01-01", 422, "from must be a day before to"},
		{"/api/v1/links/vis/visits?from=2020-01-01&to=2026-01-01", 422, "at most 366"},
	} {
		resp, b := ts.do(t, "GET", tt.path, "")
		if resp.StatusCode != tt.status || !strings.Contains(errText(b), tt.want) {
			t.Errorf("%s: %d %s, want %d saying %q", tt.path, resp.StatusCode, b, tt.status, tt.want)
		}
	}
}
