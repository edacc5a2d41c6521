package postgres_test

import (
	"strings"
	"testing"

	"github.com/obsshort/shortener/app/postgres"
)

func TestCheckURLAndRedact(t *testing.T) {
	tests := []struct {
		url      string
		isURL    bool
		wantErr  string
		redacted string
	}{
		{"postgres://app@db:5432/links?sslmode=require", true, "", "postgres://app@db:5432/links?sslmode=require"},
		{"POSTGRESQL://app@db/links", true, "", "postgresql://app@db/links"},
		{"postgres://app:pw-secret@db/links", true, "holds a password", "postgres://app:xxxxx@db/links"},
		{"postgres://app@db/links?password=pw-secret", true, "holds a password", "postgres://app@db/links?password=xxxxx"},
		{"./data/shortener.db", false, "not a postgres", ""},
		{"file:links.db", false, "not a postgres", ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			if got := postgres.IsURL(tt.url); got != tt.isURL {
				t.Fatalf("IsURL = %v, want %v", got, tt.isURL)
			}
			err := postgres.CheckURL(tt.url)
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("CheckURL: %v, want %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "pw-secret") {
				t.Fatalf("the error repeats the password: %v", err)
			}
			if tt.redacted != "" {
				if got := postgres.Redact(tt.url); !strings.EqualFold(got, tt.redacted) || strings.Contains(got, "pw-secret") {
					t.Fatalf("Redact = %q, want %q", got, tt.redacted)
				}
			}
		})
	}
}
