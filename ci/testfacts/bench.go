package testfacts

import (
	"bufio"
	"io"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// BaselineBenchmarks are the names a package gives the benchmark its other
// benchmarks are measured against (a bare handler, a plain map): a guard
// ratio is BenchmarkX's cost over the baseline's, measured in the same run,
// so a slower machine moves both and the ratio stays.
var BaselineBenchmarks = []string{"BenchmarkBare", "BenchmarkBaseline"}

// "BenchmarkBare-2   38332   2689 ns/op   2298 cpu-ns/op   1128 B/op ..."
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// ReadBench reads `go test -bench` text output (several packages, -count
// runs each) into f.BenchRatios. The cost of one run is its cpu-ns/op
// when every run reports it (process CPU time, steadier than wall time on
// a shared machine), else ns/op; a benchmark's cost is the median of its
// runs.
func (f *Facts) ReadBench(r io.Reader) error {
	// samples[pkg][bench][unit] = values
	samples := map[string]map[string]map[string][]float64{}
	pkg := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil || pkg == "" {
			continue
		}
		fields := strings.Fields(m[2])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			if samples[pkg] == nil {
				samples[pkg] = map[string]map[string][]float64{}
			}
			if samples[pkg][m[1]] == nil {
				samples[pkg][m[1]] = map[string][]float64{}
			}
			samples[pkg][m[1]][fields[i+1]] = append(samples[pkg][m[1]][fields[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for _, p := range slices.Sorted(maps.Keys(samples)) {
		benches := samples[p]
		var base map[string][]float64
		for _, name := range BaselineBenchmarks {
			if b := benches[name]; b != nil {
				base = b
				delete(benches, name)
				break
			}
		}
		if base == nil {
			continue
		}
		for name, s := range benches {
			unit := "ns/op"
			if len(s["cpu-ns/op"]) > 0 && len(s["cpu-ns/op"]) == len(s["ns/op"]) && len(base["cpu-ns/op"]) == len(base["ns/op"]) {
				unit = "cpu-ns/op"
			}
			b, v := median(base[unit]), median(s[unit])
			if b <= 0 || v <= 0 {
				continue
			}
			if f.BenchRatios == nil {
				f.BenchRatios = map[string]float64{}
			}
			f.BenchRatios[p+"."+name] = v / b
		}
	}
	return nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
