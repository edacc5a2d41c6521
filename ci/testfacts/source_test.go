package testfacts

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const fixturePkg = "example.com/fixture/greet"

// copyFixture copies testdata/fixture (a small module: package greet, its
// tests, an assertion helper in package check) into a temporary folder and
// applies the edits, each a file (relative) and an old/new pair.
func copyFixture(t *testing.T, edits ...edit) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir("testdata/fixture", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/fixture", p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edits {
		path := filepath.Join(dst, e.file)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), e.old) {
			t.Fatalf("edit of %s: %q not found", e.file, e.old)
		}
		if err := os.WriteFile(path, []byte(strings.Replace(string(b), e.old, e.new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

type edit struct{ file, old, new string }

func scanFixture(t *testing.T, edits ...edit) *Facts {
	t.Helper()
	f := &Facts{}
	if _, err := f.ScanSource(copyFixture(t, edits...), []string{"./..."}); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestAssertionsCounted(t *testing.T) {
	f := &Facts{}
	inv, err := f.ScanSource("testdata/fixture", []string{"./..."})
	if err != nil {
		t.Fatal(err)
	}
	p := f.Packages[fixturePkg]
	if p == nil {
		t.Fatalf("no package %s in %v", fixturePkg, f.Packages)
	}
	got := map[string]int{}
	for name, fn := range p.Functions {
		got[name] = fn.Assertions
	}
	want := map[string]int{
		"TestGreeting":       1,
		"TestHello":          1, // t.Errorf
		"TestShout":          1, // check.Equal, a helper in another package
		"TestWhisper":        1, // h.expect, a method asserting through a field
		"TestSkipsWhenAsked": 1,
		"FuzzHello":          1, // t.Errorf inside f.Fuzz's function
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("assertions = %v, want %v", got, want)
	}
	if _, ok := f.Packages["example.com/fixture/check"]; ok {
		t.Error("package check has no tests but got an entry")
	}
	wantInv := Inventory{Fuzz: []Target{{Dir: "./greet", Package: fixturePkg, Name: "FuzzHello"}}, BenchDirs: []string{"./greet"}}
	if !reflect.DeepEqual(inv, wantInv) {
		t.Errorf("inventory = %+v, want %+v", inv, wantInv)
	}
	if e := p.Functions["TestHello"].Expectations; e[`"Hi jeff"`] != 1 || e["op !="] != 1 {
		t.Errorf("TestHello expectations %v: want the literal \"Hi jeff\" and the != of its if", e)
	}
	if e := p.Shared["shoutCases"]; e[`"HI JEFF"`] != 1 || e[`"HI ANN"`] != 1 || e[`"jeff"`] != 0 {
		t.Errorf("shoutCases expectations %v: want the want column only", e)
	}
	if e := p.Functions["TestWhisper"].Expectations; e[`"hi bo"`] != 1 || e[`"Bo"`] != 1 {
		t.Errorf("TestWhisper expectations %v: literals passed to an asserting helper", e)
	}
}

// TestScanFindsTheWeakening edits the fixture the ways a test gets weaker
// and checks the comparison names the test; adding a test or a case is no
// finding.
func TestScanFindsTheWeakening(t *testing.T) {
	base := scanFixture(t)
	tests := []struct {
		name  string
		edits []edit
		want  []string // "kind test" of every finding
	}{
		{"nothing changed", nil, nil},
		{"the incident: expected value edited to match broken output",
			[]edit{{"greet/greet.go", `return "Hi jeff"`, `return "Hi jeff "`}, {"greet/greet_test.go", `greeting != "Hi jeff"`, `greeting != "Hi jeff "`}},
			[]string{"expectation TestGreeting"}},
		{"assertion deleted",
			[]edit{{"greet/greet_test.go", "if got := Hello(\"jeff\"); got != \"Hi jeff\" {\n\t\tt.Errorf(\"Hello(jeff) = %q, want %q\", got, \"Hi jeff\")\n\t}", `_ = Hello("jeff")`}},
			[]string{"assertions TestHello", "expectation TestHello"}},
		{"assertion replaced by a log line",
			[]edit{{"greet/greet_test.go", `t.Errorf("Hello(jeff)`, `t.Logf("Hello(jeff)`}},
			[]string{"assertions TestHello", "expectation TestHello"}},
		{"table row edited",
			[]edit{{"greet/greet_test.go", `{"ann", "HI ANN"}`, `{"ann", "HI AN"}`}},
			[]string{"expectation shoutCases"}},
		{"helper no longer asserts",
			[]edit{{"check/check.go", `tb.Errorf("got %q, want %q", got, want)`, `tb.Logf("got %q, want %q", got, want)`}},
			[]string{"assertions TestShout"}},
		{"want in a helper call changed",
			[]edit{{"greet/greet_test.go", `"hi bo"`, `"hi bob"`}},
			[]string{"expectation TestWhisper"}},
		{"comparison flipped",
			[]edit{{"greet/greet_test.go", `if !strings.HasPrefix(Hello(""), "Hi")`, `if strings.HasPrefix(Hello(""), "Hi")`}},
			[]string{"expectation TestSkipsWhenAsked"}},
		{"test added", []edit{{"greet/greet_test.go", "func TestShout(", "func TestNew(t *testing.T) {\n\tif Hello(\"x\") == \"\" {\n\t\tt.Fatal(\"empty\")\n\t}\n}\n\nfunc TestShout("}}, nil},
		{"table row added", []edit{{"greet/greet_test.go", `{"ann", "HI ANN"},`, "{\"ann\", \"HI ANN\"},\n\t{\"bo\", \"HI BO\"},"}}, nil},
		{"assertion added", []edit{{"greet/greet_test.go", "h.expect(Whisper(\"Bo\"), \"hi bo\")", "h.expect(Whisper(\"Bo\"), \"hi bo\")\n\th.expect(Whisper(\"X\"), \"hi x\")"}}, nil},
		{"message of an assertion reworded", []edit{{"greet/greet_test.go", `"no greeting for an empty name"`, `"Hello(\"\") has no greeting"`}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := scanFixture(t, tt.edits...)
			var got []string
			for _, f := range Compare(base, cur, DefaultTolerance) {
				got = append(got, f.Kind+" "+f.Test)
				if f.Package != fixturePkg {
					t.Errorf("finding in package %q, want %s: %s", f.Package, fixturePkg, f)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("findings %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMatchAny(t *testing.T) {
	const mod = "example.com/m"
	tests := []struct {
		rel      string
		patterns []string
		want     bool
	}{
		{"app", []string{"./..."}, true},
		{"", []string{"./..."}, true},
		{"", []string{"."}, true},
		{"app", []string{"./app"}, true},
		{"app/server", []string{"./app"}, false},
		{"app/server", []string{"./app/..."}, true},
		{"application", []string{"./app/..."}, false},
		{"ci/release", []string{"./app", "./ci/..."}, true},
		{"ci/release", []string{mod + "/ci/release"}, true},
		{"ci/release", []string{mod + "/..."}, true},
	}
	for _, tt := range tests {
		if got := matchAny(tt.rel, tt.patterns, mod); got != tt.want {
			t.Errorf("matchAny(%q, %q) = %v, want %v", tt.rel, tt.patterns, got, tt.want)
		}
	}
}
