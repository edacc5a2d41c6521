package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/mock"
)

func TestParseBlocklist(t *testing.T) {
	list, err := app.ParseBlocklist(strings.NewReader(`
# phishing seen on 2026-11-02
evil.example
*.wildcard.example     # same as wildcard.example
.dot.example
MiXeD.Example.
аррӏе.com              # Cyrillic look-alike, stored as punycode
203.0.113.7
2001:db8::1
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host    string
		blocked bool
	}{
		{"evil.example", true},
		{"a.b.evil.example", true},
		{"EVIL.example.", true},
		{"notevil.example", false},
		{"evil.example.com", false},
		{"example", false},
		{"x.wildcard.example", true},
		{"wildcard.example", true},
		{"dot.example", true},
		{"mixed.example", true},
		{"xn--80ak6aa92e.com", true},
		{"login.xn--80ak6aa92e.com", true},
		{"apple.com", false},
		{"203.0.113.7", true},
		{"203.0.113.8", false},
		{"[2001:db8::1]", true},
		{"2001:db8:0:0::1", true},
	}
	for _, tt := range tests {
		if _, got := list.Blocked(tt.host); got != tt.blocked {
			t.Errorf("Blocked(%q) = %v, want %v", tt.host, got, tt.blocked)
		}
	}
	for _, bad := range []string{"https://evil.example/path", "evil.example:8080", "user@evil.example", "exa mple.com", "a..b"} {
		if _, err := app.ParseBlocklist(strings.NewReader("ok.example\n" + bad + "\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("ParseBlocklist(%q) error %v, want one naming line 2", bad, err)
		}
	}
}

// TestServiceRefusesBlockedHosts: Service.Create consults the policy after
// normalising the URL, so look-alike and case tricks do not get around it.
func TestServiceRefusesBlockedHosts(t *testing.T) {
	list, err := app.ParseBlocklist(strings.NewReader("evil.example\nаррӏе.com\n"))
	if err != nil {
		t.Fatal(err)
	}
	created := 0
	store := &mock.LinkStore{CreateLinkFn: func(context.Context, *app.Link) error { created++; return nil }}
	svc := &app.Service{Store: store, Hosts: list}
	for _, u := range []string{"https://EVIL.example./x", "https://login.evil.example/", "https://аррӏе.com/", "https://xn--80ak6aa92e.com/", "https://evil.example:8443/"} {
		_, err := svc.Create(context.Background(), app.CreateRequest{URL: u})
		if app.ErrorCode(err) != app.EINVALID || !strings.Contains(app.ErrorMessage(err), "is blocked on this shortener") {
			t.Errorf("Create(%q): %v, want a blocked-host refusal", u, err)
		}
	}
	if created != 0 {
		t.Fatalf("%d blocked links reached the store", created)
	}
	if _, err := svc.Create(context.Background(), app.CreateRequest{URL: "https://good.example/"}); err != nil {
		t.Fatalf("unblocked host refused: %v", err)
	}
}
