package app_test

import (
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/obsshort/shortener/app"
)

// selfHosts stands for the service's own address in the fuzz targets, so the
// self-link rule is exercised too.
var fuzzSelfHosts = []string{"sho.rt", "127.0.0.1:8080"}

// FuzzValidateURL checks that ValidateURL never panics and that whatever it
// accepts is safe to redirect to: absolute http(s) with a host, within the
// length limit, free of whitespace, control characters (raw or
// percent-encoded) and credentials, host in ASCII, and stable when validated
// again. Seeds live in testdata/fuzz/FuzzValidateURL.
func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{
		"https://example.com", "http://example.com/a?b=c#d", "javascript:alert(1)",
		"//evil.com", "https://user:pw@example.com", "https://exаmple.com", "https://例え.jp/パス",
		"http://[::1]:8080/x", "https://example.com/%0a", "https://sho.rt:443/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out, err := app.ValidateURL(raw, fuzzSelfHosts)
		if err != nil {
			if code := app.ErrorCode(err); code != app.EINVALID {
				t.Fatalf("ValidateURL(%q) error code %q, want %q: %v", raw, code, app.EINVALID, err)
			}
			if app.ErrorMessage(err) == "" {
				t.Fatalf("ValidateURL(%q): empty error message", raw)
			}
			return
		}
		checkAcceptedURL(t, raw, out)
		again, err := app.ValidateURL(out, fuzzSelfHosts)
		if err != nil {
			t.Fatalf("ValidateURL(%q) = %q, which is then refused: %v", raw, out, err)
		}
		if again != out {
			t.Fatalf("ValidateURL not stable: %q -> %q -> %q", raw, out, again)
		}
	})
}

// checkAcceptedURL states what every accepted URL must satisfy.
func checkAcceptedURL(t *testing.T, raw, out string) {
	t.Helper()
	if len(out) > app.MaxURLBytes {
		t.Fatalf("ValidateURL(%q) accepted %d bytes, limit %d", raw, len(out), app.MaxURLBytes)
	}
	if !utf8.ValidString(out) {
		t.Fatalf("ValidateURL(%q) = %q: not UTF-8", raw, out)
	}
	for _, r := range out {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			t.Fatalf("ValidateURL(%q) = %q: holds %U", raw, out, r)
		}
	}
	if dec, err := url.PathUnescape(out); err == nil {
		for _, r := range dec {
			if (unicode.IsSpace(r) && r != ' ') || unicode.IsControl(r) {
				t.Fatalf("ValidateURL(%q) = %q: holds percent-encoded %U", raw, out, r)
			}
		}
	}
	u, err := url.Parse(out)
	if err != nil {
		t.Fatalf("ValidateURL(%q) = %q, which does not parse: %v", raw, out, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		t.Fatalf("ValidateURL(%q) = %q: scheme %q", raw, out, u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		t.Fatalf("ValidateURL(%q) = %q: no host", raw, out)
	}
	if u.User != nil || strings.Contains(u.Host, "@") {
		t.Fatalf("ValidateURL(%q) = %q: holds credentials", raw, out)
	}
	for i := 0; i < len(u.Host); i++ {
		if c := u.Host[i]; c >= utf8.RuneSelf || c == '/' || c == '\\' || c == '%' {
			t.Fatalf("ValidateURL(%q) = %q: host %q holds %q", raw, out, u.Host, c)
		}
	}
	if port := u.Port(); strings.EqualFold(u.Hostname(), "sho.rt") && (port == "" || port == "80" || port == "443") {
		t.Fatalf("ValidateURL(%q) = %q: a link to the service itself", raw, out)
	}
}

// FuzzValidateAlias checks that ValidateAlias never panics and accepts only
// codes the redirect route can serve: within length, from the allowed
// alphabet, not reserved.
func FuzzValidateAlias(f *testing.F) {
	for _, s := range []string{"my-link", "ab", "api", "Healthz", "a/b/c", "ünï", strings.Repeat("x", 65), "x_y-Z9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, alias string) {
		err := app.ValidateAlias(alias)
		if err != nil {
			if code := app.ErrorCode(err); code != app.EINVALID {
				t.Fatalf("ValidateAlias(%q) error code %q, want %q", alias, code, app.EINVALID)
			}
			return
		}
		if !app.ValidCodeSyntax(alias) {
			t.Fatalf("ValidateAlias accepted %q, which ValidCodeSyntax refuses", alias)
		}
		if n := len(alias); n < app.MinAliasLen || n > app.MaxAliasLen {
			t.Fatalf("ValidateAlias accepted %q of %d bytes", alias, n)
		}
		switch strings.ToLower(alias) {
		case "api", "healthz", "readyz", "metrics", "static", "debug", "admin", "qr", "links":
			t.Fatalf("ValidateAlias accepted reserved %q", alias)
		}
		if url.PathEscape(alias) != alias {
			t.Fatalf("ValidateAlias accepted %q, which needs escaping in a path", alias)
		}
	})
}
