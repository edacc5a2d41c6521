// Package moduleroot finds the root of this repository (the folder whose
// go.mod declares this module), for tests and for the commands that work on
// the repository (the release pipeline, the benchmark harness).
package moduleroot

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/modfile"
)

// modulePath is what go.mod at the repository root declares.
const modulePath = "github.com/obsshort/shortener"

// Find walks up from dir to the folder whose go.mod declares this module; a
// go.mod of another module on the way (a test fixture, say) is passed over.
func Find(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for d := dir; ; {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && modfile.ModulePath(b) == modulePath {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("find module root: no go.mod of %s in %s or above: run from the repository", modulePath, dir)
		}
		d = parent
	}
}
