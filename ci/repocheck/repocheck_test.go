package repocheck_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/obsshort/shortener/ci/repocheck"
	"github.com/obsshort/shortener/internal/testenv"
)

func gitRepo(t *testing.T, files map[string][]byte, executable ...string) string {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.invalid"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if slices.Contains(executable, name) {
			mode = 0o755
		}
		if err := os.WriteFile(p, content, mode); err != nil {
			t.Fatal(err)
		}
	}
	git("add", "-A")
	return dir
}

func TestCheck(t *testing.T) {
	testenv.RequireTool(t, "git")
	elf := append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 100)...)
	cases := []struct {
		name       string
		files      map[string][]byte
		executable []string
		want       []string // paths reported
	}{
		{"sources only", map[string][]byte{"main.go": []byte("package main\n"), "README.md": []byte("# x\n")}, nil, nil},
		{"script with exec bit", map[string][]byte{"ci/run": []byte("#!/bin/sh\nmake test\n")}, []string{"ci/run"}, nil},
		{"committed Go binary", map[string][]byte{"shortener": elf, "main.go": []byte("package main\n")}, nil, []string{"shortener"}},
		{"binary in a subfolder, exec bit", map[string][]byte{"bin/gate": elf}, []string{"bin/gate"}, []string{"bin/gate"}},
		{"Windows binary", map[string][]byte{"tool.exe": append([]byte("MZ"), make([]byte, 60)...)}, nil, []string{"tool.exe"}},
		{"large data file", map[string][]byte{"data/dump.json": bytes.Repeat([]byte("a"), repocheck.MaxFileBytes+1)}, nil, []string{"data/dump.json"}},
		{"exactly at the limit", map[string][]byte{"data/ok.txt": bytes.Repeat([]byte("a"), repocheck.MaxFileBytes)}, nil, nil},
		{"exec bit on data", map[string][]byte{"notes.txt": []byte("hello\n")}, []string{"notes.txt"}, []string{"notes.txt"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := gitRepo(t, tc.files, tc.executable...)
			got, err := repocheck.Check(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, f := range got {
				paths = append(paths, f.Path)
				if f.Reason == "" {
					t.Errorf("%s reported without a reason", f.Path)
				}
			}
			if !slices.Equal(paths, tc.want) {
				t.Errorf("reported %v, want %v (findings %v)", paths, tc.want, got)
			}
		})
	}
}

func TestCheckOutsideARepository(t *testing.T) {
	testenv.RequireTool(t, "git")
	_, err := repocheck.Check(context.Background(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "git ls-files") {
		t.Fatalf("Check outside a repository: err = %v, want a git ls-files error", err)
	}
}

// TestThisRepository keeps this repository itself clean.
func TestThisRepository(t *testing.T) {
	testenv.RequireTool(t, "git")
	root := testenv.ModuleRoot(t)
	if _, err := os.Stat(filepath.Join(root, ".git")); err != nil {
		testenv.SkipUnlessCI(t, "not a git checkout (%v)", err)
	}
	got, err := repocheck.Check(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range got {
		t.Errorf("tracked file must leave git: %s", f)
	}
}
