// Command benchharness runs the shortener benchmark (`make bench`) and prints
// the results table; see bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/obsshort/shortener/bench"
	"github.com/obsshort/shortener/internal/moduleroot"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "benchharness: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	cfg := bench.DefaultConfig()
	fs := flag.NewFlagSet("benchharness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.OutDir, "out", "bench/out", "folder for results.json and results.md")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of each measurement")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "closed-loop warm-up per server before the first round")
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "closed-loop rounds (median reported)")
	fs.IntVar(&cfg.SmallLinks, "links", cfg.SmallLinks, "links stored for the main runs")
	fs.IntVar(&cfg.LargeLinks, "large-links", cfg.LargeLinks, "links stored for the scale run")
	fs.IntVar(&cfg.Rate, "rate", cfg.Rate, "open-loop request rate per second for latency")
	fs.IntVar(&cfg.WrkThreads, "wrk-threads", cfg.WrkThreads, "wrk threads")
	fs.IntVar(&cfg.WrkConns, "wrk-connections", cfg.WrkConns, "wrk connections")
	fs.IntVar(&cfg.CreateClients, "create-clients", cfg.CreateClients, "concurrent clients creating links")
	fs.BoolVar(&cfg.Pin, "pin", cfg.Pin, "pin servers and load generators to different CPUs with taskset")
	fs.BoolVar(&cfg.Profile, "profile", false, "also write CPU profiles of each shortener under load to <out>/profiles")
	fs.StringVar(&cfg.Shortener, "shortener", "", "measure this prebuilt shortener binary instead of building ./app/cmd/shortener")
	fs.StringVar(&cfg.Compare, "compare", "", "also measure this shortener binary in the same rounds (before/after a change)")
	fs.StringVar(&cfg.TraceSampler, "trace-sampler", "", "experiment only: OTEL_TRACES_SAMPLER[:ARG] for the full-telemetry runs instead of the service default")
	record := fs.Bool("record", false, "add the run's row to the history table in bench/README.md")
	parts := fs.String("parts", "", "comma-separated parts to run, for work on one figure: "+strings.Join(bench.AllParts(), ", ")+" (default all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *parts != "" {
		for p := range strings.SplitSeq(*parts, ",") {
			p = strings.TrimSpace(p)
			if !slices.Contains(bench.AllParts(), p) {
				return fmt.Errorf("-parts: unknown part %q; want some of %s", p, strings.Join(bench.AllParts(), ", "))
			}
			cfg.Parts = append(cfg.Parts, p)
		}
	}
	root, err := moduleroot.Find(".")
	if err != nil {
		return err
	}
	cfg.Root = root
	if !filepath.IsAbs(cfg.OutDir) {
		cfg.OutDir = filepath.Join(root, cfg.OutDir)
	}
	cfg.Log = stderr
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, rep.Markdown())
	if *record {
		readme := filepath.Join(root, "bench", "README.md")
		if err := rep.RecordHistory(readme); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nrecorded in %s\n", readme)
	}
	fmt.Fprintf(stdout, "\nwritten: %s, %s\n", filepath.Join(cfg.OutDir, "results.json"), filepath.Join(cfg.OutDir, "results.md"))
	return nil
}
