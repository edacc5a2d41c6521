// The hosted workflows in .github/workflows run the tests on every pull
// request and deploy from main through this pipeline; these tests keep
// them valid.

package release

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/obsshort/shortener/internal/testenv"
)

// TestWorkflowsPassActionlint runs actionlint (pinned as a tool in go.mod)
// on .github/workflows, with .github/actionlint.yaml for the self-hosted
// runner labels.
func TestWorkflowsPassActionlint(t *testing.T) {
	root := testenv.ModuleRoot(t)
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("workflows found: %v, want ci.yml and deploy.yml", files)
	}
	cmd := exec.Command("go", append([]string{"tool", "actionlint", "-no-color"}, files...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
}

// TestDeployIsGuarded checks the properties the incident's post-mortem
// asked for, which actionlint cannot know: deploys only from main, behind
// the protected production environment, after the tests, never two at a
// time, with a rollback when the job does not finish.
func TestDeployIsGuarded(t *testing.T) {
	root := testenv.ModuleRoot(t)
	b, err := os.ReadFile(filepath.Join(root, ".github", "workflows", "deploy.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		On          map[string]any `yaml:"on"`
		Concurrency struct {
			Group            string `yaml:"group"`
			CancelInProgress bool   `yaml:"cancel-in-progress"`
		} `yaml:"concurrency"`
		Jobs map[string]struct {
			Needs       any            `yaml:"needs"`
			If          string         `yaml:"if"`
			Uses        string         `yaml:"uses"`
			Environment map[string]any `yaml:"environment"`
			Steps       []struct {
				If  string `yaml:"if"`
				Run string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatal(err)
	}
	push, _ := wf.On["push"].(map[string]any)
	if branches, _ := push["branches"].([]any); len(branches) != 1 || branches[0] != "main" {
		t.Errorf("deploy runs on pushes to %v, want only main", push["branches"])
	}
	if wf.Concurrency.Group == "" || wf.Concurrency.CancelInProgress {
		t.Errorf("concurrency %+v: want one group, never cancelling a release in flight", wf.Concurrency)
	}
	if wf.Jobs["test"].Uses != "./.github/workflows/ci.yml" {
		t.Errorf("job test uses %q, want the ci workflow", wf.Jobs["test"].Uses)
	}
	rel, ok := wf.Jobs["release"]
	if !ok {
		t.Fatal("no release job")
	}
	if rel.Needs != "test" {
		t.Errorf("release needs %v, want test", rel.Needs)
	}
	if !strings.Contains(rel.If, "refs/heads/main") {
		t.Errorf("release if %q, want a main-only condition", rel.If)
	}
	if rel.Environment["name"] != "production" {
		t.Errorf("release environment %v, want production", rel.Environment)
	}
	var releases, rollback bool
	for _, s := range rel.Steps {
		releases = releases || strings.Contains(s.Run, "make release ")
		rollback = rollback || (strings.Contains(s.If, "failure()") && strings.Contains(s.Run, "release-rollback"))
	}
	if !releases || !rollback {
		t.Errorf("release steps: pipeline run %v, rollback on failure %v; want both", releases, rollback)
	}
}
