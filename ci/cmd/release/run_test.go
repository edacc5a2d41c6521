package main

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // printed for the user (usage, flag help)
		wantErr  error  // the reason the error carries, for main to print
		wantMsg  string // what that message must name
	}{
		{name: "no command", args: []string{"release"}, wantCode: 3, wantOut: "usage"},
		{name: "unknown command", args: []string{"release", "nope"}, wantCode: 3, wantOut: "unknown command"},
		{name: "stack without sub", args: []string{"release", "stack"}, wantCode: 3, wantOut: "usage"},
		{name: "unknown stack command", args: []string{"release", "stack", "sideways", "--state", "/nonexistent/x"}, wantCode: 3, wantOut: "unknown stack command"},
		{name: "release without version", args: []string{"release", "release"}, wantCode: 3, wantOut: "--version is required"},
		{name: "release without a stack", args: []string{"release", "release", "--version", "v9", "--state", "/nonexistent/x"},
			wantCode: 3, wantErr: errNoStack, wantMsg: "/nonexistent/x"},
		{name: "rollback without a stack", args: []string{"release", "rollback", "--state", "/nonexistent/x"},
			wantCode: 3, wantErr: errNoStack, wantMsg: "/nonexistent/x"},
		{name: "replay without a stack", args: []string{"release", "replay-incident", "--state", "/nonexistent/x"},
			wantCode: 3, wantErr: errNoStack, wantMsg: "/nonexistent/x"},
		{name: "bad steps", args: []string{"release", "release", "--version", "v9", "--steps", "10,x", "--state", "/nonexistent/x"},
			wantCode: 3, wantErr: strconv.ErrSyntax, wantMsg: "--steps"},
		{name: "bad steps in replay", args: []string{"release", "replay-incident", "--steps", "ten", "--state", "/nonexistent/x"},
			wantCode: 3, wantErr: strconv.ErrSyntax, wantMsg: "--steps"},
		{name: "unknown flag", args: []string{"release", "release", "--versoin", "v9"}, wantCode: 3, wantOut: "-versoin"},
		{name: "help", args: []string{"release", "help"}, wantCode: 0, wantOut: "replay-incident"},
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
				t.Errorf("output lacks %q:\n%s", tt.wantOut, out.String())
			}
			if tt.wantErr == nil {
				// The reason is in the output already: main prints nothing more.
				if err != nil && err.Error() != "" {
					t.Errorf("error %q repeats what the output said", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want one that is %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not name %s", err, tt.wantMsg)
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
