package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"no command", []string{"release"}, 3, "usage"},
		{"unknown command", []string{"release", "nope"}, 3, "unknown command"},
		{"stack without sub", []string{"release", "stack"}, 3, "usage"},
		{"unknown stack command", []string{"release", "stack", "sideways", "--state", "/nonexistent/x"}, 3, "unknown stack command"},
		{"release without version", []string{"release", "release"}, 3, "--version is required"},
		{"release without a stack", []string{"release", "release", "--version", "v9", "--state", "/nonexistent/x"}, 3, ""},
		{"bad steps", []string{"release", "release", "--version", "v9", "--steps", "10,x", "--state", "/nonexistent/x"}, 3, ""},
		{"help", []string{"release", "help"}, 0, "replay-incident"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tt.args, func(string) string { return "" }, &out, &out)
			code := 0
			var ec exitCode
			if errors.As(err, &ec) {
				code = ec.ExitCode()
			} else if err != nil {
				code = -1
			}
			if code != tt.wantCode {
				t.Fatalf("exit %d (%v), want %d\n%s", code, err, tt.wantCode, out.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("output lacks %q:\n%s", tt.wantOut, out.String())
			}
		})
	}
}

func TestStackDownWithoutStack(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"release", "stack", "down", "--state", t.TempDir()}, func(string) string { return "" }, &out, &out); err != nil {
		t.Fatalf("down without a stack: %v", err)
	}
	if !strings.Contains(out.String(), "nothing to stop") {
		t.Fatalf("output %q", out.String())
	}
}
