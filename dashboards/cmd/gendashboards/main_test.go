package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteThenCheck: the files written pass -check; a hand edit to one of
// them fails it, naming the file.
func TestWriteThenCheck(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"gendashboards", "-out", dir}, &out, &out); err != nil {
		t.Fatalf("write: %v\n%s", err, out.String())
	}
	if err := run(context.Background(), []string{"gendashboards", "-out", dir, "-check"}, &out, &out); err != nil {
		t.Fatalf("check right after writing: %v", err)
	}
	path := filepath.Join(dir, "overview.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(`"Request rate"`), []byte(`"Request rate (edited)"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"gendashboards", "-out", dir, "-check"}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "overview.json") || strings.Contains(err.Error(), "canary.json") {
		t.Errorf("check after a hand edit of overview.json: %v", err)
	}
}
