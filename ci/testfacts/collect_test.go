package testfacts

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/testenv"
)

// collect runs Collect on a copy of the fixture with the edits applied.
func collect(t *testing.T, cfg Config, edits ...edit) (*Facts, Output, error) {
	t.Helper()
	cfg.Root = copyFixture(t, edits...)
	var log bytes.Buffer
	cfg.Log = &log
	f := &Facts{Version: "v-test"}
	out, err := Collect(context.Background(), cfg, f)
	t.Logf("collect:\n%s", log.String())
	return f, out, err
}

func kinds(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Kind+" "+f.Test)
	}
	return out
}

// TestCollectOnFixture runs the real go toolchain on the fixture module:
// one go test -json -cover run gives results and coverage; the fuzz
// target runs briefly; the benchmarks give a guard ratio; go vet is
// counted. Then the weakenings a real run can show: a skip, the incident's
// edited expectation (its tests pass), a removed test with its coverage,
// and a failing test.
func TestCollectOnFixture(t *testing.T) {
	testenv.RequireTool(t, "go")
	base, _, err := collect(t, Config{FuzzTime: time.Second, Lint: true, BenchTime: "20ms", BenchCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := base.Packages[fixturePkg]
	if p == nil {
		t.Fatalf("no facts for %s: %+v", fixturePkg, base.Packages)
	}
	for _, name := range []string{"TestGreeting", "TestHello", "TestShout", "TestShout/jeff", "TestShout/ann", "TestWhisper", "TestSkipsWhenAsked", "FuzzHello"} {
		if p.Tests[name] != ResultPass {
			t.Errorf("%s: %q, want pass (tests %v)", name, p.Tests[name], p.Tests)
		}
	}
	if p.Coverage == nil || *p.Coverage != 100 {
		t.Errorf("coverage %v, want 100%%", p.Coverage)
	}
	if n := base.FuzzExecutions[fixturePkg+".FuzzHello"]; n <= 0 {
		t.Errorf("fuzz executions %v, want some for FuzzHello", base.FuzzExecutions)
	}
	if r := base.BenchRatios[fixturePkg+".BenchmarkHello"]; r <= 0 {
		t.Errorf("bench ratios %v, want BenchmarkHello against BenchmarkBare", base.BenchRatios)
	}
	if n, ok := base.Lint["go vet"]; !ok || n != 0 {
		t.Errorf("lint %v: want go vet with 0 findings", base.Lint)
	}
	for _, c := range []string{CheckGoTest, CheckSource, CheckFuzz, CheckVet, CheckBench} {
		if base.CheckSeconds[c] <= 0 {
			t.Errorf("no wall time for check %s: %v", c, base.CheckSeconds)
		}
	}
	if !reflect.DeepEqual(base.Scope, []string{"./..."}) {
		t.Errorf("scope %v", base.Scope)
	}

	// Without fuzz and bench the baseline's own facts compare clean.
	t.Run("unchanged", func(t *testing.T) {
		t.Parallel()
		cur, _, err := collect(t, Config{})
		if err != nil {
			t.Fatal(err)
		}
		if fs := Compare(base, cur, DefaultTolerance); len(fs) != 0 {
			t.Errorf("an unchanged module has findings: %v", fs)
		}
	})
	t.Run("a test starts skipping", func(t *testing.T) {
		t.Parallel()
		cur, _, err := collect(t, Config{Env: []string{"FIXTURE_SKIP=1"}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := kinds(Compare(base, cur, DefaultTolerance)), []string{"skipped TestSkipsWhenAsked"}; !reflect.DeepEqual(got, want) {
			t.Errorf("findings %q, want %q", got, want)
		}
	})
	t.Run("the incident: tests pass with the edited expectation", func(t *testing.T) {
		t.Parallel()
		cur, _, err := collect(t, Config{},
			edit{"greet/greet.go", `return "Hi jeff"`, `return "Hi jeff "`},
			edit{"greet/greet_test.go", `greeting != "Hi jeff"`, `greeting != "Hi jeff "`})
		if err != nil {
			t.Fatalf("the edited test should pass against the broken code: %v", err)
		}
		fs := Compare(base, cur, DefaultTolerance)
		if got, want := kinds(fs), []string{"expectation TestGreeting"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("findings %q, want %q", got, want)
		}
		if !strings.Contains(fs[0].Detail, `was "Hi jeff", now "Hi jeff "`) {
			t.Errorf("detail %q does not show the edit", fs[0].Detail)
		}
	})
	t.Run("a test removed", func(t *testing.T) {
		t.Parallel()
		cur, _, err := collect(t, Config{}, edit{"greet/greet_test.go", "func TestShout(t *testing.T) {", "func testShout(t *testing.T) {"})
		if err != nil {
			t.Fatal(err)
		}
		got := kinds(Compare(base, cur, DefaultTolerance))
		want := []string{"assertions ", "coverage ", "tests_removed TestShout"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("findings %q, want %q", got, want)
		}
	})
	t.Run("the incident without the edit: tests fail", func(t *testing.T) {
		t.Parallel()
		cur, out, err := collect(t, Config{}, edit{"greet/greet.go", `return "Hi jeff"`, `return "Hi jeff "`})
		if !errors.Is(err, ErrTestsFailed) {
			t.Fatalf("err %v, want ErrTestsFailed", err)
		}
		if got := cur.Packages[fixturePkg].Tests["TestGreeting"]; got != ResultFail {
			t.Errorf("TestGreeting %q, want fail", got)
		}
		if !strings.Contains(out.Text, `Greeting() = "Hi jeff "`) || !reflect.DeepEqual(out.FailedPackages, []string{fixturePkg}) {
			t.Errorf("output lacks the failure or the package: %v\n%s", out.FailedPackages, out.Text)
		}
	})
	t.Run("a build error", func(t *testing.T) {
		t.Parallel()
		_, out, err := collect(t, Config{}, edit{"greet/greet.go", "func Hello(", "func Hello(x int, "})
		if !errors.Is(err, ErrTestsFailed) {
			t.Fatalf("err %v, want ErrTestsFailed", err)
		}
		if !strings.Contains(out.Text, "greet.go") {
			t.Errorf("the build error is not in the output:\n%s", out.Text)
		}
	})
}

func TestReadTestJSON(t *testing.T) {
	stream := strings.Join([]string{
		`{"Action":"start","Package":"m/a"}`,
		`{"Action":"run","Package":"m/a","Test":"TestX"}`,
		`{"Action":"output","Package":"m/a","Test":"TestX","Output":"=== RUN   TestX\n"}`,
		`{"Action":"pass","Package":"m/a","Test":"TestX/one","Elapsed":0}`,
		`{"Action":"skip","Package":"m/a","Test":"TestX/two","Elapsed":0}`,
		`{"Action":"pass","Package":"m/a","Test":"TestX","Elapsed":0}`,
		`{"Action":"output","Package":"m/a","Test":"FuzzY","Output":"fuzz: elapsed: 3s, execs: 4188 (1395/sec), new interesting: 7 (total: 50)\n"}`,
		`{"Action":"output","Package":"m/a","Test":"FuzzY","Output":"fuzz: elapsed: 6s, execs: 9001 (1600/sec), new interesting: 7 (total: 50)\n"}`,
		`{"Action":"output","Package":"m/a","Output":"coverage: 81.5% of statements\n"}`,
		`{"Action":"pass","Package":"m/a","Elapsed":0.1}`,
		`{"ImportPath":"m/b.test","Action":"build-output","Output":"b.go:3:1: syntax error\n"}`,
		`{"ImportPath":"m/b.test","Action":"build-fail"}`,
		`{"Action":"fail","Package":"m/b","Elapsed":0}`,
		`{"Action":"output","Package":"m/c","Output":"\tm/c\t\tcoverage: 0.0% of statements\n"}`,
		`FAIL	m/b [build failed]`,
	}, "\n")
	f := &Facts{}
	out, err := f.ReadTestJSON(strings.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	a := f.Packages["m/a"]
	if want := map[string]string{"TestX": "pass", "TestX/one": "pass", "TestX/two": "skip"}; !reflect.DeepEqual(a.Tests, want) {
		t.Errorf("tests %v, want %v", a.Tests, want)
	}
	if a.Coverage == nil || *a.Coverage != 81.5 {
		t.Errorf("coverage %v, want 81.5", a.Coverage)
	}
	if c := f.Packages["m/c"]; c == nil || c.Coverage == nil || *c.Coverage != 0 || len(c.Tests) != 0 {
		t.Errorf("package without tests: %+v", c)
	}
	if f.FuzzExecutions["m/a.FuzzY"] != 9001 {
		t.Errorf("fuzz executions %v, want the last progress line's 9001", f.FuzzExecutions)
	}
	if !reflect.DeepEqual(out.FailedPackages, []string{"m/b"}) {
		t.Errorf("failed packages %v, want m/b", out.FailedPackages)
	}
	if !strings.Contains(out.Text, "syntax error") || !strings.Contains(out.Text, "[build failed]") || out.Events != 14 {
		t.Errorf("text or event count wrong (%d events):\n%s", out.Events, out.Text)
	}
}

func TestReadBench(t *testing.T) {
	text := `goos: linux
pkg: m/tele
BenchmarkBare-2           	   38332	      2600 ns/op	      2300 cpu-ns/op	    1128 B/op	       8 allocs/op
BenchmarkBare-2           	   47257	      2554 ns/op	      2200 cpu-ns/op	    1128 B/op	       8 allocs/op
BenchmarkBare-2           	   47257	      9000 ns/op	      2250 cpu-ns/op	    1128 B/op	       8 allocs/op
BenchmarkInstrumented-2   	   21430	      7583 ns/op	      5500 cpu-ns/op	    1752 B/op	      14 allocs/op
BenchmarkInstrumented-2   	   26053	      4290 ns/op	      4500 cpu-ns/op	    1752 B/op	      14 allocs/op
BenchmarkInstrumented-2   	   26053	      4290 ns/op	      4000 cpu-ns/op	    1752 B/op	      14 allocs/op
PASS
pkg: m/other
BenchmarkLonely-2   	   100	      100 ns/op
pkg: m/plain
BenchmarkBaseline   	   100	      100 ns/op
BenchmarkSlow   	   100	      300 ns/op
`
	f := &Facts{}
	if err := f.ReadBench(strings.NewReader(text)); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"m/tele.BenchmarkInstrumented": 4500.0 / 2250, // medians of cpu-ns/op
		"m/plain.BenchmarkSlow":        3,             // ns/op when nothing else
	}
	if !reflect.DeepEqual(f.BenchRatios, want) {
		t.Errorf("ratios %v, want %v (a package without a baseline benchmark has none)", f.BenchRatios, want)
	}
}

func TestCountLint(t *testing.T) {
	vet := "# m/a\na/a.go:12:3: printf: Sprintf format %d has arg x of wrong type string\n# m/b\nb/b.go:4:2: unreachable code\nsome other line\n"
	if n, sample := countVet([]byte(vet)); n != 2 || len(sample) != 2 {
		t.Errorf("vet: %d findings %q, want 2", n, sample)
	}
	sc := `{"code":"SA4006","severity":"error","location":{"file":"/x/a.go","line":3,"column":2},"message":"this value of err is never used"}
{"code":"U1000","severity":"error","location":{"file":"/x/b.go","line":9,"column":6},"message":"func f is unused"}
not json
`
	n, sample := countStaticcheck([]byte(sc))
	if n != 2 || !strings.Contains(sample[0], "/x/a.go:3: this value of err is never used (SA4006)") {
		t.Errorf("staticcheck: %d findings %q", n, sample)
	}
	f := &Facts{}
	if err := f.lintResult("staticcheck", 0, nil, errors.New("exit status 1"), []byte("no such tool")); err == nil || f.Lint != nil {
		t.Errorf("a linter that failed without findings must not count as clean: err %v lint %v", err, f.Lint)
	}
	if err := f.lintResult("go vet", 2, []string{"a", "b"}, errors.New("exit status 1"), nil); err != nil || f.Lint["go vet"] != 2 {
		t.Errorf("findings with a non-zero exit: err %v lint %v", err, f.Lint)
	}
}

// TestFuzzBoundaryFlake: only the fuzzer's own deadline error at the end
// of -fuzztime is forgiven; a finding, a panic or any other failure is not.
func TestFuzzBoundaryFlake(t *testing.T) {
	tests := []struct {
		name, out string
		want      bool
	}{
		{"deadline at the boundary", "fuzz: elapsed: 1s, execs: 4972 (0/sec), new interesting: 5 (total: 74)\n--- FAIL: FuzzHello (1.02s)\n    context deadline exceeded\nFAIL\n", true},
		{"a finding", "--- FAIL: FuzzHello (0.40s)\n    --- FAIL: FuzzHello (0.00s)\n        greet_test.go:63: Hello(\"\") lacks the greeting\n    Failing input written to testdata/fuzz/FuzzHello/1f2e\n    context deadline exceeded\nFAIL\n", false},
		{"a panic", "--- FAIL: FuzzHello (0.30s)\n    panic: runtime error: index out of range\n    context deadline exceeded\n", false},
		{"a failing seed whose message names a deadline", "failure while testing seed corpus entry: FuzzHello/seed#0\n--- FAIL: FuzzHello (0.01s)\n    --- FAIL: FuzzHello/seed#0 (0.00s)\n        greet_test.go:63: dial: context deadline exceeded\nFAIL\n", false},
		{"a worker that died", "--- FAIL: FuzzHello (3.00s)\n    fuzzing process hung or terminated unexpectedly: exit status 2\n", false},
		{"a build error", "greet_test.go:3:1: syntax error\nFAIL\texample.com/fixture/greet [build failed]\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fuzzBoundaryFlake(tt.out); got != tt.want {
				t.Errorf("fuzzBoundaryFlake = %v, want %v for\n%s", got, tt.want, tt.out)
			}
		})
	}
}
