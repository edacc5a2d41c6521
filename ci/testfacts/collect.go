package testfacts

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// Config says what Collect runs.
type Config struct {
	// Root is the module's root folder.
	Root string
	// Packages are the go test patterns; default ./...
	Packages []string
	// Env is added to the environment of every command (the release
	// pipeline's recursion guard).
	Env []string
	// GoTestArgs go before the packages in `go test -json -cover ...`;
	// default -count=1.
	GoTestArgs []string
	// FuzzTime runs every fuzz target in scope this long (0: no fuzzing;
	// the seed corpora still run as tests).
	FuzzTime time.Duration
	// Lint runs go vet and staticcheck (`go tool staticcheck`) and
	// counts their findings.
	Lint bool
	// BenchTime and BenchCount run the benchmarks of the packages with a
	// baseline benchmark (0 count: none).
	BenchTime  string
	BenchCount int
	// Log gets one line per step.
	Log io.Writer
}

// Checks, as keys of Facts.CheckSeconds.
const (
	CheckGoTest      = "go_test"
	CheckSource      = "source_scan"
	CheckFuzz        = "fuzz"
	CheckVet         = "go_vet"
	CheckStaticcheck = "staticcheck"
	CheckBench       = "bench"
)

// Checks lists them in the order Collect runs them.
func Checks() []string {
	return []string{CheckGoTest, CheckSource, CheckFuzz, CheckVet, CheckStaticcheck, CheckBench}
}

// ErrTestsFailed wraps a test run that failed: the facts still hold what
// ran.
var ErrTestsFailed = errors.New("tests failed")

// Collect runs the tests (`go test -json -cover`, one run: the facts come
// from the same run that decides pass or fail) and the other checks, and
// fills f. The returned Output has the test run's text for a report. A
// failing test, fuzz target or a build error is ErrTestsFailed; a linter
// that cannot run is left out of f.Lint and said on Log.
func Collect(ctx context.Context, cfg Config, f *Facts) (Output, error) {
	if len(cfg.Packages) == 0 {
		cfg.Packages = []string{"./..."}
	}
	if cfg.GoTestArgs == nil {
		cfg.GoTestArgs = []string{"-count=1"}
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	f.Scope = cfg.Packages
	if f.CheckSeconds == nil {
		f.CheckSeconds = map[string]float64{}
	}
	timed := func(check string, fn func() error) error {
		t0 := time.Now()
		err := fn()
		f.CheckSeconds[check] = time.Since(t0).Seconds()
		status := "ok"
		if err != nil {
			status = "error: " + firstLine(err.Error())
		}
		fmt.Fprintf(cfg.Log, "    %-12s %6.1fs  %s\n", check, f.CheckSeconds[check], status)
		return err
	}

	var out Output
	err := timed(CheckGoTest, func() error {
		args := append(append([]string{"test", "-json", "-cover"}, cfg.GoTestArgs...), cfg.Packages...)
		stdout, stderr, runErr := run(ctx, cfg, args...)
		var perr error
		out, perr = f.ReadTestJSON(bytes.NewReader(stdout))
		out.Text += string(stderr)
		switch {
		case perr != nil:
			return perr
		case out.Events == 0 && runErr != nil:
			return fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), runErr, tail(out.Text, 600))
		case runErr != nil || len(out.FailedPackages) > 0:
			return fmt.Errorf("%w: %s", ErrTestsFailed, strings.Join(out.FailedPackages, ", "))
		}
		return nil
	})
	if err != nil {
		return out, err
	}

	var inv Inventory
	if err := timed(CheckSource, func() error {
		var err error
		inv, err = f.ScanSource(cfg.Root, cfg.Packages)
		return err
	}); err != nil {
		return out, err
	}

	if cfg.FuzzTime > 0 && len(inv.Fuzz) > 0 {
		if err := timed(CheckFuzz, func() error {
			for _, t := range inv.Fuzz {
				stdout, _, runErr := run(ctx, cfg, "test", "-json", "-run", "^$", "-fuzz", "^"+t.Name+"$", "-fuzztime", cfg.FuzzTime.String(), t.Dir)
				o, err := f.ReadTestJSON(bytes.NewReader(stdout))
				if err != nil {
					return err
				}
				if runErr != nil && fuzzBoundaryFlake(o.Text) {
					fmt.Fprintf(cfg.Log, "    fuzz target %s in %s: the fuzzer's -fuzztime boundary error (golang/go#51484), no failing input: counted as run\n", t.Name, t.Dir)
					runErr = nil
				}
				if runErr != nil {
					out.Text += o.Text
					return fmt.Errorf("%w: fuzz target %s in %s: %v: %s", ErrTestsFailed, t.Name, t.Dir, runErr, tail(o.Text, 600))
				}
				// A target that ran out of time before its first progress
				// line still shows, with zero executions.
				key := t.Package + "." + t.Name
				if _, ok := f.FuzzExecutions[key]; !ok {
					if f.FuzzExecutions == nil {
						f.FuzzExecutions = map[string]int64{}
					}
					f.FuzzExecutions[key] = 0
				}
			}
			return nil
		}); err != nil {
			return out, err
		}
	}

	if cfg.Lint {
		_ = timed(CheckVet, func() error {
			_, stderr, runErr := run(ctx, cfg, append([]string{"vet"}, cfg.Packages...)...)
			n, sample := countVet(stderr)
			return f.lintResult("go vet", n, sample, runErr, stderr)
		})
		_ = timed(CheckStaticcheck, func() error {
			stdout, stderr, runErr := run(ctx, cfg, append([]string{"tool", "staticcheck", "-f", "json"}, cfg.Packages...)...)
			n, sample := countStaticcheck(stdout)
			return f.lintResult("staticcheck", n, sample, runErr, stderr)
		})
	}

	if cfg.BenchCount > 0 && len(inv.BenchDirs) > 0 {
		if err := timed(CheckBench, func() error {
			bt := cfg.BenchTime
			if bt == "" {
				bt = "200ms"
			}
			args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchtime", bt, "-count", fmt.Sprint(cfg.BenchCount)}, inv.BenchDirs...)
			stdout, stderr, runErr := run(ctx, cfg, args...)
			if runErr != nil {
				return fmt.Errorf("%w: benchmarks: %v: %s", ErrTestsFailed, runErr, tail(string(stdout)+string(stderr), 600))
			}
			return f.ReadBench(bytes.NewReader(stdout))
		}); err != nil {
			return out, err
		}
	}
	return out, nil
}

// lintResult records a linter's count. A linter exits non-zero when it
// finds something; non-zero with nothing parsed means it did not run.
func (f *Facts) lintResult(linter string, n int, sample []string, runErr error, stderr []byte) error {
	if runErr != nil && n == 0 {
		return fmt.Errorf("%s did not run: %v: %s", linter, runErr, tail(string(stderr), 300))
	}
	if f.Lint == nil {
		f.Lint = map[string]int{}
	}
	f.Lint[linter] = n
	for _, s := range sample {
		if len(f.LintSample) < 10 {
			f.LintSample = append(f.LintSample, linter+": "+s)
		}
	}
	return nil
}

// "app/link.go:12:3: message" (go vet prints "# pkg" headers between).
var vetFinding = regexp.MustCompile(`^[^\s#][^:]*\.go:\d+(:\d+)?: `)

func countVet(out []byte) (int, []string) {
	n := 0
	var sample []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if vetFinding.MatchString(sc.Text()) {
			n++
			if len(sample) < 5 {
				sample = append(sample, sc.Text())
			}
		}
	}
	return n, sample
}

// countStaticcheck counts `staticcheck -f json` lines (one object each).
func countStaticcheck(out []byte) (int, []string) {
	n := 0
	var sample []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var d struct {
			Code     string `json:"code"`
			Message  string `json:"message"`
			Location struct {
				File string `json:"file"`
				Line int    `json:"line"`
			} `json:"location"`
		}
		if json.Unmarshal(sc.Bytes(), &d) != nil || d.Code == "" {
			continue
		}
		n++
		if len(sample) < 5 {
			sample = append(sample, fmt.Sprintf("%s:%d: %s (%s)", d.Location.File, d.Location.Line, d.Message, d.Code))
		}
	}
	return n, sample
}

// run runs `go args...` in the module root; a non-zero exit is returned as
// the error with both outputs.
func run(ctx context.Context, cfg Config, args ...string) (stdout, stderr []byte, err error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = cfg.Root
	cmd.Env = append(os.Environ(), cfg.Env...)
	// A test binary's child that keeps the pipes open must not hold the
	// stage once go test itself was killed.
	cmd.WaitDelay = 10 * time.Second
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

// fuzzBoundaryFlake reports whether the output of a failed fuzz run is the
// Go fuzzer's own error at the end of -fuzztime (golang/go#51484: "context
// deadline exceeded" with a non-zero exit though nothing failed), not a
// finding: a finding always writes its failing input, and a failing seed
// reports its own "--- FAIL" line for the seed's subtest.
func fuzzBoundaryFlake(out string) bool {
	for _, finding := range []string{"Failing input written to", "panic:", "failure while testing seed corpus entry", "    --- FAIL: "} {
		if strings.Contains(out, finding) {
			return false
		}
	}
	return strings.Contains(out, "context deadline exceeded")
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
