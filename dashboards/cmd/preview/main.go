// Command preview renders the dashboards without a Grafana (`make
// dashboards-preview`): every panel of every dashboard is evaluated against
// a running stack's Prometheus and drawn in one HTML page per dashboard, in
// the dashboard's grid; headless Chromium then opens each page, checks that
// every panel shows a chart with data, and saves a screenshot.
//
//	preview [-state .state/stack | -prometheus URL] [-out .state/preview] [-range 30m] [-png]
//
// Exit 0 when every panel shows data, 1 when one does not (each is named),
// 2 on a usage or setup error.
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
	"time"

	"github.com/obsshort/shortener/ci/stack"
	"github.com/obsshort/shortener/dashboards"
	"github.com/obsshort/shortener/dashboards/preview"
	"github.com/obsshort/shortener/internal/launch"
	"github.com/obsshort/shortener/internal/moduleroot"
	"github.com/obsshort/shortener/internal/promclient"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	var ue usageError
	switch {
	case err == nil:
	case errors.As(err, &ue):
		if ue.err != nil {
			fmt.Fprintln(os.Stderr, "preview:", ue.err)
		}
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "preview:", err)
		os.Exit(1)
	}
}

type usageError struct{ err error }

func (u usageError) Error() string {
	if u.err == nil {
		return "usage"
	}
	return u.err.Error()
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	defState := getenv("RELEASE_STATE_DIR")
	if defState == "" {
		defState = filepath.Join(".state", "stack")
	}
	var (
		state    = fs.String("state", defState, "state folder of the local stack whose Prometheus to read (env RELEASE_STATE_DIR)")
		promURL  = fs.String("prometheus", getenv("PROMETHEUS_URL"), "Prometheus base URL instead of the stack's (env PROMETHEUS_URL)")
		out      = fs.String("out", filepath.Join(".state", "preview"), "folder for the HTML pages and screenshots")
		rng      = fs.Duration("range", 30*time.Minute, "time range of every panel, ending now")
		job      = fs.String("job", "shortener", "value of the $job variable (a regular expression)")
		instance = fs.String("instance", ".*", "value of the $instance variable")
		track    = fs.String("track", ".*", "value of the $track variable")
		only     = fs.String("dashboards", "", "comma-separated file names to render (default: all)")
		png      = fs.Bool("png", true, "save a screenshot of each page beside it")
		chromium = fs.String("chromium", "chromium", "Chromium to open the pages with")
	)
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{}
	}
	root, err := moduleroot.Find(".")
	if err != nil {
		return usageError{err}
	}
	if *promURL == "" {
		dir := *state
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(root, dir)
		}
		cfg, err := stack.LoadConfig(dir)
		if err != nil {
			return usageError{fmt.Errorf("no stack in %s (%v): run `make stack`, or pass -prometheus", dir, err)}
		}
		*promURL = cfg.PrometheusURL()
	}
	pc, err := promclient.New(*promURL, promclient.Options{Retries: 2})
	if err != nil {
		return usageError{err}
	}
	defer pc.Close()
	if err := pc.Ready(ctx); err != nil {
		return usageError{err}
	}
	bin, err := launch.LookTool(*chromium)
	if err != nil {
		return usageError{err}
	}
	outDir := *out
	if !filepath.IsAbs(outDir) {
		outDir = filepath.Join(root, outDir)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return usageError{err}
	}
	ds, err := dashboards.Load()
	if err != nil {
		return err
	}
	profile, err := os.MkdirTemp("", "preview-chromium-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(profile)
	browser, err := preview.NewBrowser(ctx, bin, profile)
	if err != nil {
		return usageError{err}
	}
	defer browser.Close()

	cfg := preview.Config{Prometheus: pc, Range: *rng, Substitute: dashboards.Substitute,
		Vars: map[string]string{"job": *job, "instance": *instance, "track": *track}}
	var bad []string
	for _, d := range ds {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), d.File) {
			continue
		}
		title, _ := d.Raw["title"].(string)
		page, err := preview.Evaluate(ctx, cfg, preview.Source{File: d.File, Title: title, Panels: d.Panels()})
		if err != nil {
			return err
		}
		base := filepath.Join(outDir, strings.TrimSuffix(d.File, ".json"))
		if err := page.WriteFile(base + ".html"); err != nil {
			return err
		}
		shot := ""
		if *png {
			shot = base + ".png"
		}
		seen, err := browser.Inspect(ctx, base+".html", shot)
		if err != nil {
			return err
		}
		n := 0
		for _, s := range seen {
			if s.OK() {
				n++
				continue
			}
			why := s.Shown
			if why == "" {
				why = "nothing drawn"
			}
			bad = append(bad, fmt.Sprintf("%s: %q: %s", d.File, s.Title, why))
		}
		fmt.Fprintf(stdout, "%-14s %d of %d panels show data  %s.html", d.File, n, len(seen), base)
		if shot != "" {
			fmt.Fprintf(stdout, "  %s", shot)
		}
		fmt.Fprintln(stdout)
	}
	if len(bad) > 0 {
		for _, b := range bad {
			fmt.Fprintln(stderr, "  no data:", b)
		}
		return fmt.Errorf("%d panels show no data or an error", len(bad))
	}
	return nil
}
