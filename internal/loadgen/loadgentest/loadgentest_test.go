package loadgentest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestShortener(t *testing.T) {
	var s Shortener
	srv := httptest.NewServer(&s)
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	for i, want := range []string{"c0", "c1"} {
		resp, err := client.Post(srv.URL+"/api/v1/links", "application/json", strings.NewReader(`{"url":"https://example.com/`+want+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		_, _ = io.Copy(&body, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || !strings.Contains(body.String(), `"code":"`+want+`"`) {
			t.Fatalf("create %d: %d %s, want 201 with code %s", i, resp.StatusCode, body.String(), want)
		}
	}
	steps := []struct {
		name     string
		change   func()
		path     string
		wantCode int
		wantLoc  string
	}{
		{"redirect", func() {}, "/c0", 302, "https://example.com/c0"},
		{"unknown code", func() {}, "/nope", 404, ""},
		{"repointed", func() { s.Set("c1", "https://elsewhere.example/") }, "/c1", 302, "https://elsewhere.example/"},
		{"lost", func() { s.Delete("c0") }, "/c0", 404, ""},
		{"broken: first", func() { s.FailRedirects(2) }, "/c1", 302, "https://elsewhere.example/"},
		{"broken: second fails", func() {}, "/c1", 500, ""},
		{"healed", func() { s.FailRedirects(0) }, "/c1", 302, "https://elsewhere.example/"},
	}
	for _, st := range steps {
		st.change()
		if code, loc := get(st.path); code != st.wantCode || loc != st.wantLoc {
			t.Errorf("%s: GET %s = %d %q, want %d %q", st.name, st.path, code, loc, st.wantCode, st.wantLoc)
		}
	}
	if s.Len() != 1 {
		t.Errorf("Len = %d after two creations and one loss, want 1", s.Len())
	}
}
