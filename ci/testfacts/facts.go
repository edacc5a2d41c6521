// Package testfacts holds what a build's tests did, as facts that can be
// compared from one build to the next: per package the tests that ran and
// their results (from `go test -json`), statement coverage, per test
// function the number of assertions and the expected values it checks
// (from the Go syntax tree), fuzz executions, lint findings, build time,
// binary sizes and the benchmark guard ratios.
//
// The release pipeline collects them in its test stage, keeps them as a
// JSON artifact beside the release's binaries, pushes them as metrics, and
// compares them with the facts of the last promoted build (Compare): a test
// that disappears, starts skipping, loses assertions or has its expected
// values edited, a coverage drop or a guard ratio regression blocks the
// release unless the commit message overrides it by name.
package testfacts

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Test results, as `go test -json` reports them.
const (
	ResultPass = "pass"
	ResultFail = "fail"
	ResultSkip = "skip"
)

// Facts are the test-stage facts of one build.
type Facts struct {
	Version    string    `json:"version"`
	Revision   string    `json:"revision"`
	CommitTime time.Time `json:"commit_time,omitzero"`
	Collected  time.Time `json:"collected"`
	// Scope is the package patterns the tests ran on; facts are compared
	// only with a baseline of the same scope.
	Scope []string `json:"scope"`
	// Packages by import path.
	Packages map[string]*Package `json:"packages"`
	// FuzzExecutions by "import/path.FuzzName".
	FuzzExecutions map[string]int64 `json:"fuzz_executions,omitempty"`
	// Lint findings by linter (go vet, staticcheck); a linter that did not
	// run is absent.
	Lint map[string]int `json:"lint,omitempty"`
	// LintSample is the first few findings, for the report.
	LintSample []string `json:"lint_sample,omitempty"`
	// BuildSeconds is the wall time of the build stage.
	BuildSeconds float64 `json:"build_seconds,omitempty"`
	// BinaryBytes by binary name.
	BinaryBytes map[string]int64 `json:"binary_bytes,omitempty"`
	// BenchRatios by guard name ("import/path.BenchmarkX"): the benchmark's
	// CPU time per operation divided by its package's baseline benchmark's
	// in the same run. Higher is slower.
	BenchRatios map[string]float64 `json:"bench_ratios,omitempty"`
	// CheckSeconds is the wall time of each collection step (go test,
	// source scan, fuzz, lint, bench): what each check costs.
	CheckSeconds map[string]float64 `json:"check_seconds"`
}

// Package is one package's facts.
type Package struct {
	// Tests maps every test and subtest that reported a result ("TestA",
	// "TestA/case") to ResultPass, ResultFail or ResultSkip.
	Tests map[string]string `json:"tests"`
	// Coverage is the statement coverage in percent, when reported.
	Coverage *float64 `json:"coverage,omitempty"`
	// Functions are the package's Test and Fuzz functions, from source.
	Functions map[string]Function `json:"functions,omitempty"`
	// Shared are the expected values in package-level variables of the
	// test files (test tables), by variable name.
	Shared map[string]map[string]int `json:"shared_expectations,omitempty"`
}

// Function is what the syntax tree says about one test function.
type Function struct {
	// Assertions counts the places that can fail the test: calls of
	// Error, Errorf, Fatal, Fatalf, Fail and FailNow on a testing value,
	// and calls of the project's helpers that (transitively) make them.
	Assertions int `json:"assertions"`
	// Expectations is the multiset of expected values: literals (and
	// comparison operators) in the condition of an if whose body asserts,
	// literals given to want*/expect* names or fields, and literals passed
	// to asserting helpers.
	Expectations map[string]int `json:"expectations,omitempty"`
}

// Count returns how many tests (and subtests) reported result r.
func (p *Package) Count(r string) int {
	n := 0
	for _, got := range p.Tests {
		if got == r {
			n++
		}
	}
	return n
}

// Assertions is the sum over the package's test functions.
func (p *Package) Assertions() int {
	n := 0
	for _, f := range p.Functions {
		n += f.Assertions
	}
	return n
}

// WithoutAssertions lists the test functions that cannot fail, sorted.
func (p *Package) WithoutAssertions() []string {
	var out []string
	for name, f := range p.Functions {
		if f.Assertions == 0 && strings.HasPrefix(name, "Test") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Totals are module-wide sums.
type Totals struct {
	Packages, Tests, Passed, Failed, Skipped, Functions, Assertions, WithoutAssertions int
}

// Totals sums the packages.
func (f *Facts) Totals() Totals {
	var t Totals
	for _, p := range f.Packages {
		t.Packages++
		t.Tests += len(p.Tests)
		t.Passed += p.Count(ResultPass)
		t.Failed += p.Count(ResultFail)
		t.Skipped += p.Count(ResultSkip)
		t.Functions += len(p.Functions)
		t.Assertions += p.Assertions()
		t.WithoutAssertions += len(p.WithoutAssertions())
	}
	return t
}

// ScopeKey names the scope in file names: facts of different scopes are
// kept apart.
func (f *Facts) ScopeKey() string { return ScopeKey(f.Scope) }

// ScopeKey turns package patterns into a file-name-safe key: "all" for
// ./..., otherwise the patterns with every other character than letters,
// digits, - and _ turned into _.
func ScopeKey(patterns []string) string {
	s := strings.Join(patterns, "+")
	if s == "" || s == "./..." {
		return "all"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, strings.TrimPrefix(s, "./"))
}

// Save writes the facts as indented JSON, atomically.
func (f *Facts) Save(path string) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode test facts: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("save test facts: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save test facts: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save test facts: %w", err)
	}
	return nil
}

// ErrNoFacts says there is no facts file at the path.
var ErrNoFacts = errors.New("no test facts")

// Load reads facts saved by Save. A missing file is ErrNoFacts.
func Load(path string) (*Facts, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, ErrNoFacts)
	}
	if err != nil {
		return nil, fmt.Errorf("read test facts: %w", err)
	}
	var f Facts
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parse test facts %s: %w", path, err)
	}
	if f.Packages == nil {
		f.Packages = map[string]*Package{}
	}
	return &f, nil
}

// pkg returns the package entry, created when missing.
func (f *Facts) pkg(path string) *Package {
	if f.Packages == nil {
		f.Packages = map[string]*Package{}
	}
	p := f.Packages[path]
	if p == nil {
		p = &Package{Tests: map[string]string{}}
		f.Packages[path] = p
	}
	if p.Tests == nil {
		p.Tests = map[string]string{}
	}
	return p
}
