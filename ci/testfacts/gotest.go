package testfacts

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	// ImportPath is set on build-output and build-fail events.
	ImportPath string
}

var (
	// "coverage: 85.2% of statements" (also inside the "ok" line, and
	// "... of statements in ./..." with -coverpkg).
	coverageLine = regexp.MustCompile(`coverage: ([0-9.]+)% of statements`)
	// "fuzz: elapsed: 3s, execs: 4188 (1395/sec), new interesting: ..."
	fuzzLine = regexp.MustCompile(`^fuzz: elapsed: [^,]+, execs: ([0-9]+) `)
)

// Output is the human-readable side of a `go test -json` stream.
type Output struct {
	// Text is every output line, as `go test` without -json prints it,
	// plus any line that was not JSON (the go command's own errors).
	Text string
	// Events counts the JSON events read: zero means the command did not
	// run with -json.
	Events int
	// FailedPackages lists packages that failed to build or whose tests
	// failed.
	FailedPackages []string
}

// ReadTestJSON reads a `go test -json` stream into f: test results,
// coverage and fuzz executions per package.
func (f *Facts) ReadTestJSON(r io.Reader) (Output, error) {
	var out Output
	var text strings.Builder
	failed := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil || ev.Action == "" {
			text.Write(line)
			text.WriteByte('\n')
			continue
		}
		out.Events++
		switch ev.Action {
		case "output", "build-output":
			text.WriteString(ev.Output)
			if ev.Package == "" {
				continue
			}
			if m := coverageLine.FindStringSubmatch(ev.Output); m != nil && ev.Test == "" {
				if v, err := strconv.ParseFloat(m[1], 64); err == nil {
					f.pkg(ev.Package).Coverage = &v
				}
			}
			if m := fuzzLine.FindStringSubmatch(strings.TrimSpace(ev.Output)); m != nil && ev.Test != "" {
				if n, err := strconv.ParseInt(m[1], 10, 64); err == nil {
					if f.FuzzExecutions == nil {
						f.FuzzExecutions = map[string]int64{}
					}
					key := ev.Package + "." + topLevel(ev.Test)
					// Progress lines are cumulative: keep the last, largest.
					f.FuzzExecutions[key] = max(f.FuzzExecutions[key], n)
				}
			}
		case ResultPass, ResultFail, ResultSkip:
			if ev.Package == "" {
				continue
			}
			p := f.pkg(ev.Package)
			if ev.Test != "" {
				p.Tests[ev.Test] = ev.Action
			} else if ev.Action == ResultFail {
				failed[ev.Package] = true
			}
		case "build-fail":
			// "m/a_test [m/a.test]" or "m/a.test": the package is m/a.
			if f := strings.Fields(ev.ImportPath); len(f) > 0 {
				failed[strings.TrimSuffix(strings.TrimSuffix(f[0], ".test"), "_test")] = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read go test -json output: %w", err)
	}
	for p := range failed {
		out.FailedPackages = append(out.FailedPackages, p)
	}
	sortStrings(out.FailedPackages)
	out.Text = text.String()
	return out, nil
}

// topLevel returns the test function of a (sub)test name.
func topLevel(test string) string {
	name, _, _ := strings.Cut(test, "/")
	return name
}
