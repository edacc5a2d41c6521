package release

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pm "github.com/obsshort/shortener/ci/release/metricnames"
	"github.com/obsshort/shortener/ci/stack"
	"github.com/obsshort/shortener/ci/testfacts"
	"github.com/obsshort/shortener/internal/testenv"
)

// gitRepo is a scratch git clone of the test-facts fixture module (package
// greet and its tests), where a test commits changes as a developer would.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newFixtureRepo(t *testing.T) *gitRepo {
	t.Helper()
	testenv.RequireTool(t, "git")
	dir := t.TempDir()
	src := filepath.Join(testenv.ModuleRoot(t), "ci", "testfacts", "testdata", "fixture")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	r := &gitRepo{t: t, dir: dir}
	r.git("init", "-q", "-b", "main")
	r.git("add", ".")
	r.git("commit", "-q", "-m", "v1 of the fixture")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit replaces old by new in file and commits with msg; it returns the
// new HEAD.
func (r *gitRepo) commit(msg, file, old, new string) string {
	r.t.Helper()
	path := filepath.Join(r.dir, file)
	b, err := os.ReadFile(path)
	if err != nil {
		r.t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		r.t.Fatalf("%s lacks %q", file, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.git("commit", "-q", "-am", msg)
	return r.git("rev-parse", "HEAD")
}

// TestTestHealthGate runs the test stages of the pipeline on a scratch
// repository: the first build becomes the baseline when promoted; the
// incident's change (code broken, the test's expected value edited to
// match) passes its tests and is blocked naming the test; the same change
// with an override trailer goes through and counts the override; a change
// that adds a test is not blocked.
func TestTestHealthGate(t *testing.T) {
	testenv.RequireTool(t, "go")
	repo := newFixtureRepo(t)
	state := t.TempDir()
	var out bytes.Buffer
	p := &Pipeline{Stack: stack.Config{RepoRoot: repo.dir, StateDir: state, PushgatewayAddr: "127.0.0.1:1"}, Out: &out, Err: &out}
	rep, err := newReporter(p.Stack.PushgatewayURL(), state)
	if err != nil {
		t.Fatal(err)
	}
	p.rep = rep
	ctx := context.Background()
	// stages runs the two test stages as Run does and returns the results.
	stages := func(version, rev string) (Result, error) {
		t.Helper()
		out.Reset()
		res := Result{Version: version}
		stage := func(n int, name, what string, f func() (string, error)) error {
			detail, err := f()
			res.Stages = append(res.Stages, Stage{Name: name, Detail: detail})
			return err
		}
		skip := func(int, string, string) { t.Fatal("no stage may be skipped here") }
		err := p.testStages(ctx, Options{Version: version, Revision: rev}, &res, stage, skip)
		t.Logf("%s:\n%s", version, out.String())
		return res, err
	}

	v1 := repo.git("rev-parse", "HEAD")
	res, err := stages("v1", v1)
	if err != nil {
		t.Fatalf("first build: %v", err)
	}
	if got := res.Stages[1].Detail; !strings.Contains(got, "nothing to compare") {
		t.Errorf("first build's test-health detail %q: want nothing to compare", got)
	}
	if _, err := os.Stat(filepath.Join(state, "releases", "v1", "testfacts.json")); err != nil {
		t.Errorf("no facts artifact: %v", err)
	}
	p.promoted(ctx, Options{Version: "v1", Revision: v1}, &res)
	if res.LeadTime <= 0 || res.LeadTime > time.Hour {
		t.Errorf("lead time %s, want the seconds since the fixture's commit", res.LeadTime)
	}

	bad := repo.commit("app: greeting", "greet/greet.go", `return "Hi jeff"`, `return "Hi jeff "`)
	repo.commit("tests: fix the greeting test", "greet/greet_test.go", `greeting != "Hi jeff"`, `greeting != "Hi jeff "`)
	res, err = stages("v2", repo.git("rev-parse", "HEAD"))
	if err == nil {
		t.Fatal("the incident's change was not blocked")
	}
	for _, want := range []string{"TestGreeting", testfacts.KindExpectation, `was "Hi jeff", now "Hi jeff "`, "example.com/fixture/greet", "Test-Health-Override: TestGreeting: <why>"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("block message %q does not name %q", err, want)
		}
	}
	if len(res.TestHealth) != 1 || res.TestHealth[0].Test != "TestGreeting" {
		t.Errorf("findings %v, want one for TestGreeting", res.TestHealth)
	}
	got := flatten(t, rep)
	if got[`release_test_health_findings{kind="expectation",revision="`+res.TestFacts.Revision+`",state="blocking",version="v2"}`] != 1 {
		t.Errorf("the blocking finding is not pushed: %v", got)
	}
	if got[`release_tests{package="example.com/fixture/greet",result="pass",revision="`+res.TestFacts.Revision+`",version="v2"}`] < 5 {
		t.Errorf("test counts of v2 are not pushed with its version and revision")
	}

	// The same change, declared: the trailer lets it through and counts.
	repo.commit("tests: the greeting ends with a space now\n\nTest-Health-Override: TestGreeting: product wants the space (ticket 7)", "greet/greet.go", "// Hello greets name.", "// Hello greets a name.")
	res, err = stages("v3", repo.git("rev-parse", "HEAD"))
	if err != nil {
		t.Fatalf("overridden change blocked: %v", err)
	}
	if len(res.TestHealth) != 1 || res.TestHealth[0].Override != "product wants the space (ticket 7)" {
		t.Errorf("findings %+v, want TestGreeting overridden with the trailer's reason", res.TestHealth)
	}
	if got := flatten(t, rep); got[`release_test_health_overrides_total{kind="expectation"}`] != 1 {
		t.Errorf("override not counted: %v", got)
	}
	if !strings.Contains(out.String(), "overridden") {
		t.Errorf("the override is not said:\n%s", out.String())
	}

	// Back to v1's tests, plus a new test: not blocked.
	repo.git("revert", "--no-edit", "HEAD", "HEAD~1", bad)
	repo.commit("tests: cover Whisper with an empty name", "greet/greet_test.go", "func TestShout(", "func TestWhisperEmpty(t *testing.T) {\n\tif Whisper(\"\") != \"hi \" {\n\t\tt.Error(\"whisper without a name\")\n\t}\n}\n\nfunc TestShout(")
	res, err = stages("v4", repo.git("rev-parse", "HEAD"))
	if err != nil {
		t.Fatalf("a change that adds a test was blocked: %v", err)
	}
	if len(res.TestHealth) != 0 {
		t.Errorf("findings %v for a change that only adds a test", res.TestHealth)
	}
	if res.Stages[0].Name != pm.StageTest || res.Stages[1].Name != pm.StageTestHealth {
		t.Errorf("stages %+v", res.Stages)
	}
}

// TestCustomTestCommandSkipsTheGate: a caller's own test command gives no
// facts, so the gate says it was skipped instead of passing silently.
func TestCustomTestCommandSkipsTheGate(t *testing.T) {
	var out bytes.Buffer
	p := &Pipeline{Stack: stack.Config{RepoRoot: t.TempDir()}, Out: &out, Err: &out}
	var skipped []string
	stage := func(n int, name, what string, f func() (string, error)) error { _, err := f(); return err }
	skip := func(_ int, name, why string) { skipped = append(skipped, name+": "+why) }
	res := Result{}
	if err := p.testStages(context.Background(), Options{Version: "v2", TestCommand: []string{"true"}}, &res, stage, skip); err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 1 || !strings.HasPrefix(skipped[0], pm.StageTestHealth+": ") || res.TestFacts != nil {
		t.Errorf("skipped %q, facts %v", skipped, res.TestFacts)
	}
}
