package main

import (
	"flag"
	"strings"
	"time"

	"github.com/obsshort/shortener/ci/release"
)

// testHealthFlags are the flags of the test stage's facts and the
// test-health gate.
type testHealthFlags struct {
	packages   string
	fuzzTime   time.Duration
	lint       bool
	benchCount int
	benchTime  string
}

func (t *testHealthFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.packages, "test-packages", "./...", "space-separated go test patterns of the test stage; facts are compared with the last promoted build of the same patterns")
	fs.DurationVar(&t.fuzzTime, "fuzz-time", 2*time.Second, "test stage: run every fuzz target this long and count its executions (0: seed corpora only)")
	fs.BoolVar(&t.lint, "lint", true, "test stage: count go vet and staticcheck findings")
	fs.IntVar(&t.benchCount, "bench-count", 5, "test stage: runs of the guard benchmarks (packages with a BenchmarkBare or BenchmarkBaseline; 0: none)")
	fs.StringVar(&t.benchTime, "bench-time", "200ms", "test stage: -benchtime of each guard benchmark run")
}

func (t *testHealthFlags) options() release.TestHealthOptions {
	return release.TestHealthOptions{
		Packages: strings.Fields(t.packages),
		FuzzTime: t.fuzzTime, Lint: t.lint, BenchCount: t.benchCount, BenchTime: t.benchTime,
	}
}
