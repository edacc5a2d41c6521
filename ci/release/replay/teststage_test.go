package replay

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obsshort/shortener/internal/testenv"
)

// TestTestStageChangesApply: every edit of the test-stage replay still
// finds its text in the repository, and a file it creates does not exist,
// so a refactor of app/ cannot leave the scenario editing nothing (the
// end-to-end run in ci/cmd/release then proves the outcome).
func TestTestStageChangesApply(t *testing.T) {
	root := testenv.ModuleRoot(t)
	for _, c := range []Change{changeEditedExpectation, changeDeletedAssertion, changeAddedTest} {
		for _, e := range c.Edits {
			b, err := os.ReadFile(filepath.Join(root, e.File))
			switch {
			case e.Old == "" && err == nil:
				t.Errorf("%q would create %s, which exists", c.Message, e.File)
			case e.Old == "":
			case err != nil:
				t.Errorf("%q: %v", c.Message, err)
			case strings.Count(string(b), e.Old) != 1:
				t.Errorf("%q: %s holds %q %d times, want once", c.Message, e.File, e.Old, strings.Count(string(b), e.Old))
			}
		}
	}
}
