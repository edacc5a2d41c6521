package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"strings"

	"github.com/obsshort/shortener/ci/release/replay"
)

// runReplayTestStage is `release replay-test-stage`: the incident replayed
// at the test stage (ci/release/replay.RunTestStage).
func runReplayTestStage(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("release replay-test-stage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs, getenv)
	var rf releaseFlags
	rf.register(fs)
	o := replay.TestStageOptions{}
	fs.Float64Var(&o.RPS, "rps", 150, "user requests per second through HAProxy, so the gate can pass the healthy releases")
	fs.StringVar(&o.Work, "work", "", "folder for the scratch clone (default: a temporary folder, removed afterwards)")
	// The scenario's own defaults: the package whose test it edits, and
	// no fuzzing, lint or benchmarks (they do not bear on the scenario
	// and would run four times); flags still override them.
	for name, v := range map[string]string{"test-packages": "./app", "fuzz-time": "0", "lint": "false", "bench-count": "0"} {
		if err := fs.Set(name, v); err != nil {
			return exitCode{3, err}
		}
	}
	if err := fs.Parse(args); err != nil {
		return exitCode{3, nil}
	}
	opt, err := rf.options("x", "", 0)
	if err != nil {
		return exitCode{3, err}
	}
	cfg, err := resolveAndLoad(&c)
	if err != nil {
		return err
	}
	o.Release = opt
	o.Packages = strings.Fields(rf.testHealth.packages)
	rep, err := replay.RunTestStage(ctx, cfg, o, stdout, stderr)
	if err != nil {
		return exitCode{3, err}
	}
	if !rep.Passed() {
		return exitCode{1, errors.New("replay-test-stage: some checks failed")}
	}
	return nil
}
