package moduleroot

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFind(t *testing.T) {
	root := t.TempDir()
	write := func(path, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	repo := filepath.Join(root, "repo")
	write(filepath.Join(repo, "go.mod"), "// the module\nmodule "+modulePath+"\n\ngo 1.26\n")
	write(filepath.Join(repo, "fixture", "go.mod"), "module example.com/fixture\n")
	write(filepath.Join(root, "quoted", "go.mod"), "module \""+modulePath+"\"\n")
	write(filepath.Join(root, "lookalike", "go.mod"), "module "+modulePath+"/v2\n")
	for _, d := range []string{"repo/a/b", "repo/fixture/x", "quoted/sub", "lookalike/sub", "elsewhere"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		from, want string // relative to root; want "" for an error
	}{
		{"repo", "repo"},
		{"repo/a/b", "repo"},
		{"repo/fixture/x", "repo"}, // another module's go.mod is passed over
		{"quoted/sub", "quoted"},
		{"lookalike/sub", ""},
		{"elsewhere", ""},
	}
	for _, tt := range tests {
		got, err := Find(filepath.Join(root, tt.from))
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("from %s: found %s, want an error", tt.from, got)
		case tt.want != "" && (err != nil || got != filepath.Join(root, tt.want)):
			t.Errorf("from %s: %q %v, want %s", tt.from, got, err, filepath.Join(root, tt.want))
		}
	}
}
