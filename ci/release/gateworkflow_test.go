package release

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/obsshort/shortener/ci/gate"
	"github.com/obsshort/shortener/internal/testenv"
)

// TestGateWorkflowContract checks the reusable gate workflow
// (.github/workflows/gate.yml) beyond actionlint: every input and secret
// is documented, the exit codes map to the gate's own, only a pass lets
// the job succeed, and the report is uploaded whatever happened.
func TestGateWorkflowContract(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), ".github", "workflows", "gate.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		On struct {
			WorkflowCall struct {
				Inputs  map[string]struct{ Description string } `yaml:"inputs"`
				Secrets map[string]struct{ Description string } `yaml:"secrets"`
				Outputs map[string]struct{ Description string } `yaml:"outputs"`
			} `yaml:"workflow_call"`
		} `yaml:"on"`
		Jobs map[string]struct {
			Steps []struct {
				ID   string            `yaml:"id"`
				If   string            `yaml:"if"`
				Uses string            `yaml:"uses"`
				Run  string            `yaml:"run"`
				With map[string]string `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatal(err)
	}
	wc := wf.On.WorkflowCall
	if len(wc.Inputs) == 0 || wc.Outputs["outcome"].Description == "" {
		t.Fatal("gate.yml is not a reusable workflow with inputs and an outcome output")
	}
	for name, in := range wc.Inputs {
		if in.Description == "" {
			t.Errorf("input %s is not documented", name)
		}
	}
	for name, s := range wc.Secrets {
		if s.Description == "" {
			t.Errorf("secret %s is not documented", name)
		}
	}
	job, ok := wf.Jobs["gate"]
	if !ok {
		t.Fatal("no job gate")
	}
	mapped := map[int]string{}
	uploaded, verdict := false, false
	caseLine := regexp.MustCompile(`(?m)^\s*(\d)\) outcome=(\w+) ;;`)
	for _, s := range job.Steps {
		if s.ID == "analyze" {
			for _, m := range caseLine.FindAllStringSubmatch(s.Run, -1) {
				n, _ := strconv.Atoi(m[1])
				mapped[n] = m[2]
			}
			if strings.Contains(s.Run, "token") || !strings.Contains(s.Run, "--output json") {
				t.Errorf("analyze step: the token must come from the environment and the report be JSON:\n%s", s.Run)
			}
		}
		if strings.HasPrefix(s.Uses, "actions/upload-artifact@") && s.If == "always()" && s.With["path"] == "gate-report.json" {
			uploaded = true
		}
		if strings.Contains(s.If, "outcome != 'pass'") && strings.Contains(s.Run, "exit 1") {
			verdict = true
		}
	}
	for code, want := range map[int]string{gate.ExitPass: "pass", gate.ExitFail: "fail", gate.ExitInconclusive: "inconclusive"} {
		if mapped[code] != want {
			t.Errorf("exit %d maps to %q, want %q", code, mapped[code], want)
		}
	}
	if !uploaded {
		t.Error("the report is not uploaded on every outcome (upload-artifact, if: always())")
	}
	if !verdict {
		t.Error("no step fails the job on anything but a pass")
	}
}
