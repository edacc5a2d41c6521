package testfacts

import (
	"bufio"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Kinds of finding: what got weaker since the baseline.
const (
	KindTestsRemoved = "tests_removed" // a package runs fewer tests
	KindSkipped      = "skipped"       // a test that passed now skips
	KindAssertions   = "assertions"    // a test function (or a package) has fewer assertions
	KindExpectation  = "expectation"   // an expected value of an existing test changed or went away
	KindCoverage     = "coverage"      // a package's statement coverage dropped by more than the tolerance
	KindBenchGuard   = "bench_guard"   // a benchmark guard ratio got worse by more than the tolerance
)

// Kinds lists every kind of finding.
func Kinds() []string {
	return []string{KindTestsRemoved, KindSkipped, KindAssertions, KindExpectation, KindCoverage, KindBenchGuard}
}

// Finding is one way the tests got weaker.
type Finding struct {
	Kind    string `json:"kind"`
	Package string `json:"package"`
	// Test is the test function, subtest or table variable concerned; ""
	// when the finding is about the package as a whole.
	Test   string `json:"test,omitempty"`
	Detail string `json:"detail"`
	// Override is the reason given in the commit message when the
	// finding was overridden; "" blocks the release.
	Override string `json:"override,omitempty"`
}

func (f Finding) String() string {
	where := f.Package
	if f.Test != "" {
		where = f.Test + " (" + f.Package + ")"
	}
	return fmt.Sprintf("%s: %s: %s", f.Kind, where, f.Detail)
}

// Tolerance of the comparison.
type Tolerance struct {
	// CoveragePoints is how many percentage points a package's coverage
	// may drop (the "more than one point").
	CoveragePoints float64
	// BenchRatio is how much a guard ratio may grow, relative (0.5: a
	// ratio of 2.0 may become at most 3.0). Benchmarks on a shared
	// machine are noisy even as ratios against a same-run baseline:
	// three runs of 5 × 200 ms of ./telemetry's benchmarks on this 2-core
	// machine at load average 12 to 16 gave ratios up to 34% apart
	// (BenchmarkInstrumentedSampled 3.83 to 5.15), so the default
	// catches a regression of more than half, not a few percent.
	BenchRatio float64
}

// DefaultTolerance is the gate's default.
var DefaultTolerance = Tolerance{CoveragePoints: 1, BenchRatio: 0.5}

// maxNames bounds how many test names one finding lists.
const maxNames = 5

// Compare lists what got weaker from base to cur, sorted by package, test
// and kind. Packages absent from cur count: their tests are gone.
func Compare(base, cur *Facts, tol Tolerance) []Finding {
	var out []Finding
	add := func(kind, pkg, test, format string, a ...any) {
		out = append(out, Finding{Kind: kind, Package: pkg, Test: test, Detail: fmt.Sprintf(format, a...)})
	}
	for _, path := range slices.Sorted(maps.Keys(base.Packages)) {
		b := base.Packages[path]
		c := cur.Packages[path]
		if c == nil {
			c = &Package{}
		}
		// Tests removed: the count drops. Renamed or dynamic subtests keep
		// the count and pass; the message names what is missing.
		if nb, nc := len(b.Tests), len(c.Tests); nc < nb {
			// One finding per test function with missing (sub)tests, so
			// an override names the function.
			missing := map[string][]string{}
			for name := range b.Tests {
				if _, ok := c.Tests[name]; !ok {
					missing[topLevel(name)] = append(missing[topLevel(name)], name)
				}
			}
			for _, fn := range slices.Sorted(maps.Keys(missing)) {
				sort.Strings(missing[fn])
				add(KindTestsRemoved, path, fn, "the package ran %d tests, %d before; missing: %s", nc, nb, names(missing[fn]))
			}
		}
		for _, name := range slices.Sorted(maps.Keys(b.Tests)) {
			if b.Tests[name] == ResultPass && c.Tests[name] == ResultSkip {
				add(KindSkipped, path, name, "passed in the baseline, skips now")
			}
		}
		for _, name := range slices.Sorted(maps.Keys(b.Functions)) {
			bf := b.Functions[name]
			cf, ok := c.Functions[name]
			if !ok {
				continue // gone: counted above through its tests, and in the package sum below
			}
			if cf.Assertions < bf.Assertions {
				add(KindAssertions, path, name, "%d assertions, %d before", cf.Assertions, bf.Assertions)
			}
			if removed, added := diff(bf.Expectations, cf.Expectations); len(removed) > 0 {
				add(KindExpectation, path, name, "expected values changed: %s", change(removed, added))
			}
		}
		if sb, sc := b.Assertions(), c.Assertions(); sc < sb {
			var gone []string
			for name, f := range b.Functions {
				if _, ok := c.Functions[name]; !ok && f.Assertions > 0 {
					gone = append(gone, name)
				}
			}
			if len(gone) > 0 {
				sort.Strings(gone)
				add(KindAssertions, path, "", "%d assertions in the package, %d before; test functions gone: %s", sc, sb, names(gone))
			}
		}
		for _, name := range slices.Sorted(maps.Keys(b.Shared)) {
			if removed, added := diff(b.Shared[name], c.Shared[name]); len(removed) > 0 {
				add(KindExpectation, path, name, "expected values in the test table changed: %s", change(removed, added))
			}
		}
		if b.Coverage != nil {
			cc := 0.0
			if c.Coverage != nil {
				cc = *c.Coverage
			}
			if *b.Coverage-cc > tol.CoveragePoints {
				add(KindCoverage, path, "", "statement coverage %.1f%%, %.1f%% before (more than %.1f points lower)", cc, *b.Coverage, tol.CoveragePoints)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(base.BenchRatios)) {
		br := base.BenchRatios[name]
		cr, ok := cur.BenchRatios[name]
		if !ok && len(cur.BenchRatios) > 0 {
			pkg, test := SplitQualified(name)
			add(KindBenchGuard, pkg, test, "guard ratio %.2f in the baseline, not measured now", br)
			continue
		}
		if ok && cr > br*(1+tol.BenchRatio) {
			pkg, test := SplitQualified(name)
			add(KindBenchGuard, pkg, test, "guard ratio %.2f, %.2f before (more than %.0f%% worse)", cr, br, tol.BenchRatio*100)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Package != out[j].Package {
			return out[i].Package < out[j].Package
		}
		return out[i].Test < out[j].Test
	})
	return out
}

// SplitQualified splits "import/path.Name" (a fuzz target or benchmark key)
// at the first dot after the last slash.
func SplitQualified(q string) (pkg, name string) {
	slash := strings.LastIndexByte(q, '/')
	dot := strings.IndexByte(q[slash+1:], '.')
	if dot < 0 {
		return q, ""
	}
	return q[:slash+1+dot], q[slash+2+dot:]
}

// diff returns the multiset differences base-cur and cur-base, sorted.
func diff(base, cur map[string]int) (removed, added []string) {
	for k, n := range base {
		for range n - cur[k] {
			removed = append(removed, k)
		}
	}
	for k, n := range cur {
		for range n - base[k] {
			added = append(added, k)
		}
	}
	sort.Strings(removed)
	sort.Strings(added)
	return removed, added
}

func change(removed, added []string) string {
	s := "was " + names(removed)
	if len(added) > 0 {
		s += ", now " + names(added)
	} else {
		s += ", now gone"
	}
	return s
}

func names(s []string) string {
	if len(s) <= maxNames {
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(s[:maxNames], ", "), len(s)-maxNames)
}

// OverrideTrailer is the commit-message trailer that lets a deliberate
// weakening through, one target per trailer:
//
//	Test-Health-Override: TestGreeting: the greeting now ends with a space (issue 42)
//
// The target is a test function or subtest ("TestGreeting",
// "TestTable/case"), a test qualified by its package
// ("github.com/obsshort/shortener/app.TestGreeting"), or a package import
// path (every finding in it: a coverage drop, a removed test file). The
// reason after the second colon is required.
const OverrideTrailer = "Test-Health-Override"

// Override is one parsed trailer.
type Override struct {
	Target string `json:"target"`
	Reason string `json:"reason"`
}

// ParseOverrides reads the override trailers of commit messages (several
// messages may be concatenated, as `git log --format=%B` prints them).
// Trailers without a target or a reason are returned in bad, with why.
func ParseOverrides(messages string) (ok []Override, bad []string) {
	sc := bufio.NewScanner(strings.NewReader(messages))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		key, value, found := strings.Cut(line, ":")
		if !found || !strings.EqualFold(strings.TrimSpace(key), OverrideTrailer) {
			continue
		}
		target, reason, _ := strings.Cut(strings.TrimSpace(value), ":")
		target, reason = strings.TrimSpace(target), strings.TrimSpace(reason)
		switch {
		case target == "" || strings.ContainsAny(target, " \t"):
			bad = append(bad, fmt.Sprintf("%q: want %s: <test or package>: <reason>", line, OverrideTrailer))
		case reason == "":
			bad = append(bad, fmt.Sprintf("%q: a reason is required after the target", line))
		default:
			ok = append(ok, Override{Target: target, Reason: reason})
		}
	}
	return ok, bad
}

// Apply marks the findings an override names; it returns how many were
// overridden.
func Apply(findings []Finding, overrides []Override) int {
	n := 0
	for i := range findings {
		f := &findings[i]
		for _, o := range overrides {
			if o.matches(*f) {
				f.Override = o.Reason
				n++
				break
			}
		}
	}
	return n
}

func (o Override) matches(f Finding) bool {
	switch {
	case o.Target == f.Package:
		return true
	case f.Test == "":
		return false
	case o.Target == f.Test, o.Target == topLevel(f.Test):
		return true
	case o.Target == f.Package+"."+f.Test, o.Target == f.Package+"."+topLevel(f.Test):
		return true
	}
	return false
}

// Blocking returns the findings no override covers.
func Blocking(findings []Finding) []Finding {
	var out []Finding
	for _, f := range findings {
		if f.Override == "" {
			out = append(out, f)
		}
	}
	return out
}
