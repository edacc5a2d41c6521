package release

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/testenv"
)

func TestSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bin := testenv.BuildBinary(t, "./app/cmd/shortener", "")
	out, err := Smoke(ctx, bin)
	if err != nil {
		t.Fatalf("smoke of a good binary: %v", err)
	}
	if !strings.Contains(out, "SIGTERM -> exit 0") {
		t.Errorf("summary %q", out)
	}

	// A binary that dies at start must fail the stage fast, with its output.
	crash := filepath.Join(t.TempDir(), "crash")
	if err := os.WriteFile(crash, []byte("#!/bin/sh\necho 'cannot open database' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Smoke(ctx, crash)
	if err == nil || !strings.Contains(err.Error(), "cannot open database") {
		t.Fatalf("smoke of a crashing binary: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("crash noticed after %s", time.Since(start))
	}
}
