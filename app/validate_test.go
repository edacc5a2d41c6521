package app_test

import (
	"strings"
	"testing"

	"github.com/obsshort/shortener/app"
)

func TestValidateURL(t *testing.T) {
	self := []string{"sho.rt", "127.0.0.1:8080"}
	tests := []struct {
		name    string
		in      string
		want    string // normalised form when accepted
		wantErr string // substring of the message when refused
	}{
		{"plain https", "https://example.com/a?b=c#d", "https://example.com/a?b=c#d", ""},
		{"plain http with port", "http://example.com:8443/x", "http://example.com:8443/x", ""},
		{"upper-case scheme and host", "HTTPS://EXAMPLE.com/Path", "https://example.com/Path", ""},
		{"unicode host to punycode", "https://exämple.com/", "https://xn--exmple-cua.com/", ""},
		{"ipv4 host", "http://192.0.2.1/x", "http://192.0.2.1/x", ""},
		{"ipv6 host", "http://[2001:db8::1]:8080/x", "http://[2001:db8::1]:8080/x", ""},
		{"percent-encoded space allowed", "https://example.com/a%20b", "https://example.com/a%20b", ""},
		{"empty", "", "", "url is required"},
		{"javascript", "javascript:alert(1)", "", `scheme "javascript" is not allowed`},
		{"data", "data:text/html,<script>", "", `scheme "data" is not allowed`},
		{"file", "file:///etc/passwd", "", `scheme "file" is not allowed`},
		{"ftp", "ftp://example.com/", "", `scheme "ftp" is not allowed`},
		{"relative", "/just/a/path", "", "not absolute"},
		{"no scheme", "example.com/path", "", "not absolute"},
		{"protocol relative", "//evil.example/", "", "protocol-relative"},
		{"no host", "https:///path", "", "no host"},
		{"opaque", "https:example.com", "", "no host"},
		{"credentials", "https://user:pass@example.com/", "", "user name or password"},
		{"space", "https://example.com/a b", "", "whitespace"},
		{"tab", "https://example.com/\tb", "", "whitespace"},
		{"newline", "https://example.com/\nb", "", "whitespace"},
		{"encoded NUL", "https://example.com/%00", "", "percent-encoded control"},
		{"encoded newline", "https://example.com/%0a", "", "percent-encoded control"},
		{"encoded DEL", "https://example.com/%7F", "", "percent-encoded control"},
		{"too long", "https://example.com/" + strings.Repeat("a", 2048), "", "limit is 2048"},
		{"self by base host", "https://sho.rt/abc", "", "points at this shortener"},
		{"self by listener", "http://127.0.0.1:8080/abc", "", "points at this shortener"},
		{"invalid utf8", "https://example.com/\xff", "", "UTF-8"},
		{"bad host", "https://exa_mple..com/", "", "not a valid domain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := app.ValidateURL(tt.in, self)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ValidateURL(%q) = %q, want error containing %q", tt.in, got, tt.wantErr)
				}
				if app.ErrorCode(err) != app.EINVALID {
					t.Errorf("code = %q, want invalid", app.ErrorCode(err))
				}
				if !strings.Contains(app.ErrorMessage(err), tt.wantErr) {
					t.Errorf("message %q does not contain %q", app.ErrorMessage(err), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ValidateURL(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ValidateURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestValidateAlias(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"abc", ""},
		{"My_Link-2026", ""},
		{strings.Repeat("a", 64), ""},
		{"ab", "3 to 64"},
		{strings.Repeat("a", 65), "3 to 64"},
		{"has space", "only letters"},
		{"slash/no", "only letters"},
		{"ünï", "only letters"},
		{"dot.dot", "only letters"},
		{"api", "reserved"},
		{"HEALTHZ", "reserved"},
		{"metrics", "reserved"},
		{"static", "reserved"},
		{"readyz", "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			err := app.ValidateAlias(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateAlias(%q): %v", tt.in, err)
				}
				return
			}
			if err == nil || !strings.Contains(app.ErrorMessage(err), tt.wantErr) {
				t.Fatalf("ValidateAlias(%q) = %v, want error containing %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestNewCode(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 2000 {
		c, err := app.NewCode()
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != app.CodeLength {
			t.Fatalf("code %q has length %d, want %d", c, len(c), app.CodeLength)
		}
		for _, r := range c {
			if !strings.ContainsRune(app.CodeAlphabet, r) {
				t.Fatalf("code %q holds %q, not in the alphabet", c, r)
			}
			counts[r]++
		}
		if seen[c] {
			t.Fatalf("code %q generated twice in 2000 draws", c)
		}
		seen[c] = true
		if !app.ValidCodeSyntax(c) {
			t.Fatalf("generated code %q fails ValidCodeSyntax", c)
		}
	}
	for _, lookAlike := range "0O1lIio" {
		if strings.ContainsRune(app.CodeAlphabet, lookAlike) {
			t.Errorf("alphabet holds look-alike %q", lookAlike)
		}
	}
	// 14000 draws over 55 symbols: each expected ~255; a symbol never drawn
	// or drawn 3x too often would mean a broken sampler.
	for _, r := range app.CodeAlphabet {
		if n := counts[r]; n < 85 || n > 765 {
			t.Errorf("symbol %q drawn %d times; distribution is off", r, n)
		}
	}
}
